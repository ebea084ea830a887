"""Products with a few columns, in numba on the calling thread, not on OpenBLAS's threads.

OpenBLAS splits a matrix-vector product over its threads from m * n = 9216 up, and a matrix
product from M * K * N = 262144 up; its worker then busy-waits ~0.4 ms for the next call
(``rnnkit.core.blas``) on the core that the next time loop's second shard needs. In an LSTM
training step at (B, T, I, H) = (32, 50, 1, 64), the backward's input gradient dG W_ih
(1600 x 256 by 256 x 1) and the correction of dW_hh (256 x 32 by 32 x 64) were such calls:
the next forward's second shard then finished 0.35 ms after the first, a quarter of the step
(1.29 ms, against 0.96 with OpenBLAS on one thread; benchmarks/README.md, session 19).
``rnnkit.core.gemm.dot`` therefore runs a product OpenBLAS would split but that is too small
for the tile on all the cores on this thread: on the tile (one shard), or here for fewer
columns than half a panel, where the tile would compute mostly padding:

* ``times_narrow(a, w)``: a @ w for w (K, N): N dot products per row of a, summed in vectors
  ('reassoc'): the input gradient dG W_ih of a narrow input;
* ``transposed_times_narrow(a, b)``: a^T b for b (K, N): the sum over the rows k of the outer
  products b[k]^T a[k], added along a's rows: the weight gradient dG^T x of a narrow input.

Each is one pass over a, level with OpenBLAS's threads alone (dx (1600, 256, 1) 16-20 against
18-19 us, dW_ih 19 against 18 us) and without their cost to the next loop.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from rnnkit.core.jit_math import _FASTMATH
from rnnkit.core.jit_math import _JIT as _KERNEL_JIT

# the kernels' settings, with 'reassoc' so that LLVM sums in vectors
_JIT = dict(_KERNEL_JIT, nogil=True, fastmath=_FASTMATH | {"reassoc"})


@njit(**_JIT)
def _times_narrow(a, w_t, out):
    """out[r, n] = a[r] . w_t[n] for a (R, K), w_t (N, K) and out (R, N), rows contiguous."""
    R, K = a.shape
    N = w_t.shape[0]
    zero = out.dtype.type(0)
    for r in range(R):
        row = a[r]
        for n in range(N):
            col, s = w_t[n], zero
            for k in range(K):
                s += row[k] * col[k]
            out[r, n] = s


def times_narrow(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """a @ w for a (R, K) and w (K, N) of one float dtype, N a few columns: (R, N), summed in
    another order than BLAS's, so equal to it to rounding."""
    out = np.empty((a.shape[0], w.shape[1]), a.dtype)  # (R, N)
    _times_narrow(np.ascontiguousarray(a), np.ascontiguousarray(w.T), out)
    return out


@njit(**_JIT)
def _add_outer_sums(b, a, out):
    """out[n] += b[k, n] * a[k] for every row k: out (N, M) += b^T a, for b (K, N), a (K, M).
    Four rows of a at a time, so that each pass over out[n] (a load and a store per vector,
    which the next pass waits for) carries four multiply-adds."""
    K, N = b.shape
    M = a.shape[1]
    K4 = K - K % 4
    for n in range(N):
        dst = out[n]
        for k in range(0, K4, 4):
            a0, a1, a2, a3 = a[k], a[k + 1], a[k + 2], a[k + 3]
            v0, v1, v2, v3 = b[k, n], b[k + 1, n], b[k + 2, n], b[k + 3, n]
            for m in range(M):
                dst[m] += v0 * a0[m] + v1 * a1[m] + v2 * a2[m] + v3 * a3[m]
        for k in range(K4, K):
            row, v = a[k], b[k, n]
            for m in range(M):
                dst[m] += v * row[m]


def transposed_times_narrow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a^T b for a (K, M) and b (K, N) of one float dtype, N a few columns: (M, N)."""
    out = np.zeros((b.shape[1], a.shape[1]), a.dtype)  # (N, M) = b^T a
    _add_outer_sums(b, np.ascontiguousarray(a), out)
    return np.ascontiguousarray(out.T)  # (M, N)
