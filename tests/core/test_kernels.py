"""The numba kernels against the NumPy reference: every output and gradient, both code paths.

``rnnkit.core.kernels`` runs small shapes as one fused numba loop, larger ones up to a batch of
``SHARDED_MAX_BATCH`` as that loop with the batch split over the threads, and the rest as BLAS
calls plus numba step kernels; each test runs the three paths by moving those thresholds.
Float64 must agree to 1e-12, float32 (which uses a rational tanh) to 2e-5, both
relative to max(1, |reference|).
"""
import os

import numpy as np
import pytest

import rnnkit

numba = pytest.importorskip("numba")
from rnnkit.core import kernels, paths, scan, step_kernels
from rnnkit.core.backends import get_backend  # noqa: E402
from rnnkit.core.cells import CELLS

LAYERS = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}
KINDS = [("rnn", "tanh"), ("rnn", "relu"), ("rnn", "sigmoid"), ("lstm", None), ("gru", None)]
# (B, T, I, H, input scale): T = 1, B = 1, a general shape, saturated gates (x * 50), and
# inputs wide enough for the loops to compute dx themselves (I >= half a panel)
SHAPES = [(1, 1, 2, 3, 1.0), (3, 6, 4, 5, 1.0), (2, 5, 3, 4, 50.0), (2, 4, 17, 5, 1.0)]


def _layer(kind, nl, backend, dtype, **kw):
    extra = {"nonlinearity": nl} if nl else {}
    return LAYERS[kind](kw.pop("I"), kw.pop("H"), dtype=dtype, seed=1, backend=backend,
                        **extra, **kw)


def _run(kind, nl, backend, dtype, shape, num_layers, bidirectional, masked, bias=True):
    """Forward and backward with random state, lengths, dy and dstate; everything returned."""
    B, T, I, H, scale = shape
    layer = _layer(kind, nl, backend, dtype, I=I, H=H, num_layers=num_layers,
                   bidirectional=bidirectional, bias=bias)
    rng = np.random.default_rng(B * 100 + T)
    n = num_layers * (2 if bidirectional else 1)
    x = (scale * rng.standard_normal((B, T, I))).astype(dtype)  # (B, T, I)
    h0 = rng.standard_normal((n, B, H)).astype(dtype)  # (L*D, B, H)
    state = (h0, rng.standard_normal((n, B, H)).astype(dtype)) if kind == "lstm" else h0
    lengths = None
    if masked:
        lengths = rng.integers(1, T + 1, B)
        lengths[0] = max(T - 1, 1)  # at least one padded sequence when T > 1
    y, st = layer.forward(x, state, lengths=lengths)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dst = tuple(rng.standard_normal(s.shape).astype(dtype) for s in st) if kind == "lstm" \
        else rng.standard_normal(st.shape).astype(dtype)
    dx, dst0 = layer.backward(dy, dst)
    out = {"y": y, "dx": dx}
    for i, a in enumerate(st if kind == "lstm" else (st,)):
        out[f"state_n[{i}]"] = a
    for i, a in enumerate(dst0 if kind == "lstm" else (dst0,)):
        out[f"dstate0[{i}]"] = a
    out.update({"d" + k: v for k, v in layer.grads.items()})
    return out


def _assert_same(got, ref, dtype, input_scale=1.0):
    # float32 at saturation: 1 - y^2 with y within an ulp of 1 is off by ~1e-7 in any float32
    # implementation, and dW_ih = sum dgx x^T multiplies that by the input scale
    tol = 1e-12 if dtype == np.float64 else 2e-5 * input_scale
    assert got.keys() == ref.keys()
    for name in ref:
        assert got[name].dtype == ref[name].dtype, name
        scale = max(1.0, float(np.abs(ref[name]).max()))
        np.testing.assert_allclose(got[name], ref[name], rtol=0, atol=tol * scale, err_msg=name)


@pytest.fixture(params=["fused", "blas", "sharded", "sharded-gx", "sharded-tile-dx"])
def path(request, monkeypatch):
    """Run the whole test with one kernel path: the numba loop on one thread, BLAS + step
    kernels, or the numba loop with the batch split over 2 threads (one row each at B = 2);
    the loops project each step's inputs themselves at these sizes, but "sharded-gx", which
    takes them from one product before the loop, as for weights larger than L2, and computes
    dx = dG W_ih after it with NumPy, and "sharded-tile-dx", which does so on the register
    tile (``kernels.times_weight``), as for large products."""
    sharded = request.param.startswith("sharded")
    monkeypatch.setattr(paths, "FUSED_MAX_MACS", 1 << 40 if request.param == "fused" else 0)
    monkeypatch.setattr(paths, "SHARDED_MAX_BATCH", 1 << 40 if sharded else 0)
    if sharded:
        monkeypatch.setattr(paths, "cores", lambda: 2)
    if request.param in ("sharded-gx", "sharded-tile-dx"):
        monkeypatch.setattr(kernels, "_projects_in_loop", lambda *shape: False)
        tile = request.param == "sharded-tile-dx"
        monkeypatch.setattr(kernels, "_input_grad_on_tile", lambda *shape: tile)
        monkeypatch.setattr(paths, "products_on_tile", lambda *shape: False)
        monkeypatch.setattr(kernels, "_cores", lambda: 2)
    return request.param


def test_the_loops_project_the_inputs_where_the_weights_fit_in_l2(monkeypatch):
    """scan_forward given x and W_ih: the numba loop computes x_t W_ih^T per step while
    (I + H) * G*H weights fit in L2, one product before the loop past that and on the BLAS
    path; the same results either way, and as from gx given."""
    B, T, I, H = 4, 6, 17, 8  # I wide enough for dx in the loop
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)  # (B, T, I)
    w_ih = rng.standard_normal((4 * H, I)).astype(np.float32)  # (G*H, I)
    w_hh = rng.standard_normal((4 * H, H)).astype(np.float32)  # (G*H, H)
    c0 = np.zeros((2, B, H), np.float32)
    dy = rng.standard_normal((B, T, H)).astype(np.float32)  # (B, T, H)
    products = []
    original = kernels.input_projection
    monkeypatch.setattr(kernels, "input_projection",
                        lambda *a: products.append(1) or original(*a))
    want = kernels.scan_forward("lstm", (x.reshape(B * T, I) @ w_ih.T).reshape(B, T, -1), c0,
                                w_hh).y
    assert paths.projects_in_loop(I, H, 4, 4)
    assert not paths.projects_in_loop(I, paths.l2_bytes(), 4, 4)
    monkeypatch.setattr(paths, "PROJECT_IN_LOOP_BYTES", 0)  # the L2's size alone decides
    monkeypatch.setattr(paths, "l3_share_bytes", lambda: 0)
    for l2, fused, sharded, product in [(1 << 20, 1 << 40, 0, False), (1 << 20, 0, 256, False),
                                        (0, 0, 256, True), (1 << 20, 0, 0, True)]:
        monkeypatch.setattr(paths, "l2_bytes", lambda l2=l2: l2)
        monkeypatch.setattr(paths, "FUSED_MAX_MACS", fused)
        monkeypatch.setattr(paths, "SHARDED_MAX_BATCH", sharded)
        products.clear()
        sc = kernels.scan_forward("lstm", None, c0, w_hh, x=x, w_ih=w_ih)
        assert bool(products) == product, (l2, fused, sharded)
        np.testing.assert_allclose(sc.y, want, rtol=0, atol=1e-6)
        dgx, _, _, dx = kernels.scan_backward(sc, dy, c0, w_hh, w_ih)  # dx in the loop or not
        np.testing.assert_allclose(dx, (dgx.reshape(B * T, -1) @ w_ih).reshape(B, T, I),
                                   rtol=0, atol=1e-5)
    ref = scan.scan_forward("lstm", None, c0, w_hh, x=x, w_ih=w_ih)  # the NumPy reference
    np.testing.assert_allclose(ref.y, want, rtol=0, atol=1e-6)
    dgx, _, _, dx = scan.scan_backward(ref, dy, c0, w_hh, w_ih)
    np.testing.assert_allclose(dx, (dgx.reshape(B * T, -1) @ w_ih).reshape(B, T, I), atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("on_tile", [True, False])
def test_times_weight_matches_numpy_on_the_tile_and_off_it(monkeypatch, dtype, on_tile):
    """dx = dG W_ih after the loop, on the register tile (rows over 2 shards, a last partial
    panel) or NumPy's BLAS, as ``paths.input_grad_on_tile`` says; the same product."""
    monkeypatch.setattr(kernels, "_input_grad_on_tile", lambda *shape: on_tile)
    monkeypatch.setattr(kernels, "_cores", lambda: 2)
    calls = []
    original = kernels._rows_times_packed
    monkeypatch.setattr(kernels, "_rows_times_packed",
                        lambda *a: calls.append(a[-3:-1]) or original(*a))
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2 * 12 + 7, 3 * 32 + 5)).astype(dtype)  # (R, K)
    w = rng.standard_normal((3 * 32 + 5, 70)).astype(dtype)  # (K, N)
    got = kernels.times_weight(a, w)
    assert calls == ([(0, 15), (15, 31)] if on_tile else [])  # the shards' rows
    ref = a.astype(np.float64) @ w.astype(np.float64)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert got.shape == ref.shape and got.dtype == dtype
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol * np.abs(ref).max())


def test_the_loop_projects_where_the_weights_fit_in_l2_or_l3_or_take_up_to_2_mb(monkeypatch):
    monkeypatch.setattr(paths, "l2_bytes", lambda: 1 << 20)  # the EPYC's
    monkeypatch.setattr(paths, "l3_share_bytes", lambda: 0)  # no L3 listed
    assert paths.projects_in_loop(64, 256, 4, 4)  # 1.25 MB: in the loop, from L3
    assert paths.projects_in_loop(256, 256, 4, 4)  # 2 MB
    assert not paths.projects_in_loop(256, 512, 4, 4)  # 6 MB: one product first
    assert not paths.projects_in_loop(64, 256, 4, 8)  # float64: 2.5 MB
    monkeypatch.setattr(paths, "l3_share_bytes", lambda: 16 << 20)  # the EPYC's 32 MB / 2
    assert paths.projects_in_loop(256, 512, 4, 4)  # 6 MB
    assert paths.projects_in_loop(1024, 512, 4, 4)  # 12.6 MB
    assert not paths.projects_in_loop(2048, 512, 4, 4)  # 21 MB: past the share
    monkeypatch.setattr(paths, "l3_share_bytes", lambda: 0)
    monkeypatch.setattr(paths, "l2_bytes", lambda: 4 << 20)  # a larger L2 than 2 MB counts
    assert paths.projects_in_loop(256, 256, 4, 8)


def test_input_grad_on_tile_where_the_weight_fits_in_l2_and_the_product_is_large(monkeypatch):
    monkeypatch.setattr(paths, "l2_bytes", lambda: 2 << 20)
    assert paths.input_grad_on_tile(6400, 2048, 256, 4, 32)  # the table's big LSTM
    assert paths.input_grad_on_tile(6400, 1536, 256, 4, 32)  # and GRU
    assert not paths.input_grad_on_tile(6400, 2048, 512, 4, 32)  # 4 MB: past L2
    assert not paths.input_grad_on_tile(6400, 2048, 32, 4, 32)  # N of one panel
    assert not paths.input_grad_on_tile(640, 1536, 128, 4, 32)  # few multiply-adds
    assert not paths.input_grad_on_tile(6400, 2048, 256, 8, 16)  # float64: 4 MB


def test_l2_bytes_reads_the_cache_size_or_falls_back(tmp_path):
    for index, (level, kind, size, cpus) in enumerate([
            ("1", "Data", "48K", "0"), ("1", "Instruction", "32K", "0"),
            ("2", "Unified", "2048K", "0"), ("3", "Unified", "105M", "0-2,5")]):
        folder = tmp_path / "cache" / f"index{index}"
        folder.mkdir(parents=True)
        for name, value in [("level", level), ("type", kind), ("size", size),
                            ("shared_cpu_list", cpus)]:
            (folder / name).write_text(value + "\n")
    assert paths.l2_bytes(str(tmp_path / "cache")) == 2 << 20
    assert paths.l2_bytes(str(tmp_path / "absent")) == paths.L2_FALLBACK_BYTES
    assert paths.l3_share_bytes(str(tmp_path / "cache")) == (105 << 20) // 4  # 4 CPUs share
    assert paths.l3_share_bytes(str(tmp_path / "absent")) == 0
    (tmp_path / "cache" / "index3" / "shared_cpu_list").unlink()  # unknown: one CPU
    paths.l3_share_bytes.cache_clear()
    assert paths.l3_share_bytes(str(tmp_path / "cache")) == 105 << 20


@pytest.mark.parametrize("kind,nl", KINDS)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numba_matches_numpy(path, kind, nl, num_layers, bidirectional, masked, dtype):
    for shape in SHAPES:
        case = (dtype, shape, num_layers, bidirectional, masked)
        ref = _run(kind, nl, "numpy", *case)
        got = _run(kind, nl, "numba", *case)
        _assert_same(got, ref, dtype, input_scale=shape[-1])


@pytest.mark.parametrize("kind,nl", KINDS)
def test_numba_matches_numpy_without_bias(path, kind, nl):
    shape = (3, 4, 2, 5, 1.0)
    ref = _run(kind, nl, "numpy", np.float64, shape, 1, False, True, bias=False)
    got = _run(kind, nl, "numba", np.float64, shape, 1, False, True, bias=False)
    _assert_same(got, ref, np.float64)


def test_default_threshold_picks_both_paths():
    # the benchmark shapes exercise both paths: (1, 100, 10, 20) fused, (64, 100, 128, 128) BLAS
    assert paths.fused(1, 20, 4) and not paths.fused(64, 128, 4)


def test_the_sharded_loop_takes_every_kind_to_h_512_and_batch_256(monkeypatch):
    """The register-tiled loop beats OpenBLAS up to the LSTM at H = 512 and batch 256, not
    at H = 1024 (benchmarks/README.md)."""
    monkeypatch.setattr(paths, "cores", lambda: 2)
    assert paths.shards(64, 512, 4) == paths.shards(256, 512, 3) == paths.shards(64, 512, 1) == 2
    assert paths.shards(64, 1024, 4) == paths.shards(64, 1024, 3) == 0
    assert paths.shards(257, 128, 4) == 0


def test_backend_selection():
    assert get_backend("numba") is kernels
    assert get_backend("auto") is kernels
    assert rnnkit.LSTM(2, 3, backend="numba")._scan is kernels


@pytest.mark.parametrize("kind,nl", KINDS)
def test_scan_with_hidden_bias_matches_numpy(path, kind, nl):
    """The scans called directly with b_hh, which the layers fold into gx where the cell allows."""
    cell = CELLS[kind]
    options = {"nonlinearity": nl} if nl else {}
    T, B, H = 5, 3, 4
    r = np.random.default_rng(0)
    gx = r.standard_normal((B, T, cell.GATES * H))  # (B, T, G*H)
    carry0 = [r.standard_normal((B, H)) for _ in cell.CARRY]
    w_hh, b_hh = r.standard_normal((cell.GATES * H, H)), r.standard_normal(cell.GATES * H)
    mask = (r.random((B, T, 1)) < 0.7).astype(np.float64)  # (B, T, 1)
    dys = r.standard_normal((B, T, H))
    dcarry = [r.standard_normal((B, H)) for _ in cell.CARRY]
    ref = scan.scan_forward(kind, gx, carry0, w_hh, b_hh, mask, **options)
    got = kernels.scan_forward(kind, gx, carry0, w_hh, b_hh, mask, **options)
    np.testing.assert_allclose(got.states, ref.states, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.acts, ref.acts, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got.y, got.states[0, 1:].transpose(1, 0, 2))  # (B, T, H)
    np.testing.assert_array_equal(ref.y, ref.states[0, 1:].transpose(1, 0, 2))
    got_sums, ref_sums = (np.full((2, cell.GATES * H), np.nan) for _ in range(2))
    got_grads = kernels.scan_backward(got, dys, dcarry, w_hh, sums=got_sums)
    ref_grads = scan.scan_backward(ref, dys, dcarry, w_hh, sums=ref_sums)
    assert got_grads[3] is None and ref_grads[3] is None  # no dx without W_ih
    for name, a, b in zip(["dgx", "dgh", "dcarry0"], got_grads[:3], ref_grads[:3]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-12, err_msg=name)
    # the biases' gradients: every step's rows of dgx and dgh, summed in the loops
    for sums in (got_sums, ref_sums):
        np.testing.assert_allclose(sums[0], ref_grads[0].sum(axis=(0, 1)), rtol=0, atol=1e-12)
        np.testing.assert_allclose(sums[1], ref_grads[1].sum(axis=(0, 1)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind,nl", KINDS)
@pytest.mark.parametrize("backend", [scan, kernels])
def test_scan_for_inference_keeps_one_step_of_activations(path, kind, nl, backend):
    """keep=False (no_grad): the same outputs and final carries. The NumPy loop keeps every
    step's states and a one-step acts (1, B, ACTS*H) that ends holding the last step's
    activations; the kernels' loops keep the states as a ring of two steps (the last two)
    and acts as a row for each shard of the batch (1 on one thread), which its rows rewrite
    in turn, so that it holds the shard's last row."""
    cell = CELLS[kind]
    options = {"nonlinearity": nl} if nl else {}
    T, B, H = 6, 3, 4
    r = np.random.default_rng(1)
    gx = r.standard_normal((B, T, cell.GATES * H)).astype(np.float32)  # (B, T, G*H)
    carry0 = [r.standard_normal((B, H)).astype(np.float32) for _ in cell.CARRY]
    w_hh = r.standard_normal((cell.GATES * H, H)).astype(np.float32)  # (G*H, H)
    mask = (r.random((B, T, 1)) < 0.7).astype(np.float32)  # (B, T, 1)
    kept = backend.scan_forward(kind, gx, carry0, w_hh, None, mask, **options)
    once = backend.scan_forward(kind, gx, carry0, w_hh, None, mask, keep=False, **options)
    np.testing.assert_array_equal(once.y, kept.y)
    for c in range(len(cell.CARRY)):
        np.testing.assert_array_equal(once.final(c), kept.states[c, T])
        np.testing.assert_array_equal(kept.final(c), kept.states[c, T])
    if backend is scan:
        np.testing.assert_array_equal(once.states, kept.states)
        assert once.acts.shape == (1, B, cell.ACTS * H)
        np.testing.assert_array_equal(once.acts[0], kept.acts[-1])
        return
    assert once.states.shape == (len(cell.CARRY), 2, B, H)
    for t in (T - 1, T):  # the ring's two slots: the last two steps' carries
        np.testing.assert_array_equal(once.states[:, t % 2], kept.states[:, t])
    S = {"fused": 1, "blas": 1}.get(path, 2)  # the sharded paths run 2 shards here
    assert once.acts.shape == (1, S, cell.ACTS * H)
    for s in range(S):  # run_sharded's shard s: rows s * B // S .. (s + 1) * B // S - 1
        np.testing.assert_array_equal(once.acts[0, s], kept.acts[-1, (s + 1) * B // S - 1])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
def test_sharded_loop_runs_in_a_forked_child(monkeypatch):
    """The shards' threads are the caller's own, not a pool or OpenMP's, which a fork breaks
    (GNU OpenMP terminates a child that forked after using it)."""
    monkeypatch.setattr(paths, "FUSED_MAX_MACS", 0)
    monkeypatch.setattr(paths, "SHARDED_MAX_BATCH", 1 << 40)
    monkeypatch.setattr(paths, "cores", lambda: 2)
    layer = rnnkit.LSTM(3, 4, seed=0)
    x = np.ones((2, 5, 3))  # (B, T, I)
    y, _ = layer.forward(x)
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the same forward gives the same output
        os._exit(0 if np.array_equal(layer.forward(x)[0], y) else 1)
    assert os.waitpid(pid, 0)[1] == 0


def test_every_cell_has_kernels():
    assert kernels.KERNELS.keys() == CELLS.keys()


def test_wide_vectors_give_the_loop_they_are_compiled_into_512_bit_vectors():
    """The step kernels call _wide_vectors(): with AVX-512, the function they end up in has
    the attribute and its element-wise loops run on zmm registers; without, neither."""
    from numba import njit

    from rnnkit.core.jit_math import VECTOR_BYTES, WIDE_VECTORS, _wide_vectors

    @njit(fastmath={"contract"})
    def scale(a, out):
        _wide_vectors()
        for j in range(a.size):
            out[j] = a[j] * np.float32(3) + np.float32(1)

    a = np.arange(100, dtype=np.float32)
    out = np.empty_like(a)
    scale(a, out)
    np.testing.assert_array_equal(out, a * 3 + 1)
    wide = VECTOR_BYTES == 64
    assert (WIDE_VECTORS in next(iter(scale.inspect_llvm().values()))) == wide
    assert ("%zmm" in next(iter(scale.inspect_asm().values()))) == wide


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_and_sigmoid_accuracy(dtype):
    """The element-wise kernels on a wide range of pre-activations, saturation included."""
    a = np.linspace(-60, 60, 24001).astype(dtype)
    gh = np.zeros((1, a.size), dtype)
    states = np.zeros((1, 2, 1, a.size), dtype)  # (C, T+1, B, H)
    no_bias = np.zeros(a.size, dtype)  # (H,) the step adds b_hh (b_ih + b_hh) itself
    no_mask, no_acts, no_peep = (np.empty(s, dtype) for s in [(0, 0), (1, 1, 0), (0,)])
    tol = 1e-15 if dtype == np.float64 else 4e-7
    for act, ref in [(0, np.tanh(a.astype(np.float64))),
                     (2, 1 / (1 + np.exp(-a.astype(np.float64))))]:
        step_kernels._rnn_step(0, 0, a.reshape(1, 1, -1), 0, gh, no_bias, no_mask, act,
                               no_peep, states, no_acts)
        np.testing.assert_allclose(states[0, 1, 0], ref, rtol=0, atol=tol)
        assert np.all(np.abs(states[0, 1, 0]) <= 1)


@pytest.mark.parametrize("kind,nl", KINDS)
@pytest.mark.parametrize("masked", [False, True])
def test_vanishing_gradients_become_zero_not_subnormal(path, kind, nl, masked):
    """A loss at the last step only: 400 steps back, dh of the reference falls through the
    subnormal floats (each operation on one costs ~100 cycles on x86). The kernels set values
    below 2**24 times float32's smallest normal number to zero, so none of their gradients is
    subnormal, and they still match the reference."""
    B, T, I, H = 3, 400, 2, 6
    tiny = np.finfo(np.float32).tiny
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    lengths = np.array([T, T - 7, T]) if masked else None
    dy = np.zeros((B, T, H), np.float32)
    dy[:, -8:] = rng.standard_normal((B, 8, H)) * 1e-3  # the last steps only
    out = {}
    for backend in ("numpy", "numba"):
        layer = _layer(kind, nl, backend, np.float32, I=I, H=H)
        layer.forward(x, lengths=lengths)
        dx, _ = layer.backward(dy)
        out[backend] = {"dx": dx, **{"d" + k: v for k, v in layer.grads.items()}}
    ref, got = out["numpy"], out["numba"]
    assert np.any((ref["dx"] != 0) & (np.abs(ref["dx"]) < tiny))  # the reference has them
    for name, g in got.items():
        assert not np.any((g != 0) & (np.abs(g) < tiny)), name
        scale = max(1e-6, float(np.abs(ref[name]).max()))
        np.testing.assert_allclose(g, ref[name], rtol=0, atol=2e-5 * scale, err_msg=name)
    assert np.all(got["dx"][:, :100] == 0)  # far back: nothing but zeros


def test_the_where_time_goes_benchmark_runs(capsys, monkeypatch):
    """benchmarks/where_time_goes.py (benchmarks/README.md's table) at two small shapes, one
    on each side of the in-loop input projection: it calls the step kernels and the loops'
    products directly, so a change of their arguments must show here."""
    import runpy
    import sys
    from pathlib import Path

    pytest.importorskip("threadpoolctl")
    script = Path(__file__).parents[2] / "benchmarks" / "where_time_goes.py"
    monkeypatch.setattr(paths, "l2_bytes", lambda: 12000)  # bytes: (16+16) 64 floats fit
    monkeypatch.setattr(paths, "l3_share_bytes", lambda: 0)
    monkeypatch.setattr(paths, "PROJECT_IN_LOOP_BYTES", 0)
    monkeypatch.setattr(sys, "argv", [str(script), "--shapes", "4,5,16,16;4,5,48,16",
                                      "--repeat", "1"])
    runpy.run_path(str(script), run_name="__main__")
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 4 and "x W_ih^T, dx in the loop" in rows[2]
    assert "in the loop" not in rows[3]
    assert "dW_ih and dW_hh joined" in rows[2] and "joined" not in rows[3]  # I = H, I = 3H
    for line in rows[2:]:
        assert float(line.split("|")[3]) > 0  # the step, ms
