"""The numba product of the time loops, ``rnnkit.core.gemm.matmul_rows``, against NumPy's."""
import numpy as np
import pytest

pytest.importorskip("numba")
from numba import njit  # noqa: E402

from rnnkit.core import gemm  # noqa: E402


@njit
def _matmul_rows(a, lo, b, out):
    gemm.matmul_rows(a, lo, b, out)  # inline="always": callable from numba only


# (rows of a, lo, M, K, N): remainders of the 4-row and 4-k blocks, one row, more than one
# panel of columns, and a shard starting inside a
@pytest.mark.parametrize("rows,lo,M,K,N", [(1, 0, 1, 1, 1), (7, 0, 7, 5, 9), (9, 3, 6, 8, 16),
                                           (13, 2, 11, 37, gemm.PANEL + 37), (6, 1, 5, 21, 30),
                                           (8, 4, 4, 128, 512)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matmul_rows_matches_numpy(rows, lo, M, K, N, dtype):
    rng = np.random.default_rng(K * N)
    a = rng.standard_normal((rows, K)).astype(dtype)  # (rows, K)
    b = rng.standard_normal((K, N)).astype(dtype)  # (K, N)
    out = np.full((M, N), np.nan, dtype)  # (M, N): every entry must be written
    _matmul_rows(a, lo, b, out)
    ref = a[lo : lo + M].astype(np.float64) @ b.astype(np.float64)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, ref, rtol=0, atol=tol * max(1.0, np.abs(ref).max()))
