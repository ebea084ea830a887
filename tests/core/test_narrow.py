"""Products run on the calling thread rather than on OpenBLAS's threads (rnnkit.core.narrow,
``rnnkit.core.paths.small_product``), and dW_hh's one product with its correction."""
import numpy as np
import pytest

from rnnkit.core import gemm, narrow, paths
from rnnkit.core.weight_grads import _recurrent_weight_grad

SHAPES = [(1, 1, 1), (7, 5, 3), (33, 64, 1), (50, 257, 15), (4, 0, 2), (0, 6, 2)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("R,K,N", SHAPES)
def test_times_narrow_equals_the_float64_product(R, K, N, dtype):
    rng = np.random.default_rng(R + K + N)
    a = rng.standard_normal((R, 2 * K))[:, ::2].astype(dtype)  # strided rows: copied
    w = rng.standard_normal((K, N)).astype(dtype)
    got = narrow.times_narrow(a, w)
    assert got.shape == (R, N) and got.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, a.astype(np.float64) @ w, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("K,M,N", SHAPES + [(9, 40, 4), (4, 3, 1)])
def test_transposed_times_narrow_equals_the_float64_product(K, M, N, dtype):
    """a^T b over K rows: four rows at a time and the K % 4 left over."""
    rng = np.random.default_rng(K * M + N)
    a = rng.standard_normal((K, M)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    got = narrow.transposed_times_narrow(a, b)
    assert got.shape == (M, N) and got.dtype == dtype and got.flags.c_contiguous
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, a.T.astype(np.float64) @ b, rtol=tol, atol=tol)


def test_small_products_are_those_openblas_would_split_below_the_tiles_floor():
    assert paths.small_product(1600, 256, 1)  # dx = dG W_ih of one input feature: a gemv
    assert paths.small_product(1, 1600, 256)  # a row times a matrix
    assert paths.small_product(256, 32, 64)  # dW_hh's correction at (32, 50, 1, 64)
    assert not paths.small_product(32, 128, 5)  # a head: OpenBLAS keeps it on one thread
    assert not paths.small_product(40, 200, 1)  # a gemv under 2304 * 4
    assert not paths.small_product(64, 64, 63)  # under 65536 * 4 multiply-adds
    assert paths.small_product(64, 64, 64)
    assert not paths.small_product(6400, 2048, 256)  # large: the threads pay for themselves


@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("M,K,N,path", [(256, 32, 64, "tile"), (1600, 256, 1, "narrow"),
                                        (300, 100, 15, "narrow"), (32, 128, 5, "blas")])
def test_dot_runs_small_products_on_this_thread(M, K, N, path, a_transposed, monkeypatch):
    """Off the tile's rule, a product OpenBLAS would split goes to the tile on one shard, or
    for fewer than PRODUCT_MIN_COLS columns to rnnkit.core.narrow; the rest to NumPy."""
    rng = np.random.default_rng(M)
    a = rng.standard_normal((K, M) if a_transposed else (M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    monkeypatch.setattr(paths, "products_on_tile", lambda *s: False)
    taken = []
    original = gemm.matmul
    monkeypatch.setattr(gemm, "matmul", lambda *x, **k: taken.append(("tile", k.get("shards")))
                        or original(*x, **k))
    for name in ("times_narrow", "transposed_times_narrow"):
        f = getattr(narrow, name)
        monkeypatch.setattr(narrow, name, lambda *x, f=f: taken.append(("narrow", None)) or f(*x))
    got = gemm.dot(a, b, a_transposed=a_transposed)
    want = (a.T if a_transposed else a).astype(np.float64) @ b
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert taken == {"tile": [("tile", 1)], "narrow": [("narrow", None)], "blas": []}[path]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("B,T", [(1, 1), (3, 1), (1, 5), (4, 6)])
def test_recurrent_weight_grad_pairs_each_step_with_its_predecessor(B, T, dtype):
    """sum over b, t of dg[b, t]^T h_{t-1}[b], h_{-1} = h0: the product over the flat rows and
    its correction, against the sum written out."""
    rng = np.random.default_rng(B * T)
    dg = rng.standard_normal((B, T, 12)).astype(dtype)
    y = rng.standard_normal((B, T, 3)).astype(dtype)
    h0 = rng.standard_normal((B, 3)).astype(dtype)
    previous = np.concatenate([h0[:, None], y[:, :-1]], axis=1)  # (B, T, 3) h_{t-1}
    want = np.einsum("btg,bth->gh", dg.astype(np.float64), previous)
    got = _recurrent_weight_grad(dg, y, h0)
    assert got.shape == (12, 3) and got.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_recurrent_weight_grad_of_one_step_from_zero_is_exactly_zero():
    """T = 1 from h0 = 0: every step is a first step, which sees no W_hh (torch's gradient is
    exactly 0, and an LSTM with proj_size is checked against it to 1e-10 relative)."""
    rng = np.random.default_rng(0)
    for B, GH, H in [(3, 8, 2), (300, 256, 4)]:  # the second: products on rnnkit.core.narrow
        got = _recurrent_weight_grad(rng.standard_normal((B, 1, GH)),
                                     rng.standard_normal((B, 1, H)), np.zeros((B, H)))
        assert not got.any()
