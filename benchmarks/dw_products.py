"""A weight gradient with the time loops' register-tiled product, against OpenBLAS.

    python benchmarks/dw_products.py                       # mid, textgen's and the big shape
    python benchmarks/dw_products.py --shapes 6400,128,512 --kc 256

dW^T (M, N) = a^T b summed over K rows: for dW_hh, a = h_{t-1} (K = B*T, M = H) and
b = dG (K, N = G*H). Here a is read in place by columns (``gemm._make_tile(a_columns=True)``)
and b packed as panels (P, K, NR), the layout a backward loop could write dG in as it goes
(not done: rnnkit's loops write dG batch-first, and OpenBLAS computes dW from it). K runs in
blocks of --kc rows (the first block's tiles set, the others add: ``accumulate=True``), so
that a block of a stays in L2 and a panel's slice in L1; the panels are split between the
threads. Against OpenBLAS's ``b.T @ a`` on its threads (what rnnkit runs now), and the
packing of b alone (what a loop writing dG that way would save). Medians of --repeat
runs, the three interleaved (``rnnkit.cli.bench_timing``).
"""
from __future__ import annotations

import argparse

import numpy as np
from numba import njit

from rnnkit.cli.bench_timing import interleaved
from rnnkit.core import gemm
from rnnkit.core.threads import cores, run_sharded

MR = gemm.MR
# (set, accumulate) tiles reading a by columns, for MR, 8 and 4 rows
_SET = {r: gemm._make_tile(r, a_columns=True) for r in (MR, 8, 4)}
_ADD = {r: gemm._make_tile(r, a_columns=True, accumulate=True) for r in (MR, 8, 4)}
_S12, _S8, _S4 = _SET[MR], _SET[8], _SET[4]
_A12, _A8, _A4 = _ADD[MR], _ADD[8], _ADD[4]


@njit(inline="always", fastmath={"contract", "arcp", "nsz"}, nogil=True)
def _rows(a, a_off, lda, bp, b_off, kc, out, c_off, ldc, M, first):
    m = 0
    while m + MR <= M:
        if first:
            _S12(a, a_off + m, lda, bp, b_off, kc, out, c_off + m * ldc, ldc)
        else:
            _A12(a, a_off + m, lda, bp, b_off, kc, out, c_off + m * ldc, ldc)
        m += MR
    if M - m >= 8:
        if first:
            _S8(a, a_off + m, lda, bp, b_off, kc, out, c_off + m * ldc, ldc)
        else:
            _A8(a, a_off + m, lda, bp, b_off, kc, out, c_off + m * ldc, ldc)
        m += 8
    if M - m >= 4:
        if first:
            _S4(a, a_off + m, lda, bp, b_off, kc, out, c_off + m * ldc, ldc)
        else:
            _A4(a, a_off + m, lda, bp, b_off, kc, out, c_off + m * ldc, ldc)


@njit(fastmath={"contract", "arcp", "nsz"}, nogil=True)
def blocked_at_b(a, bp, out, kc_max, p_lo, p_hi):
    """out[:, panels p_lo..p_hi-1] = a^T b for a (K, M) (M a multiple of 4), bp = pack(b)
    (P, K, NR), out (M, P*NR)."""
    K, M = a.shape
    NR = bp.shape[2]
    ldc = out.shape[1]
    for k0 in range(0, K, kc_max):
        kc = min(kc_max, K - k0)
        for p in range(p_lo, p_hi):
            _rows(a, k0 * M, M, bp, p * K * NR + k0 * NR, kc, out, p * NR, ldc, M, k0 == 0)


def ours(a, bp, out, kc, shards):
    P = bp.shape[0]

    def part(lo, hi, sync):
        blocked_at_b(a, bp, out, kc, lo, hi)

    run_sharded(part, (), P, shards)
    return out


def measure(K, M, N, kc, repeat):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((K, M)).astype(np.float32)  # (K, M) h_{t-1}, time-major rows
    b = rng.standard_normal((K, N)).astype(np.float32)  # (K, N) dG
    bp = gemm.pack(b)  # (P, K, NR)
    out = np.empty((M, bp.shape[0] * bp.shape[2]), np.float32)
    shards = max(1, min(cores(), bp.shape[0]))
    got = ours(a, bp, out, kc, shards)[:, :N]
    ref = a.T.astype(np.float64) @ b.astype(np.float64)
    err = float(np.abs(got - ref).max() / np.abs(ref).max())
    if err > 1e-5:
        raise AssertionError(f"the blocked product is wrong: relative error {err:.2e}")
    flop = 2.0 * K * M * N
    t_ours, t_blas, t_pack = (float(np.median(t)) for t in interleaved(
        [lambda: ours(a, bp, out, kc, shards), lambda: b.T @ a, lambda: gemm.pack(b)],
        repeat, warmup=2, absorb=0.0))
    return (f"| ({K}, {M}, {N}) | {kc} | {shards} | {flop / t_ours / 1e9:.0f} | "
            f"{flop / t_blas / 1e9:.0f} | {1e3 * t_ours:.2f} / {1e3 * t_blas:.2f} | "
            f"{1e3 * t_pack:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="6400,128,512;3200,256,1024;6400,512,2048",
                        help="K,M,N separated by ';' (K = B*T, M = H, N = G*H)")
    parser.add_argument("--kc", default="256", help="K block sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print("| (K, M, N) | K block | threads | tile GFLOP/s | OpenBLAS GFLOP/s | "
          "tile / OpenBLAS ms | packing b ms |\n|---|---|---|---|---|---|---|", flush=True)
    for shape in args.shapes.split(";"):
        K, M, N = (int(v) for v in shape.split(","))
        for kc in (int(v) for v in args.kc.split(",")):
            print(measure(K, M, N, kc, args.repeat), flush=True)


if __name__ == "__main__":
    main()
