"""The recurrent variants of issue 13 (``rnnkit.nn.recurrent``): learned initial states,
recurrent dropout and the LSTM's projection. Each is checked against central finite
differences in float64 (every parameter, with layers, directions, lengths and initial
states), on both time loops, and through checkpoints; the projection also against torch."""
import itertools

import numpy as np
import pytest

import rnnkit
from helpers import check_recurrent_grads, rel_error
from rnnkit.core.backends import numba_available
from rnnkit.nn.unroll import unroll

BACKENDS = ["numpy"] + (["numba"] if numba_available() else [])
LAYERS = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}


def inputs(layer, B=3, T=4, seed=0, state=True, lengths=True):
    """x (B, T, I), an initial state (or None) and lengths (or None) for ``layer``."""
    r = np.random.default_rng(seed)
    x = r.standard_normal((B, T, layer.input_size))
    n = layer.num_layers * layer.num_directions
    st = None
    if state:
        h0 = r.standard_normal((n, B, layer.output_size))
        st = (h0, r.standard_normal((n, B, layer.hidden_size))) if layer.kind == "lstm" else h0
    return x, st, (np.array([T, 1, 2][:B]) if lengths else None)


def round_trip(layer, tmp_path):
    path = tmp_path / "layer.safetensors"
    rnnkit.save(layer, path)
    again = rnnkit.load(path)
    assert repr(again) == repr(layer) and again.config() == layer.config()
    for k, v in layer.params.items():
        np.testing.assert_array_equal(again.params[k], v, err_msg=k)
    return again


# --- learn_initial_state -------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind,bidirectional",
                         list(itertools.product(sorted(LAYERS), [False, True])))
def test_learned_initial_state_gradients(kind, bidirectional, backend):
    layer = LAYERS[kind](2, 3, num_layers=2, bidirectional=bidirectional, dtype=np.float64,
                         seed=1, backend=backend, learn_initial_state=True)
    r = np.random.default_rng(2)
    for name in ("h0", "c0")[: 2 if kind == "lstm" else 1]:
        assert layer.params[name].shape == (2 * layer.num_directions, 3)
        layer.params[name][...] = r.standard_normal(layer.params[name].shape)
    x, _, lengths = inputs(layer)
    check_recurrent_grads(layer, x, None, lengths)


def test_learned_initial_state_is_the_state_when_none_is_passed():
    layer = rnnkit.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=np.float64, seed=0,
                        learn_initial_state=True)
    plain = rnnkit.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    assert list(layer.params) == list(plain.params) + ["h0", "c0"]  # same weights, then h0, c0
    x, (h0, c0), lengths = inputs(layer)
    np.testing.assert_array_equal(layer(x)[0], plain(x)[0])  # zeros at first
    layer.params["h0"][...] = h0[:, 0]
    layer.params["c0"][...] = c0[:, 0]
    B = x.shape[0]
    shared = (np.repeat(h0[:, :1], B, axis=1), np.repeat(c0[:, :1], B, axis=1))
    np.testing.assert_array_equal(layer(x, lengths=lengths)[0],
                                  plain(x, shared, lengths=lengths)[0])
    # a passed-in state wins, and then h0, c0 receive no gradient
    y, _ = layer(x, (h0, c0), lengths=lengths)
    np.testing.assert_array_equal(y, plain(x, (h0, c0), lengths=lengths)[0])
    layer.zero_grad()
    layer.backward(np.ones_like(y))
    assert not layer.grads["h0"].any() and not layer.grads["c0"].any()
    # a part given as None comes from the learned one
    y, _ = layer(x, (h0, None))
    np.testing.assert_array_equal(y, plain(x, (h0, shared[1]))[0])


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_learned_initial_state_streams_saves_and_unrolls(kind, tmp_path):
    layer = LAYERS[kind](2, 3, num_layers=2, dtype=np.float64, seed=0, learn_initial_state=True)
    for name in ("h0", "c0")[: 2 if kind == "lstm" else 1]:
        layer.params[name][...] = np.random.default_rng(1).standard_normal((2, 3))
    x = np.random.default_rng(2).standard_normal((2, 5, 2))
    y, _ = layer(x)
    state, steps = None, []
    for t in range(5):
        y_t, state = layer.step(x[:, t], state)
        steps.append(y_t)
    np.testing.assert_allclose(np.stack(steps, 1), y, rtol=0, atol=1e-13)
    np.testing.assert_allclose(layer(x[0])[0], y[0], rtol=0, atol=1e-13)  # unbatched
    np.testing.assert_allclose(unroll(layer, x).y, y, rtol=0, atol=1e-13)  # the NumPy loop
    np.testing.assert_array_equal(round_trip(layer, tmp_path)(x)[0], y)


# --- recurrent_dropout ---------------------------------------------------------------------
def fixed_masks(layer, seed=7):
    """A reset() that makes every forward draw the same masks."""
    def reset():
        layer.rng = np.random.default_rng(seed)
    return reset


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind,bidirectional",
                         list(itertools.product(sorted(LAYERS), [False, True])))
def test_recurrent_dropout_gradients(kind, bidirectional, backend):
    layer = LAYERS[kind](2, 3, num_layers=2, bidirectional=bidirectional, dtype=np.float64,
                         seed=1, backend=backend, recurrent_dropout=0.4)
    x, state, lengths = inputs(layer)
    check_recurrent_grads(layer, x, state, lengths, reset=fixed_masks(layer))


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_recurrent_dropout_is_one_mask_per_sequence_on_h_prev(kind):
    """Against a loop of the cell's own step on weights W_hh * mask, one mask for all steps,
    drawn from the layer's generator as (B, H) >= p, scaled by 1 / (1 - p)."""
    from rnnkit.core.cells import CELLS

    p, B, T, H = 0.5, 4, 6, 5
    layer = LAYERS[kind](3, H, dtype=np.float64, seed=0, recurrent_dropout=p, backend="numpy")
    x, state, _ = inputs(layer, B=B, T=T, state=True, lengths=False)
    keep = (np.random.default_rng(3).random((B, H)) >= p) / (1 - p)  # (B, H)
    layer.rng = np.random.default_rng(3)
    y, _ = layer(x, state)
    cell, params = CELLS[kind], layer.cell_params(0)
    carry = tuple(a[0] for a in (state if isinstance(state, tuple) else (state,)))
    for t in range(T):
        # (h * keep) W_hh^T row by row: the mask drops units of h_{t-1} in the projection
        new = []
        for b in range(B):
            pb = dict(params, weight_hh=params["weight_hh"] * keep[b])
            cb, _, _ = cell.step(pb, x[b : b + 1, t], tuple(a[b : b + 1] for a in carry))
            new.append(cb)
        carry = tuple(np.concatenate(parts) for parts in zip(*new))
        np.testing.assert_allclose(y[:, t], carry[0], rtol=0, atol=1e-13)


def test_recurrent_dropout_trains_only_and_draws_from_the_seed():
    layer = rnnkit.GRU(3, 20, num_layers=2, recurrent_dropout=0.3, seed=4, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    y1, y2 = layer(x)[0], layer(x)[0]
    assert not np.allclose(y1, y2)  # a new mask per forward
    again = rnnkit.GRU(3, 20, num_layers=2, recurrent_dropout=0.3, seed=4, dtype=np.float64)
    np.testing.assert_array_equal(again(x)[0], y1)  # the seeded generator
    plain = rnnkit.GRU(3, 20, num_layers=2, seed=4, dtype=np.float64)
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0], plain(x)[0])  # evaluation: no mask
    with pytest.raises(ValueError, match="recurrent_dropout"):
        rnnkit.GRU(3, 4, recurrent_dropout=1.0)


@pytest.mark.skipif(not numba_available(), reason="needs numba")
@pytest.mark.parametrize("path", ["fused", "blas", "sharded"])
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_recurrent_dropout_numba_equals_numpy(kind, path, monkeypatch):
    """The numba time loop covers recurrent dropout (no fallback): every kernel path."""
    from rnnkit.core import paths

    monkeypatch.setattr(paths, "FUSED_MAX_MACS", 1 << 40 if path == "fused" else 0)
    monkeypatch.setattr(paths, "SHARDED_MAX_BATCH", 1 << 40 if path == "sharded" else 0)
    monkeypatch.setattr(paths, "cores", lambda: 2)
    out = {}
    for backend in ("numpy", "numba"):
        layer = LAYERS[kind](2, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0,
                             backend=backend, recurrent_dropout=0.5)
        x, state, lengths = inputs(layer)
        y, st = layer(x, state, lengths=lengths)
        dx, dst = layer.backward(np.ones_like(y), st)
        out[backend] = [y, dx, *(dst if isinstance(dst, tuple) else (dst,)),
                        *layer.grads.values()]
    for a, b in zip(out["numba"], out["numpy"]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_recurrent_dropout_saves(tmp_path):
    layer = rnnkit.LSTM(2, 3, recurrent_dropout=0.25, seed=0)
    assert round_trip(layer, tmp_path).recurrent_dropout == 0.25
    assert repr(layer) == "LSTM(2, 3, recurrent_dropout=0.25)"


# --- proj_size -----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bidirectional,use_lengths", list(itertools.product([False, True],
                                                                             [False, True])))
def test_projection_gradients(bidirectional, use_lengths, backend):
    layer = rnnkit.LSTM(2, 4, num_layers=2, bidirectional=bidirectional, proj_size=2,
                        dtype=np.float64, seed=1, backend=backend)
    x, state, lengths = inputs(layer, lengths=use_lengths)
    check_recurrent_grads(layer, x, state, lengths)


def test_projection_with_learned_initial_state_gradients():
    layer = rnnkit.LSTM(2, 4, num_layers=2, bidirectional=True, proj_size=3, dtype=np.float64,
                        seed=1, learn_initial_state=True)
    assert layer.params["h0"].shape == (4, 3) and layer.params["c0"].shape == (4, 4)
    for name in ("h0", "c0"):
        layer.params[name][...] = np.random.default_rng(5).standard_normal(
            layer.params[name].shape)
    x, _, lengths = inputs(layer)
    check_recurrent_grads(layer, x, None, lengths)


def projection_parity(seed, backend, dtype):
    """Outputs, states, dx, dstate0 and every gradient against torch.nn.LSTM(proj_size=P)."""
    from helpers import torch_layer_forward_backward

    r = np.random.default_rng(seed)
    H = int(r.integers(2, 7))
    layer = rnnkit.LSTM(int(r.integers(1, 5)), H, num_layers=int(r.integers(1, 4)),
                        bidirectional=bool(r.integers(2)), bias=bool(r.random() < 0.8),
                        proj_size=int(r.integers(1, H)), dtype=dtype, seed=seed,
                        backend=backend)
    B, T = int(r.integers(1, 5)), [1, 6][seed % 2] if seed < 2 else int(r.integers(1, 8))
    x, state, _ = inputs(layer, B=B, T=T, seed=seed, state=bool(r.integers(2)), lengths=False)
    x = x.astype(dtype)
    state = None if state is None else tuple(a.astype(dtype) for a in state)
    lengths = r.integers(1, T + 1, size=B) if r.integers(2) else None
    if lengths is not None:
        lengths[r.integers(B)] = T  # torch's packed output needs one full-length sequence
    y, st = layer(x, state, lengths=lengths)
    dy = r.standard_normal(y.shape).astype(dtype)
    dst = tuple(r.standard_normal(a.shape).astype(dtype) for a in st)
    dx, dst0 = layer.backward(dy, dst)
    ref = torch_layer_forward_backward(layer, x, state, lengths, dy, dst)
    got = {"y": y, "h_n": st[0], "c_n": st[1], "dx": dx, "dh0": dst0[0], "dc0": dst0[1]}
    worst = max(rel_error(v, ref[k]) for k, v in got.items())
    assert set(layer.grads) == set(ref["grads"])
    return max(worst, *(rel_error(layer.grads[k], g) for k, g in ref["grads"].items()))


@pytest.mark.parametrize("backend", BACKENDS)
def test_projection_equals_torch(backend):
    pytest.importorskip("torch")
    for seed in range(10):
        assert projection_parity(seed, backend, np.float64) <= 1e-10, seed
        assert projection_parity(seed, backend, np.float32) <= 1e-5, seed


def test_projection_names_shapes_stream_and_save(tmp_path):
    layer = rnnkit.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, dtype=np.float64,
                        seed=0)
    assert layer.params["weight_hr_l1_reverse"].shape == (2, 5)
    assert layer.params["weight_hh_l0"].shape == (20, 2)
    assert layer.params["weight_ih_l1"].shape == (20, 4)  # D*P inputs
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    y, (h, c) = layer(x)
    assert y.shape == (2, 4, 4) and h.shape == (4, 2, 2) and c.shape == (4, 2, 5)
    np.testing.assert_array_equal(round_trip(layer, tmp_path)(x)[0], y)
    uni = rnnkit.LSTM(3, 5, num_layers=2, proj_size=2, dtype=np.float64, seed=0)
    y, _ = uni(x)
    state, steps = None, []
    for t in range(4):
        y_t, state = uni.step(x[:, t], state)
        steps.append(y_t)
    np.testing.assert_allclose(np.stack(steps, 1), y, rtol=0, atol=1e-13)
    np.testing.assert_allclose(uni(x[1])[0], y[1], rtol=0, atol=1e-13)  # unbatched


@pytest.mark.parametrize("kwargs,match", [
    ({"proj_size": 5}, "proj_size must be smaller than hidden_size"),
    ({"proj_size": -1}, "proj_size"),
    ({"proj_size": 2, "recurrent_dropout": 0.1}, "recurrent_dropout cannot be combined"),
])
def test_projection_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rnnkit.LSTM(3, 5, **kwargs)
    with pytest.raises(TypeError):
        rnnkit.GRU(3, 5, proj_size=2)


def test_sequence_model_passes_the_variants_and_saves_them(tmp_path):
    from rnnkit.nn.models import SequenceModel

    model = SequenceModel("lstm", input_size=2, hidden_size=5, output_size=3, num_layers=2,
                          bidirectional=True, proj_size=2, learn_initial_state=True,
                          dtype="float64", seed=0)
    assert model.rnn.proj_size == 2 and "rnn.h0" in model.params
    assert model.modules["fc"].params["weight"].shape == (3, 4)  # D*P features
    x = np.random.default_rng(0).standard_normal((3, 4, 2))
    out = model(x, lengths=[4, 2, 1])
    assert out.shape == (3, 3)
    path = tmp_path / "m.safetensors"
    rnnkit.save(model, path)
    again = rnnkit.load(path)
    assert again.config() == model.config()
    np.testing.assert_array_equal(again(x, lengths=[4, 2, 1]), out)
    plain = SequenceModel("gru", input_size=2, hidden_size=5, seed=0)
    assert "proj_size" not in plain.config()  # configs of models without variants unchanged


# --- peephole ------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bidirectional,use_lengths",
                         list(itertools.product([False, True], [False, True])))
def test_peephole_gradients(bidirectional, use_lengths, backend):
    layer = rnnkit.LSTM(2, 3, num_layers=2, bidirectional=bidirectional, peephole=True,
                        dtype=np.float64, seed=1, backend=backend)
    assert layer.params["weight_peephole_l1"].shape == (9,)
    x, state, lengths = inputs(layer, lengths=use_lengths)
    check_recurrent_grads(layer, x, state, lengths)


def test_peephole_with_the_other_variants_gradients():
    layer = rnnkit.LSTM(2, 4, num_layers=2, bidirectional=True, peephole=True, proj_size=2,
                        learn_initial_state=True, dtype=np.float64, seed=1)
    for name in ("h0", "c0"):
        layer.params[name][...] = np.random.default_rng(5).standard_normal(
            layer.params[name].shape)
    x, _, lengths = inputs(layer)
    check_recurrent_grads(layer, x, None, lengths)
    dropped = rnnkit.LSTM(2, 3, num_layers=2, peephole=True, recurrent_dropout=0.4,
                          dtype=np.float64, seed=1)
    x, state, lengths = inputs(dropped)
    check_recurrent_grads(dropped, x, state, lengths, reset=fixed_masks(dropped))


def test_peephole_equations():
    """The gates see the cell state as Gers & Schmidhuber (2000) write it."""
    from rnnkit.core.activations import sigmoid

    layer = rnnkit.LSTM(3, 4, peephole=True, dtype=np.float64, seed=0, backend="numpy")
    p = layer.params
    r = np.random.default_rng(1)
    x, h, c = r.standard_normal((2, 1, 3)), r.standard_normal((1, 2, 4)), r.standard_normal(
        (1, 2, 4))
    y, (_, c1) = layer(x, (h, c))
    a = x[:, 0] @ p["weight_ih_l0"].T + p["bias_ih_l0"] + h[0] @ p["weight_hh_l0"].T \
        + p["bias_hh_l0"]  # (B, 4H)
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    p_i, p_f, p_o = np.split(p["weight_peephole_l0"], 3)
    c_new = sigmoid(a_f + p_f * c[0]) * c[0] + sigmoid(a_i + p_i * c[0]) * np.tanh(a_g)
    h_new = sigmoid(a_o + p_o * c_new) * np.tanh(c_new)
    np.testing.assert_allclose(c1[0], c_new, rtol=0, atol=1e-14)
    np.testing.assert_allclose(y[:, 0], h_new, rtol=0, atol=1e-14)


def test_peephole_streams_saves_and_refuses_elsewhere(tmp_path):
    layer = rnnkit.LSTM(3, 4, num_layers=2, peephole=True, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    y, _ = layer(x)
    state, steps = None, []
    for t in range(5):
        y_t, state = layer.step(x[:, t], state)
        steps.append(y_t)
    np.testing.assert_allclose(np.stack(steps, 1), y, rtol=0, atol=1e-13)
    assert repr(layer) == "LSTM(3, 4, num_layers=2, peephole=True)"
    np.testing.assert_array_equal(round_trip(layer, tmp_path)(x)[0], y)
    with pytest.raises(TypeError, match="peephole"):
        rnnkit.GRU(3, 4, peephole=True)
    with pytest.raises(ValueError, match="peephole"):
        unroll(layer, x)


@pytest.mark.parametrize("extra", [("weight_peephole",), ("weight_hr",),
                                   ("weight_peephole", "weight_hr")])
def test_lstm_cell_step_backward_with_peepholes_and_projection(extra):
    """The cell's own step/step_backward (what layer.step runs), entry by entry."""
    from helpers import numerical_grad
    from rnnkit.core.cells import lstm_cell

    r = np.random.default_rng(0)
    B, I, H, P = 3, 2, 4, 2
    W = P if "weight_hr" in extra else H
    params = {"weight_ih": r.standard_normal((4 * H, I)),
              "weight_hh": r.standard_normal((4 * H, W)),
              "bias_ih": r.standard_normal(4 * H), "bias_hh": r.standard_normal(4 * H)}
    if "weight_peephole" in extra:
        params["weight_peephole"] = r.standard_normal(3 * H)
    if "weight_hr" in extra:
        params["weight_hr"] = r.standard_normal((P, H))
    x, carry = r.standard_normal((B, I)), (r.standard_normal((B, W)), r.standard_normal((B, H)))
    dh, dcarry = r.standard_normal((B, W)), (r.standard_normal((B, W)), r.standard_normal((B, H)))

    def loss(_):
        new, h, _ = lstm_cell.step(params, x, carry)
        return np.sum(h * dh) + sum(np.sum(a * d) for a, d in zip(new, dcarry))

    _, _, cache = lstm_cell.step(params, x, carry)
    dx, dcarry_prev, grads = lstm_cell.step_backward(params, dh, dcarry, cache)
    assert grads.keys() == params.keys()
    got = {"x": dx, "h": dcarry_prev[0], "c": dcarry_prev[1], **grads}
    for name, arr in {"x": x, "h": carry[0], "c": carry[1], **params}.items():
        assert rel_error(got[name], numerical_grad(loss, arr)) < 1e-8, name


# --- layer_norm ----------------------------------------------------------------------------
def randomise_norms(layer, seed=3):
    """Gains and biases away from 1 and 0, so that their gradients are checked sharply."""
    r = np.random.default_rng(seed)
    for name, p in layer.params.items():
        if name.startswith("ln_"):
            p[...] = r.uniform(0.5, 1.5, p.shape) if "weight" in name else r.normal(0, 0.3,
                                                                                     p.shape)


@pytest.mark.parametrize("kind,bidirectional", list(itertools.product(["gru", "lstm"],
                                                                       [False, True])))
def test_layer_norm_gradients(kind, bidirectional):
    layer = LAYERS[kind](2, 3, num_layers=2, bidirectional=bidirectional, layer_norm=True,
                         dtype=np.float64, seed=1)
    randomise_norms(layer)
    x, state, lengths = inputs(layer)
    check_recurrent_grads(layer, x, state, lengths)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_layer_norm_with_the_other_variants_gradients(kind):
    extra = {"peephole": True} if kind == "lstm" else {}
    layer = LAYERS[kind](2, 3, num_layers=2, layer_norm=True, learn_initial_state=True,
                         recurrent_dropout=0.3, dtype=np.float64, seed=1, **extra)
    randomise_norms(layer)
    for name in ("h0", "c0")[: 2 if kind == "lstm" else 1]:
        layer.params[name][...] = np.random.default_rng(5).standard_normal((2, 3))
    x, _, lengths = inputs(layer)
    check_recurrent_grads(layer, x, None, lengths, reset=fixed_masks(layer))


def test_layer_norm_equations():
    """One LSTM step as Ba, Kiros & Hinton (2016) write it."""
    from rnnkit.core.activations import sigmoid

    layer = rnnkit.LSTM(3, 4, layer_norm=True, dtype=np.float64, seed=0)
    randomise_norms(layer)
    p = {k[: -len("_l0")]: v for k, v in layer.params.items()}
    r = np.random.default_rng(1)
    x, h, c = r.standard_normal((2, 1, 3)), r.standard_normal((1, 2, 4)), r.standard_normal(
        (1, 2, 4))
    y, (_, c1) = layer(x, (h, c))

    def ln(a, part):
        a = (a - a.mean(-1, keepdims=True)) / np.sqrt(a.var(-1, keepdims=True) + 1e-5)
        return a * p["ln_weight_" + part] + p["ln_bias_" + part]

    a = (ln(x[:, 0] @ p["weight_ih"].T, "ih") + p["bias_ih"]
         + ln(h[0] @ p["weight_hh"].T, "hh") + p["bias_hh"])  # (B, 4H)
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    c_new = sigmoid(a_f) * c[0] + sigmoid(a_i) * np.tanh(a_g)
    np.testing.assert_allclose(c1[0], c_new, rtol=0, atol=1e-14)
    np.testing.assert_allclose(y[:, 0], sigmoid(a_o) * np.tanh(ln(c_new, "c")), rtol=0,
                               atol=1e-14)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_layer_norm_streams_and_saves(kind, tmp_path):
    layer = LAYERS[kind](3, 4, num_layers=2, layer_norm=True, dtype=np.float64, seed=0)
    randomise_norms(layer)
    assert layer.params["ln_weight_hh_l1"].shape == (layer.params["weight_hh_l1"].shape[0],)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    y, _ = layer(x)
    state, steps = None, []
    for t in range(5):
        y_t, state = layer.step(x[:, t], state)
        steps.append(y_t)
    np.testing.assert_allclose(np.stack(steps, 1), y, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(round_trip(layer, tmp_path)(x)[0], y)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_cell_step_backward_with_layer_norm(kind):
    from helpers import numerical_grad
    from rnnkit.core.cells import CELLS

    cell, r = CELLS[kind], np.random.default_rng(0)
    B, I, H, G = 3, 2, 4, CELLS[kind].GATES
    params = {"weight_ih": r.standard_normal((G * H, I)),
              "weight_hh": r.standard_normal((G * H, H)),
              "bias_ih": r.standard_normal(G * H), "bias_hh": r.standard_normal(G * H)}
    for part in ("ih", "hh", "c")[: 3 if kind == "lstm" else 2]:
        n = H if part == "c" else G * H
        params["ln_weight_" + part] = r.uniform(0.5, 1.5, n)
        params["ln_bias_" + part] = r.normal(0, 0.3, n)
    x = r.standard_normal((B, I))
    carry = tuple(r.standard_normal((B, H)) for _ in cell.CARRY)
    dh, dcarry = r.standard_normal((B, H)), tuple(r.standard_normal((B, H)) for _ in cell.CARRY)

    def loss(_):
        new, h, _ = cell.step(params, x, carry)
        return np.sum(h * dh) + sum(np.sum(a * d) for a, d in zip(new, dcarry))

    _, _, cache = cell.step(params, x, carry)
    dx, dcarry_prev, grads = cell.step_backward(params, dh, dcarry, cache)
    assert grads.keys() == params.keys()
    got = {"x": dx, **dict(zip(cell.CARRY, dcarry_prev)), **grads}
    for name, arr in {"x": x, **dict(zip(cell.CARRY, carry)), **params}.items():
        assert rel_error(got[name], numerical_grad(loss, arr)) < 1e-8, name


def test_layer_norm_refusals():
    with pytest.raises(TypeError, match="layer_norm"):
        rnnkit.RNN(3, 4, layer_norm=True)
    with pytest.raises(ValueError, match="layer_norm cannot be combined with proj_size"):
        rnnkit.LSTM(3, 4, layer_norm=True, proj_size=2)
    with pytest.raises(ValueError, match="layer_norm"):
        unroll(rnnkit.GRU(3, 4, layer_norm=True), np.zeros((1, 2, 3)))


@pytest.mark.skipif(not numba_available(), reason="needs numba")
@pytest.mark.parametrize("path", ["fused", "blas", "sharded"])
def test_peephole_numba_equals_numpy(path, monkeypatch):
    """The numba time loop covers peepholes (no fallback), with recurrent dropout too."""
    from rnnkit.core import kernels, paths

    monkeypatch.setattr(paths, "FUSED_MAX_MACS", 1 << 40 if path == "fused" else 0)
    monkeypatch.setattr(paths, "SHARDED_MAX_BATCH", 1 << 40 if path == "sharded" else 0)
    monkeypatch.setattr(paths, "cores", lambda: 2)
    out = {}
    for backend in ("numpy", "numba"):
        layer = rnnkit.LSTM(2, 4, num_layers=2, bidirectional=True, peephole=True,
                            recurrent_dropout=0.3, dtype=np.float64, seed=0, backend=backend)
        assert layer.time_loop is (kernels if backend == "numba" else scan_module())
        layer.params["weight_peephole_l0"][...] = np.random.default_rng(1).standard_normal(12)
        x, state, lengths = inputs(layer)
        y, st = layer(x, state, lengths=lengths)
        dx, dst = layer.backward(np.ones_like(y), st)
        out[backend] = [y, *st, dx, *dst, *layer.grads.values()]
    for a, b in zip(out["numba"], out["numpy"]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def scan_module():
    from rnnkit.core import scan

    return scan


@pytest.mark.skipif(not numba_available(), reason="needs numba")
def test_layer_norm_runs_the_numpy_loop_and_the_kernels_refuse_it():
    """The numba kernels do not cover layer normalisation: such a layer runs the NumPy time
    loop whatever its backend, and the kernels called with a norm say so."""
    from rnnkit.core import kernels

    assert rnnkit.GRU(3, 4, layer_norm=True, backend="numba").time_loop is scan_module()
    assert rnnkit.GRU(3, 4, backend="numba").time_loop is kernels
    gx, c0, w = np.zeros((2, 1, 8)), np.zeros((2, 1, 2)), np.zeros((8, 2))
    with pytest.raises(ValueError, match="do not cover norm"):
        kernels.scan_forward("lstm", gx, c0, w, norm={})
