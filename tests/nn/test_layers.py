"""The layer API: shapes, states, lengths, streaming steps, dropout, seeding and bad input."""
import tracemalloc

import numpy as np
import pytest

import rnnkit
from rnnkit.core.cells import CELLS
from rnnkit.nn import no_grad

LAYERS = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}
KINDS = sorted(LAYERS)


def state_h(kind, st):
    return st[0] if kind == "lstm" else st


def carried(kind, st):
    """The arrays of a state: [h], or [h, c] for the LSTM."""
    return list(st) if kind == "lstm" else [st]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_shapes_and_names(kind, bidirectional):
    layer = LAYERS[kind](7, 5, num_layers=3, bidirectional=bidirectional, seed=0)
    D, G = (2 if bidirectional else 1), {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    y, st = layer.forward(np.zeros((4, 6, 7), np.float32))
    assert y.shape == (4, 6, D * 5) and y.dtype == np.float32
    assert state_h(kind, st).shape == (3 * D, 4, 5)
    assert layer.params["weight_ih_l0"].shape == (G * 5, 7)
    assert layer.params["weight_ih_l1"].shape == (G * 5, D * 5)
    assert layer.params["weight_hh_l2"].shape == (G * 5, 5)
    assert ("bias_hh_l2_reverse" in layer.params) == bidirectional
    assert layer.grads.keys() == layer.params.keys()


def test_seed_000_shapes():
    """Seed 000: a sequence of 5 steps of 10 features through hidden size 20, head to 5."""
    x = np.random.default_rng(0).standard_normal((5, 10))  # unbatched (T, F)
    for layer in (rnnkit.RNN(10, 20, seed=0), rnnkit.LSTM(10, 20, seed=0)):
        y, st = layer.forward(x)
        assert y.shape == (5, 20)
        assert state_h(layer.kind, st).shape == (1, 20)
        outputs = y @ np.zeros((20, 5), np.float32)  # the seed's output layer W_y (H, 5)
        assert len(outputs) == 5 and outputs[0].shape == (5,)


@pytest.mark.parametrize("kind", KINDS)
def test_init_is_pytorch_default_and_seeded(kind):
    a, b, c = (LAYERS[kind](3, 16, num_layers=2, seed=s) for s in (1, 1, 2))
    for name, p in a.params.items():
        assert np.array_equal(p, b.params[name])  # same seed, same weights
        assert not np.array_equal(p, c.params[name])
        assert np.abs(p).max() <= 1 / np.sqrt(16)  # U(-1/sqrt(H), 1/sqrt(H))
    allw = np.concatenate([p.ravel() for p in a.params.values()])
    assert allw.min() < -0.23 and allw.max() > 0.23  # spans the range (k = 0.25)
    assert abs(allw.mean()) < 0.02


@pytest.mark.parametrize("kind", KINDS)
def test_unbatched_matches_batch_of_one(kind):
    layer = LAYERS[kind](3, 4, num_layers=2, bidirectional=True, seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((5, 3))
    y1, s1 = layer.forward(x)
    dx1, _ = layer.backward(np.ones_like(y1))
    y2, s2 = layer.forward(x[None])
    dx2, _ = layer.backward(np.ones_like(y2))
    np.testing.assert_allclose(y1, y2[0])
    np.testing.assert_allclose(state_h(kind, s1), state_h(kind, s2)[:, 0])
    np.testing.assert_allclose(dx1, dx2[0])


@pytest.mark.parametrize("kind", KINDS)
def test_lengths_equal_running_each_sequence_alone(kind):
    """A padded batch with lengths gives each sequence's own outputs and final state."""
    layer = LAYERS[kind](3, 4, num_layers=2, bidirectional=True, seed=0, dtype=np.float64)
    r = np.random.default_rng(0)
    x = r.standard_normal((3, 6, 3))
    lengths = np.array([6, 2, 4])
    x[1, 2:] = 99.0  # padding content must not matter
    y, st = layer.forward(x, lengths=lengths)
    for b, n in enumerate(lengths):
        yb, sb = layer.forward(x[b:b + 1, :n])
        np.testing.assert_allclose(y[b, :n], yb[0], atol=1e-12)
        assert np.all(y[b, n:] == 0)
        np.testing.assert_allclose(state_h(kind, st)[:, b], state_h(kind, sb)[:, 0], atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_step_api_streams_the_same_as_forward(kind):
    layer = LAYERS[kind](3, 4, num_layers=2, seed=0, dtype=np.float64)
    r = np.random.default_rng(0)
    x = r.standard_normal((2, 7, 3))
    y, st = layer.forward(x)
    state = None
    for t in range(7):
        y_t, state = layer.step(x[:, t], state)
        np.testing.assert_allclose(y_t, y[:, t], atol=1e-13)
    for a, b in zip(np.atleast_1d(state) if kind != "lstm" else state,
                    np.atleast_1d(st) if kind != "lstm" else st):
        np.testing.assert_allclose(a, b, atol=1e-13)


def test_step_memory_does_not_grow_with_sequence_length():
    """Seed 004's point: inference keeps only the current state, O(1) in T."""
    from rnnkit.cli.bench_sections import stream_memory  # what `rnnkit bench` reports

    layer = rnnkit.LSTM(8, 32, num_layers=2, seed=0)
    (state_bytes, short), (_, long) = stream_memory(layer, 20), stream_memory(layer, 2000)
    assert long < 1.5 * short and state_bytes == 2 * 2 * 32 * 4  # (h, c) of 2 layers


def test_step_rejects_bidirectional():
    with pytest.raises(ValueError, match="unidirectional"):
        rnnkit.GRU(3, 4, bidirectional=True).step(np.zeros((1, 3)))


@pytest.mark.parametrize("kind", KINDS)
def test_grads_accumulate_and_zero(kind):
    layer = LAYERS[kind](3, 4, seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    y, _ = layer.forward(x)
    layer.backward(np.ones_like(y))
    once = {k: v.copy() for k, v in layer.grads.items()}
    y, _ = layer.forward(x)
    layer.backward(np.ones_like(y))
    for k in once:
        np.testing.assert_allclose(layer.grads[k], 2 * once[k])
    layer.zero_grad()
    assert all(np.all(g == 0) for g in layer.grads.values())


def test_backward_needs_forward():
    layer = rnnkit.RNN(3, 4)
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.zeros((1, 2, 4)))
    y, _ = layer.forward(np.zeros((1, 2, 3)))
    layer.backward(np.zeros_like(y))
    with pytest.raises(RuntimeError, match="forward"):  # the cache is used once
        layer.backward(np.zeros_like(y))


def test_dropout_between_layers_train_and_eval():
    layer = rnnkit.LSTM(3, 50, num_layers=2, dropout=0.5, seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((4, 5, 3))
    y_train1, _ = layer.forward(x)
    y_train2, _ = layer.forward(x)
    assert not np.allclose(y_train1, y_train2)  # a new mask each call
    layer.eval()
    y_eval1, _ = layer.forward(x)
    y_eval2, _ = layer.forward(x)
    np.testing.assert_array_equal(y_eval1, y_eval2)
    no_dropout = rnnkit.LSTM(3, 50, num_layers=2, seed=0, dtype=np.float64)
    np.testing.assert_allclose(y_eval1, no_dropout.forward(x)[0])


def test_dropout_gradient_matches_finite_differences_with_a_fixed_mask():
    layer = rnnkit.GRU(2, 3, num_layers=2, dropout=0.4, seed=0, dtype=np.float64)
    r = np.random.default_rng(1)
    x, w = r.standard_normal((2, 4, 2)), r.standard_normal((2, 4, 3))

    def loss(x):
        layer.rng = np.random.default_rng(7)  # the same dropout mask every call
        return np.sum(layer.forward(x)[0] * w)

    loss(x)
    dx, _ = layer.backward(w)
    eps, numeric = 1e-6, np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        numeric[idx] = (loss(x + e) - loss(x - e)) / (2 * eps)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-9)


def test_dropout_is_reproducible_from_the_seed():
    a, b = (rnnkit.RNN(3, 8, num_layers=3, dropout=0.3, seed=5) for _ in range(2))
    x = np.ones((2, 4, 3), np.float32)
    np.testing.assert_array_equal(a.forward(x)[0], b.forward(x)[0])


@pytest.mark.parametrize("kind", KINDS)
def test_float32_and_float64(kind):
    for dtype in (np.float32, np.float64):
        layer = LAYERS[kind](3, 4, dtype=dtype, seed=0)
        y, _ = layer.forward(np.ones((2, 3, 3)))
        dx, _ = layer.backward(np.ones_like(y))
        assert y.dtype == dtype and dx.dtype == dtype
        assert all(p.dtype == dtype for p in layer.params.values())


def test_repr_and_config():
    layer = rnnkit.RNN(3, 4, num_layers=2, nonlinearity="relu", bidirectional=True)
    assert repr(layer) == "RNN(3, 4, num_layers=2, nonlinearity='relu', bidirectional=True)"
    again = rnnkit.RNN(**{**layer.config(), "seed": 0})
    assert again.params.keys() == layer.params.keys()


# --- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(nonlinearity="gelu"), "nonlinearity 'gelu'"),
    (dict(dropout=1.0), "dropout"),
    (dict(dtype=np.int32), "float32 or float64"),
    (dict(backend="cuda"), "backend 'cuda'"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rnnkit.RNN(3, 4, num_layers=2, **kwargs)


@pytest.mark.parametrize("args,match", [((0, 4), "input_size"), ((3, -1), "hidden_size"),
                                        ((3, 4, 0), "num_layers"), ((3.5, 4), "input_size")])
def test_bad_sizes(args, match):
    with pytest.raises(ValueError, match=match):
        rnnkit.LSTM(*args)


@pytest.mark.parametrize("x,match", [
    (np.zeros((2, 3, 4, 5)), "2D .* or 3D .*, got 4D"),
    (np.zeros(3), "got 1D"),
    (np.zeros((2, 3, 5)), "feature size 3.*got 5"),
    (np.zeros((2, 0, 3)), "no time steps"),
    (np.zeros((0, 2, 3)), "empty batch"),
    (np.array([[[0, 0, np.nan]]]), "NaN at index \\(0, 0, 2\\)"),
    (np.array([[[0, np.inf, 0]]]), "inf"),
    ([[["a", "b", "c"]]], "numeric"),
])
def test_bad_input(x, match):
    with pytest.raises(ValueError, match=match):
        rnnkit.GRU(3, 4).forward(x)


@pytest.mark.parametrize("lengths,match", [
    ([3, 0], "1..3"), ([3, 4], "1..3"), ([3], r"shape \(2,\)"), ([2.5, 3], "whole numbers"),
    (["a", "b"], "integers"),
])
def test_bad_lengths(lengths, match):
    with pytest.raises(ValueError, match=match):
        rnnkit.RNN(3, 4).forward(np.zeros((2, 3, 3)), lengths=lengths)


def test_bad_states():
    x = np.zeros((2, 3, 3))
    with pytest.raises(ValueError, match=r"h0 of shape \(2, 2, 4\), got \(1, 2, 4\)"):
        rnnkit.RNN(3, 4, num_layers=2).forward(x, np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="pair"):
        rnnkit.LSTM(3, 4).forward(x, np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="not a tuple"):
        rnnkit.GRU(3, 4).forward(x, (np.zeros((1, 2, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(ValueError, match="c0 .* contains NaN|c0 contains NaN"):
        rnnkit.LSTM(3, 4).forward(x, (np.zeros((1, 2, 4)), np.full((1, 2, 4), np.nan)))


def test_bad_dy_shape():
    layer = rnnkit.LSTM(3, 4)
    layer.forward(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match=r"dy of shape \(2, 3, 4\)"):
        layer.backward(np.zeros((2, 3, 5)))


@pytest.mark.parametrize("kind", KINDS)
def test_deepcopy_and_pickle(kind):
    import copy
    import pickle

    layer = LAYERS[kind](3, 4, num_layers=2, seed=0)
    x = np.ones((1, 2, 3), np.float32)
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        np.testing.assert_array_equal(clone.forward(x)[0], layer.forward(x)[0])
        assert clone.params["weight_ih_l0"] is not layer.params["weight_ih_l0"]


@pytest.mark.parametrize("kind", KINDS)
def test_cell_params_drive_the_matching_torch_cell(kind):
    """cell_params(layer, direction) holds torch.nn.*Cell's weights for that layer."""
    torch = pytest.importorskip("torch")
    layer = LAYERS[kind](3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    p = layer.cell_params(1, 1)
    cell = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[kind](
        8, 4, dtype=torch.float64)
    cell.load_state_dict({k: torch.tensor(v) for k, v in p.items()})
    assert p["weight_ih"] is layer.params["weight_ih_l1_reverse"]
    from rnnkit.core.cells import CELLS

    x = np.random.default_rng(0).standard_normal((2, 8))
    carry = tuple(np.zeros((2, 4)) for _ in CELLS[kind].CARRY)
    with torch.no_grad():
        expected = cell(torch.tensor(x))
    expected = (expected[0] if kind == "lstm" else expected).numpy()
    _, got, _ = CELLS[kind].step(p, x, carry)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


class CountingWeight(np.ndarray):
    """A parameter view that counts the products ``a @ w`` it takes part in (reflected)."""
    calls = 0

    def __rmatmul__(self, other):
        CountingWeight.calls += 1
        return np.matmul(other, np.asarray(self))


def _backward_both_ways(kind, backend, **kw):
    """Gradients of the same forward, with and without the input gradient."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 6, 4))  # (B, T, I)
    runs = []
    for need in (True, False):
        layer = LAYERS[kind](4, 5, num_layers=2, bidirectional=True, dtype=np.float64, seed=0,
                             backend=backend, **kw)
        y, _ = layer.forward(x, lengths=[6, 2, 4])
        dx, dstate0 = layer.backward(np.cos(y), need_input_grad=need)
        runs.append((dx, dstate0, layer.grads))
    return runs


@pytest.mark.parametrize("kind,variant", [(kind, {}) for kind in KINDS]
                         + [("lstm", {"proj_size": 2}), ("lstm", {"layer_norm": True}),
                            ("gru", {"learn_initial_state": True})])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_backward_without_input_grad_keeps_every_other_gradient(kind, variant, backend):
    (dx, dstate0, grads), (no_dx, no_dx_dstate0, no_dx_grads) = _backward_both_ways(
        kind, backend, **variant)
    assert dx.shape == (3, 6, 4) and no_dx is None
    for a, b in zip(carried(kind, dstate0), carried(kind, no_dx_dstate0), strict=True):
        np.testing.assert_array_equal(a, b)
    assert grads.keys() == no_dx_grads.keys()
    for name in grads:
        np.testing.assert_array_equal(grads[name], no_dx_grads[name], err_msg=name)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("in_loop", [False, True])
def test_backward_without_input_grad_skips_the_product_with_weight_ih(backend, in_loop,
                                                                      monkeypatch):
    """Only the first layer's dx = dG W_ih is skipped; the second layer's is still needed.
    The scans compute dx given W_ih (the numba loop step by step, where the weights fit in L2:
    ``in_loop``), else the stack does, with a product ``@ W_ih`` counted here."""
    from rnnkit.core import backends, paths

    monkeypatch.setattr(paths, "l2_bytes", lambda: (1 << 30) if in_loop else 0)
    monkeypatch.setattr(paths, "l3_share_bytes", lambda: 0)
    monkeypatch.setattr(paths, "PROJECT_IN_LOOP_BYTES", 0)
    scans = backends.get_backend(backend)
    original, computed = scans.scan_backward, []

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        computed.append(out[3] is not None)  # dx, from the scan
        return out
    monkeypatch.setattr(scans, "scan_backward", spy)
    layer = rnnkit.LSTM(16, 8, num_layers=2, bidirectional=True, seed=0, backend=backend)
    x = np.ones((2, 3, 16), np.float32)  # I = 2H = 16: wide enough for dx in the loop
    for name in ["weight_ih_l0", "weight_ih_l0_reverse", "weight_ih_l1", "weight_ih_l1_reverse"]:
        layer.params[name] = layer.params[name].view(CountingWeight)
    products = {}
    for need in (True, False):
        y, _ = layer.forward(x)
        CountingWeight.calls, computed[:] = 0, []
        layer.backward(np.ones_like(y), need_input_grad=need)
        products[need] = sum(computed), CountingWeight.calls
    # per layer and direction: dx = dG W_ih; in numba's loop, without a product in Python
    in_numba_loop = backend == "numba" and in_loop
    assert products == {True: (4, 0 if in_numba_loop else 4),
                        False: (2, 0 if in_numba_loop else 2)}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_no_grad_forward_keeps_nothing_and_gives_the_same_output(kind, backend):
    layer = LAYERS[kind](3, 4, num_layers=2, bidirectional=True, seed=0, backend=backend)
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    y, st = layer.forward(x, lengths=[5, 3])
    with no_grad():
        y_ng, st_ng = layer.forward(x, lengths=[5, 3])
    assert layer._cache is None
    np.testing.assert_array_equal(y_ng, y)
    for a, b in zip(carried(kind, st_ng), carried(kind, st), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(RuntimeError, match="needs a forward"):
        layer.backward(np.ones_like(y))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_no_grad_forward_in_numba_holds_no_states_over_time(kind):
    """The numba loops keep inference's states as a ring of two steps, and project x_t in the
    loop at this size: under no_grad, what the forward holds besides its output grows from
    T = 400 to 800 by less than a tenth of the 400 steps' states that every step's states
    kept would add (it grew by 11 KB against 410 KB); outputs and final states as the
    NumPy loop's."""
    def extra(T, backend):
        layer = LAYERS[kind](2, 32, seed=0, backend=backend)
        x = np.ones((4, T, 2), np.float32)  # (B, T, I)
        with no_grad():
            layer.forward(x[:, :2])  # compile outside the measurement
            tracemalloc.start()
            y, st = layer.forward(x)
            top = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return top - y.nbytes, (y, *carried(kind, st))

    (short, _), (long, got) = extra(400, "numba"), extra(800, "numba")
    states = len(CELLS[kind].CARRY) * 400 * 4 * 32 * 4  # bytes of 400 steps' carries
    assert long - short < 0.1 * states
    for a, b in zip(got, extra(800, "numpy")[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind,kept", [("lstm", 5), ("gru", 4)])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_no_grad_forward_allocates_no_activations_over_time(kind, kept, backend):
    """Under no_grad the time loop reuses one step's gate activations: the peak is that of
    the input projection, the states and the output, not ``kept`` more outputs' worth."""
    layer = LAYERS[kind](2, 32, seed=0, backend=backend)
    x = np.ones((4, 400, 2), np.float32)  # (B, T, I)
    layer.forward(x[:, :2])  # compile outside the measurement

    def peak(grad):
        tracemalloc.start()
        if grad:
            y, _ = layer.forward(x)
        else:
            with no_grad():
                y, _ = layer.forward(x)
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return top / y.nbytes

    assert peak(grad=False) < peak(grad=True) - kept + 0.5
