"""The loop's register-tiled product (``rnnkit.core.gemm``) by tile shape, against OpenBLAS.

    python benchmarks/gemm_tiles.py                      # the kept tile and three others
    python benchmarks/gemm_tiles.py --tiles 12x2x64,6x2x32 --shapes 24,128,512

For each tile (rows x vectors x vector bytes: 12x2x64 is 12 rows by two 512-bit vectors,
32 float32 columns) and each (M, K, N), float32, the product of M rows by a packed (K, N)
panel set, as the time loops run it per step on one shard, on one thread; OpenBLAS limited
to one thread on the same product (threadpoolctl). Best of 5 runs of ~2 GFLOP each, in
GFLOP/s. M is rounded down to a multiple of the tile's rows, N up to its columns.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

from rnnkit.core import gemm


def _product(tile, rows, nr):
    """A numba function running ``tile`` over every (row block, panel) of a @ b, reps times."""
    @njit(fastmath={"contract", "arcp", "nsz"}, error_model="numpy", nogil=True)
    def run(a, bp, out, reps):
        M, K = a.shape
        N = out.shape[1]
        for _ in range(reps):
            for p in range(bp.shape[0]):
                for m in range(0, M, rows):
                    tile(a, m * K, K, bp, p * K * nr, K, out, m * N + p * nr, N)
    return run


def _pack(b, nr):
    K, N = b.shape
    return np.ascontiguousarray(b.reshape(K, N // nr, nr).transpose(1, 0, 2))  # (P, K, nr)


def _best(fn, flops):
    fn()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return flops / min(times) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiles", default="12x2x64,8x2x64,6x4x64,6x2x32")
    parser.add_argument("--shapes", default="24,128,512;48,256,1024;24,512,2048;24,512,512")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| (M, K, N) | " + " | ".join(args.tiles.split(",")) + " | OpenBLAS 1 thread |")
    print("|---" * (len(args.tiles.split(",")) + 2) + "|")
    for shape in args.shapes.split(";"):
        M0, K, N0 = (int(v) for v in shape.split(","))
        cells = []
        for spec in args.tiles.split(","):
            rows, nv, vbytes = (int(v) for v in spec.split("x"))
            nr = nv * vbytes // 4
            M, N = max(rows, M0 // rows * rows), -(-N0 // nr) * nr
            a = rng.standard_normal((M, K)).astype(np.float32)  # (M, K)
            b = rng.standard_normal((K, N)).astype(np.float32)  # (K, N)
            out = np.empty((M, N), np.float32)  # (M, N)
            run = _product(gemm._make_tile(rows, nv, vbytes), rows, nr)
            bp = _pack(b, nr)
            run(a, bp, out, 1)
            np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-3)
            reps = max(1, int(2e9 / (2 * M * K * N)))
            cells.append(_best(lambda: run(a, bp, out, reps), 2.0 * M * K * N * reps))
        a = rng.standard_normal((M0, K)).astype(np.float32)
        b = rng.standard_normal((K, N0)).astype(np.float32)
        out = np.empty((M0, N0), np.float32)
        reps = max(1, int(2e9 / (2 * M0 * K * N0)))
        with threadpool_limits(1):
            cells.append(_best(lambda: [np.matmul(a, b, out=out) for _ in range(reps)],
                               2.0 * M0 * K * N0 * reps))
        print(f"| ({M0}, {K}, {N0}) | " + " | ".join(f"{c:.0f}" for c in cells) + " |",
              flush=True)


if __name__ == "__main__":
    main()
