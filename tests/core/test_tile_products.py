"""The products outside the time loops on the register tile (``rnnkit.core.gemm.matmul`` and
``dot``), where NumPy's BLAS runs narrower vectors (``rnnkit.core.paths.products_on_tile``):
the blocked product against float64 NumPy, the rule, and whole layers whose products all take
the tile, against finite differences and against the same layers on NumPy's BLAS."""
import numpy as np
import pytest
from core.test_gradcheck import directional_check, make_problem

import rnnkit
from rnnkit.core import blas, gemm, kernels, paths


def reference(a, b, a_transposed):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return a64.T @ b64 if a_transposed else a64 @ b64


def assert_product(got, a, b, a_transposed):
    want = reference(a, b, a_transposed)
    assert got.shape == want.shape and got.dtype == b.dtype and got.flags.c_contiguous
    K = b.shape[0]
    tol = 8 * np.finfo(b.dtype).eps * K * np.abs(a).max() * np.abs(b).max()
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of K and of rows small enough that these shapes take several, the last partial."""
    monkeypatch.setattr(gemm, "K_BLOCK", 24)
    monkeypatch.setattr(gemm, "M_BLOCK", 20)


@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("shards", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (13, 7, 33), (61, 50, 70), (45, 97, 200),
                                   (12, 24, 64)])
def test_matmul_equals_the_float64_product(M, K, N, dtype, shards, a_transposed,
                                           small_blocks, monkeypatch):
    """Every row tile (12, 8, 4, 2, 1 rows), several blocks of K (setting, then adding) and of
    rows, a last panel partly in the result or not at all, split over 1-3 cores by panels or
    by rows."""
    rng = np.random.default_rng(M * K * N)
    a = rng.standard_normal((K, M) if a_transposed else (M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    splits = []
    original = gemm.run_sharded
    monkeypatch.setattr(gemm, "run_sharded", lambda f, args, n, s: splits.append(
        (f, n, s)) or original(f, args, n, s))
    got = gemm.matmul(a, b, a_transposed=a_transposed, shards=shards)
    assert_product(got, a, b, a_transposed)
    P = -(-N // gemm.panel_width(dtype))
    by_panels = gemm.splits_panels(P, M, shards)
    products = [(n, s) for f, n, s in splits if f is gemm._blocked_product]
    assert products == [(P, min(shards, P)) if by_panels else (M, min(shards, M))]


@pytest.mark.parametrize("P,M,n,by_panels", [
    (24, 2048, 2, True),  # (64,100,256,512)'s joined weight gradient: 12 panels a core
    (8, 512, 2, True),
    (9, 1024, 2, False),  # textgen's: 5 panels against 4, one core waits a fifth of the time
    (33, 3200, 2, False),  # 17 against 16.5 panels, 1.03; the rows split within 1.005
    (9, 1024, 3, True),  # 3 panels a core
    (3, 3200, 2, False),  # fewer than two panels a core
    (9, 12, 2, True),  # one tile of rows: a core would get all of it
])
def test_cores_split_the_panels_where_they_split_evenly(P, M, n, by_panels):
    """The cores split a product's panels, or its rows where the panels are fewer than two a
    core or split less evenly than the rows in whole tiles."""
    assert gemm.splits_panels(P, M, n) is by_panels


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matmul_reads_b_as_a_transposed_view(dtype, small_blocks):
    """b = W^T as a view (the input projection's W_ih^T): the same product."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 30)).astype(dtype)  # (R, I)
    w = rng.standard_normal((70, 30)).astype(dtype)  # (G*H, I)
    assert_product(gemm.matmul(x, w.T), x, w.T, False)


def test_matmul_both_splits_are_the_same_sums(small_blocks):
    """By panels and by rows, each output element is the same sum over K in the same order:
    the same bits, whatever the cores."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((90, 75)).astype(np.float32)
    b = rng.standard_normal((75, 130)).astype(np.float32)
    results = [gemm.matmul(a, b, shards=s) for s in (1, 2, 3, 5)]  # P = 5: panels, then rows
    for got in results[1:]:
        np.testing.assert_array_equal(got, results[0])


def test_matmul_rejects_mismatched_shapes_and_dtypes():
    a, b = np.ones((4, 8), np.float32), np.ones((9, 16), np.float32)
    with pytest.raises(ValueError, match=r"shapes \(4, 8\) and \(9, 16\)"):
        gemm.matmul(a, b)
    with pytest.raises(ValueError, match="shapes"):
        gemm.matmul(a, b, a_transposed=True)
    with pytest.raises(TypeError, match="not float32 and float64"):
        gemm.matmul(a, np.ones((8, 16)))
    with pytest.raises(TypeError, match="not int64 and int64"):
        gemm.matmul(np.ones((4, 8), np.int64), np.ones((8, 16), np.int64))


def test_times_packed_takes_panels_made_elsewhere_and_checks_them():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((40, 9)), rng.standard_normal((9, 21))  # a partial last panel
    bp = gemm.pack(b)
    np.testing.assert_allclose(gemm.times_packed(a, bp, 21), a @ b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gemm.times_packed(a.T.copy(), bp, 21, a_transposed=True), a @ b,
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"\(N = 40\) do not match"):
        gemm.times_packed(a, bp, 40)  # more columns than the panels hold
    with pytest.raises(ValueError, match="do not match"):
        gemm.times_packed(a[:, :8], bp, 21)
    with pytest.raises(TypeError, match="a is float32, the panels float64"):
        gemm.times_packed(a.astype(np.float32), bp, 21)


@pytest.mark.parametrize("K", [5, 16, 17, 40])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pack_of_rows_in_blocks(K, dtype):
    """b with contiguous rows, K over several blocks of PACK_K_BLOCK rows (the last partial)
    and full panels of NR columns, as ``matmul`` packs dG: panel p holds columns p*NR.."""
    NR = gemm.panel_width(dtype)
    b = np.arange(K * (3 * NR)).reshape(K, 3 * NR).astype(dtype)
    bp = gemm.pack(b)
    for p in range(3):
        np.testing.assert_array_equal(bp[p], b[:, p * NR : (p + 1) * NR])


@pytest.mark.parametrize("on_tile", [True, False])
def test_dot_takes_the_path_the_rule_gives(on_tile, monkeypatch):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((40, 30)).astype(np.float32)
    b = rng.standard_normal((40, 20)).astype(np.float32)
    asked, tiled = [], []
    monkeypatch.setattr(paths, "products_on_tile", lambda *s: asked.append(s) or on_tile)
    original = gemm.matmul
    monkeypatch.setattr(gemm, "matmul", lambda *a, **k: tiled.append(1) or original(*a, **k))
    assert_product(gemm.dot(a, b, a_transposed=True), a, b, True)
    assert_product(gemm.dot(a.T.copy(), b), a.T, b, False)
    assert asked == [(30, 40, 20)] * 2 and len(tiled) == (2 if on_tile else 0)
    # dtypes that differ, or integers, go to NumPy whatever the rule
    tiled.clear()
    assert gemm.dot(a.T.copy(), b.astype(np.float64)).dtype == np.float64
    assert gemm.dot(np.ones((2, 3), int), np.ones((3, 2), int)).dtype.kind == "i"
    assert not tiled


def test_products_go_to_the_tile_only_where_the_blas_is_narrower(monkeypatch):
    monkeypatch.setattr(paths, "blas_is_narrower", lambda: True)
    assert paths.products_on_tile(6400, 256, 2048)
    assert paths.products_on_tile(paths.PRODUCT_MIN_ROWS, 1 << 12, paths.PRODUCT_MIN_COLS)
    assert not paths.products_on_tile(paths.PRODUCT_MIN_ROWS - 1, 1 << 20, 1 << 10)  # few rows
    assert paths.products_on_tile(6400, 2048, paths.PRODUCT_MIN_COLS)
    assert not paths.products_on_tile(6400, 2048, 1)  # dx of one input feature: a gemv
    assert not paths.products_on_tile(64, 64, 64)  # small
    monkeypatch.setattr(paths, "blas_is_narrower", lambda: False)
    assert not paths.products_on_tile(6400, 256, 2048)


@pytest.mark.parametrize("arch,vector_bytes,narrower", [
    ("Haswell", 64, True), ("Zen", 64, True), ("SkylakeX", 64, False),
    ("COOPERLAKE", 64, False), ("SapphireRapids", 64, False), ("Haswell", 32, False),
    (None, 64, False)])
def test_the_blas_is_narrower_on_an_avx2_core_type_beside_the_tiles_avx512(
        arch, vector_bytes, narrower, monkeypatch):
    monkeypatch.setattr(paths, "blas_architecture", lambda: arch)
    monkeypatch.setattr(paths, "VECTOR_BYTES", vector_bytes)
    paths.blas_is_narrower.cache_clear()
    try:
        assert paths.blas_is_narrower() is narrower
    finally:
        paths.blas_is_narrower.cache_clear()


def test_blas_architecture_is_what_threadpoolctl_reports():
    from threadpoolctl import threadpool_info

    archs = [i.get("architecture") for i in threadpool_info() if i["internal_api"] == "openblas"]
    assert blas.blas_architecture() == (archs[0] if archs else None)


def outside_the_loops(monkeypatch):
    """The input projection and dx as products before and after the loops (as for weights
    larger than L2), dx not on ``times_weight``'s own tile path, two cores."""
    monkeypatch.setattr(kernels, "_projects_in_loop", lambda *shape: False)
    monkeypatch.setattr(kernels, "_input_grad_on_tile", lambda *shape: False)
    monkeypatch.setattr(gemm, "cores", lambda: 2)


def counted_products(monkeypatch):
    """The (a_transposed,) of each product on the tile from now on: ``gemm.times_packed``,
    which ``gemm.matmul`` calls after packing b, and the joined weight gradients with the
    panels they write themselves (``weight_grads.join_packed``)."""
    calls = []
    original = gemm.times_packed
    monkeypatch.setattr(gemm, "times_packed", lambda a, bp, N, a_transposed=False, **k:
                        calls.append(a_transposed) or original(a, bp, N,
                                                               a_transposed=a_transposed, **k))
    return calls


@pytest.fixture(params=["tile", "blas"])
def products(request, monkeypatch):
    """Every product outside the time loops on the tile, or on NumPy's BLAS."""
    on_tile = request.param == "tile"
    outside_the_loops(monkeypatch)
    monkeypatch.setattr(paths, "products_on_tile", lambda *shape: on_tile)
    monkeypatch.setattr(paths, "small_product", lambda *shape: False)
    return counted_products(monkeypatch), on_tile


@pytest.mark.parametrize("kind,num_layers,bidirectional,I", [
    ("lstm", 1, False, 3), ("lstm", 2, True, 5), ("gru", 2, True, 3), ("gru", 1, False, 1),
    ("rnn", 2, False, 6)])
def test_layers_on_the_tile_match_finite_differences(kind, num_layers, bidirectional, I,
                                                     products):
    """float64, with lengths and initial states: the joined dW (I <= H), dW_ih and dW_hh
    apart (I > H, GRU), the projection and dx, all on the tile."""
    calls, on_tile = products
    problem = make_problem(kind, num_layers, bidirectional, True, True, "numba", I=I, H=4)
    directional_check(*problem)
    # projections and dx (a @ b), weight gradients (a^T b), or none of them on the tile
    assert (set(calls) == {False, True}) if on_tile else not calls


VARIANTS = [dict(), dict(bidirectional=True, num_layers=2), dict(recurrent_dropout=0.3),
            dict(bias=False), dict(layer_norm=True), dict(proj_size=3)]


@pytest.mark.parametrize("kind,options", [
    (kind, options) for kind in ("rnn", "lstm", "gru") for options in VARIANTS
    if (kind == "lstm" or "proj_size" not in options)
    and (kind != "rnn" or "layer_norm" not in options)],
    ids=lambda v: v if isinstance(v, str) else ",".join(v) or "plain")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layers_on_the_tile_and_on_blas_agree(kind, options, dtype, monkeypatch):
    """Outputs, dx and every gradient, with padding, through all the products a layer makes
    outside its loops (I = 3 joined, I = 9 apart): the tile's sums equal NumPy's to rounding."""
    rng = np.random.default_rng(2)
    lengths = np.array([7, 2, 5, 1])
    outside_the_loops(monkeypatch)
    calls = counted_products(monkeypatch)
    for I in (3, 9):
        x = rng.standard_normal((4, 7, I)).astype(dtype)
        results = []
        for on_tile in (True, False):
            monkeypatch.setattr(paths, "products_on_tile", lambda *s, t=on_tile: t)
            monkeypatch.setattr(paths, "small_product", lambda *s: False)
            layer = getattr(rnnkit, kind.upper())(I, 8, dtype=dtype, seed=0, **options)
            y, _ = layer.forward(x, lengths=lengths)
            dx, _ = layer.backward(np.cos(y))
            results.append({"y": y, "dx": dx, **{k: v.copy() for k, v in layer.grads.items()}})
            assert (set(calls) == {False, True}) if on_tile else not calls
            calls.clear()
        tol = 1e-12 if dtype == np.float64 else 2e-5
        for name, got in results[0].items():
            np.testing.assert_allclose(got, results[1][name], rtol=tol, atol=tol,
                                       err_msg=f"{name}, I = {I}")


@pytest.mark.parametrize("leading", [(5,), (3, 4)])
def test_linear_on_the_tile_and_on_blas_agree(leading, monkeypatch):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((*leading, 7))
    results = []
    calls = counted_products(monkeypatch)
    for on_tile in (True, False):
        monkeypatch.setattr(paths, "products_on_tile", lambda *s, t=on_tile: t)
        layer = rnnkit.nn.Linear(7, 33, dtype=np.float64, seed=0)
        y = layer.forward(x)
        dx = layer.backward(np.sin(y))
        results.append((y, dx, layer.grads["weight"].copy(), layer.grads["bias"].copy()))
    assert sorted(calls) == [False, False, True]  # y, dx; dW
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("shapes", [
    ((64, 1024), (256, 512)),  # 256 + 512 KB... the second alone is split by pack
    ((64, 1024), (64, 1024)),  # 256 KB each: one on each core
    ((5, 40), (7, 3))])  # small: both on this thread
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pack_pair_packs_as_pack_does(shapes, dtype, monkeypatch):
    monkeypatch.setattr(gemm, "cores", lambda: 2)
    rng = np.random.default_rng(1)
    b1, b2 = (rng.standard_normal(s[::-1]).astype(dtype).T for s in shapes)  # views, as W^T
    for got, b in zip(gemm.pack_pair(b1, b2), (b1, b2)):
        np.testing.assert_array_equal(got, gemm.pack(b))
    with pytest.raises(TypeError, match="float32 or float64"):
        gemm.pack_pair(b1, b2.astype(int))
