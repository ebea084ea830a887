"""A small matrix product in numba for the recurrent product inside the time loops.

``matmul_rows(a, lo, b, out)`` computes ``out = a[lo : lo + M] @ b`` for out (M, N), the
per-step product h_{t-1} W_hh^T (or dG_t W_hh) of one shard of the batch. It runs inside the
numba time loops (``rnnkit.core.kernels``), where calling OpenBLAS is not possible, and from
several threads at once, where it would not be safe (OpenBLAS and BLIS serialise or corrupt
concurrent calls, issue 12).

The kernel is register-blocked for LLVM's loop vectoriser rather than with explicit SIMD:
4 rows of ``out`` and 8 k-steps per pass over a panel of columns, so that each vector of out
is loaded and stored once for 32 fused multiply-adds, and the panel of ``b`` (K x NB) stays
in the L2 cache while every row block of the shard passes over it. 8 k-steps were 20-30%
faster than 4 (measured single-threaded at 69-73 GFLOP/s against 52-62 for 4, under load) on
the 2-core AVX-512 EPYC where OpenBLAS's sgemm reaches 55-85 at these shapes
((8-64) x (128-512) x (512-2048)); see benchmarks/README.md.
"""
from __future__ import annotations

from numba import njit

_FASTMATH = {"contract", "arcp", "nsz"}  # as the kernels'; no reassoc: sums run in k order
PANEL = 512  # columns of b per pass (NB): K x 512 float32 is 256 KB at K = 128, 1 MB at 512


@njit(inline="always", fastmath=_FASTMATH, error_model="numpy")
def _rows_times_panel(a, lo, b, out, n0, n1):
    """out[:, n0:n1] = a[lo : lo + M] @ b[:, n0:n1], with M = len(out)."""
    M, K, N = out.shape[0], a.shape[1], n1 - n0
    m = 0
    while m + 4 <= M:  # 4 rows at a time, 8 k at a time: one load and store of out per 32 FMAs
        # slices starting at n0, indexed from 0: a loop from n0 keeps numba's negative-index
        # check in the loop, and LLVM then does not vectorise it
        o0, o1, o2, o3 = out[m, n0:n1], out[m + 1, n0:n1], out[m + 2, n0:n1], out[m + 3, n0:n1]
        r = lo + m  # the row of a
        for n in range(N):
            o0[n] = 0
            o1[n] = 0
            o2[n] = 0
            o3[n] = 0
        k = 0
        while k + 8 <= K:
            b0, b1, b2, b3 = b[k, n0:n1], b[k + 1, n0:n1], b[k + 2, n0:n1], b[k + 3, n0:n1]
            b4, b5, b6, b7 = b[k + 4, n0:n1], b[k + 5, n0:n1], b[k + 6, n0:n1], b[k + 7, n0:n1]
            # a's 32 entries as scalars before the loop over n (slices of a read inside it
            # are reloaded there: out might alias them)
            a00, a01, a02, a03 = a[r, k], a[r, k + 1], a[r, k + 2], a[r, k + 3]
            a04, a05, a06, a07 = a[r, k + 4], a[r, k + 5], a[r, k + 6], a[r, k + 7]
            a10, a11, a12, a13 = a[r + 1, k], a[r + 1, k + 1], a[r + 1, k + 2], a[r + 1, k + 3]
            a14, a15, a16, a17 = a[r + 1, k + 4], a[r + 1, k + 5], a[r + 1, k + 6], a[r + 1, k + 7]
            a20, a21, a22, a23 = a[r + 2, k], a[r + 2, k + 1], a[r + 2, k + 2], a[r + 2, k + 3]
            a24, a25, a26, a27 = a[r + 2, k + 4], a[r + 2, k + 5], a[r + 2, k + 6], a[r + 2, k + 7]
            a30, a31, a32, a33 = a[r + 3, k], a[r + 3, k + 1], a[r + 3, k + 2], a[r + 3, k + 3]
            a34, a35, a36, a37 = a[r + 3, k + 4], a[r + 3, k + 5], a[r + 3, k + 6], a[r + 3, k + 7]
            for n in range(N):
                x0, x1, x2, x3 = b0[n], b1[n], b2[n], b3[n]
                x4, x5, x6, x7 = b4[n], b5[n], b6[n], b7[n]
                o0[n] += (a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
                          + (a04 * x4 + a05 * x5 + a06 * x6 + a07 * x7))
                o1[n] += (a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
                          + (a14 * x4 + a15 * x5 + a16 * x6 + a17 * x7))
                o2[n] += (a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
                          + (a24 * x4 + a25 * x5 + a26 * x6 + a27 * x7))
                o3[n] += (a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3
                          + (a34 * x4 + a35 * x5 + a36 * x6 + a37 * x7))
            k += 8
        while k < K:  # the last K % 8 steps
            bk = b[k, n0:n1]
            for i in range(4):
                ai, oi = a[r + i, k], out[m + i, n0:n1]
                for n in range(N):
                    oi[n] += ai * bk[n]
            k += 1
        m += 4
    while m < M:  # the last M % 4 rows, one at a time
        om = out[m, n0:n1]
        for n in range(N):
            om[n] = 0
        for k in range(K):
            am, bk = a[lo + m, k], b[k, n0:n1]
            for n in range(N):
                om[n] += am * bk[n]
        m += 1


# not inlined into the time loops at numba's IR level (inline="always" there tripled their
# compile time, 137 s against 43 s cold for every kernel); a call per step costs nanoseconds
@njit(fastmath=_FASTMATH, error_model="numpy", cache=True, nogil=True)
def matmul_rows(a, lo, b, out):
    """out = a[lo : lo + M] @ b for out (M, N), a (>= lo + M, K), b (K, N), C-contiguous rows."""
    N = b.shape[1]
    for n0 in range(0, N, PANEL):
        _rows_times_panel(a, lo, b, out, n0, min(n0 + PANEL, N))
