"""``layer.stream()``: the fused streaming path equals ``layer.forward`` and ``layer.step``,
checks its input, refuses what it does not cover, and keeps its memory flat."""
import tracemalloc

import numpy as np
import pytest

import rnnkit

T = 50
VARIANTS = {  # name -> (layer class, keywords)
    "rnn-tanh": (rnnkit.RNN, {}),
    "rnn-relu": (rnnkit.RNN, {"nonlinearity": "relu"}),
    "lstm": (rnnkit.LSTM, {}),
    "lstm-peephole": (rnnkit.LSTM, {"peephole": True}),
    "lstm-proj": (rnnkit.LSTM, {"proj_size": 3}),
    "gru": (rnnkit.GRU, {}),
}
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def make(variant, num_layers=1, dtype=np.float64, **kw):
    cls, options = VARIANTS[variant]
    return cls(4, 6, num_layers=num_layers, seed=0, dtype=dtype, **options, **kw)


def random_state(layer, batch, rng):
    """A state in the layer's format, (L, B, W) per carried array, or (L, W) for batch None."""
    lead = (layer.num_layers,) if batch is None else (layer.num_layers, batch)
    h = rng.standard_normal((*lead, layer.output_size)).astype(layer.dtype)
    if layer.kind != "lstm":
        return h
    return h, rng.standard_normal((*lead, layer.hidden_size)).astype(layer.dtype)


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def assert_states_close(got, want, tol):
    for a, b in zip(as_tuple(got), as_tuple(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_stream_equals_forward_and_step(variant, num_layers, batch, with_state, dtype):
    layer = make(variant, num_layers, dtype)
    rng = np.random.default_rng(1)
    x = (2 * rng.standard_normal((batch, T, 4))).astype(dtype)  # (B, T, I), some saturation
    state0 = random_state(layer, batch, rng) if with_state else None
    y, state_n = layer.forward(x, state0)  # (B, T, W)
    stream, state, tol = layer.stream(batch, state0), state0, TOL[dtype]
    for t in range(T):
        y_t = stream.step(x[:, t])  # (B, W)
        y_step, state = layer.step(x[:, t], state)
        np.testing.assert_allclose(y_t, y[:, t], rtol=0, atol=tol)
        np.testing.assert_allclose(y_t, y_step, rtol=0, atol=tol)
        assert y_t.dtype == dtype
    assert_states_close(stream.state, state_n, tol)


@pytest.mark.parametrize("variant", ["rnn-tanh", "lstm", "gru"])
def test_without_biases(variant):
    layer = make(variant, num_layers=2, bias=False)
    x = np.random.default_rng(5).standard_normal((2, 10, 4))  # (B, T, I)
    y, _ = layer.forward(x)
    stream = layer.stream(2)
    for t in range(10):
        np.testing.assert_allclose(stream.step(x[:, t]), y[:, t], rtol=0, atol=1e-12)


@pytest.mark.parametrize("variant", ["lstm-proj", "gru"])
def test_unbatched_steps_and_state_as_layer_step(variant):
    """x_t (I,) and a state (L, W) with batch_size 1, as layer.step takes them unbatched."""
    layer = make(variant, num_layers=2)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((T, 4))  # (T, I)
    state = state0 = random_state(layer, None, rng)  # (L, W) per array
    stream = layer.stream(1, state0)
    for t in range(T):
        y_t = stream.step(x[t])
        y_step, state = layer.step(x[t], state)
        assert y_t.shape == y_step.shape == (layer.output_size,)
        np.testing.assert_allclose(y_t, y_step, rtol=0, atol=1e-12)
    assert_states_close(stream.state, tuple(a[:, None] for a in as_tuple(state)), 1e-12)


@pytest.mark.parametrize("variant", ["lstm", "lstm-proj", "gru"])
def test_starts_from_the_learned_initial_state(variant):
    layer = make(variant, num_layers=2, learn_initial_state=True)
    rng = np.random.default_rng(3)
    for name in ("h0", "c0"):
        if name in layer.params:
            layer.params[name][...] = rng.standard_normal(layer.params[name].shape)
    x = rng.standard_normal((2, 10, 4))  # (B, T, I)
    y, _ = layer.forward(x)
    stream = layer.stream(2)
    for t in range(10):
        np.testing.assert_allclose(stream.step(x[:, t]), y[:, t], rtol=0, atol=1e-12)


def test_reset_returns_to_the_starting_state_and_state_is_a_copy():
    layer = make("lstm", num_layers=2)
    rng = np.random.default_rng(4)
    x, state0 = rng.standard_normal((5, 4)), random_state(layer, 1, rng)
    stream = layer.stream(1, state0)
    first = [stream.step(x_t).copy() for x_t in x]
    snapshot = stream.state
    stream.step(x[0])
    assert not np.array_equal(snapshot[0], stream.state[0])  # a copy, not the live buffer
    stream.reset()
    assert_states_close(stream.state, state0, 0)
    np.testing.assert_array_equal([stream.step(x_t).copy() for x_t in x], first)


@pytest.mark.parametrize("x_t, message", [
    (np.zeros(5), "feature size 4"),
    (np.zeros((1, 5)), "feature size 4"),
    (np.zeros((2, 4)), "batch size 1"),
    (np.zeros((1, 1, 4)), "1D .* or 2D .* got 3D"),
    (np.zeros(()), "got 0D"),
    (np.array([0.0, np.nan, 0.0, 0.0]), "NaN"),
    (np.array([[0.0, 0.0, np.inf, 0.0]]), "inf"),
    ("abcd", "must be numeric"),
])
def test_bad_input_is_named(x_t, message):
    stream = make("gru").stream(1)
    before = stream.state
    with pytest.raises(ValueError, match=message):
        stream.step(x_t)
    np.testing.assert_array_equal(stream.state, before)  # a refused step changes nothing


def test_unbatched_input_needs_batch_size_one():
    with pytest.raises(ValueError, match="unbatched, but the stream's batch size is 3"):
        make("rnn-tanh").stream(3).step(np.zeros(4))


@pytest.mark.parametrize("kw, message", [({"bidirectional": True}, "bidirectional"),
                                         ({"layer_norm": True}, "layer_norm")])
def test_refuses_what_the_kernels_do_not_cover(kw, message):
    with pytest.raises(ValueError, match=message):
        make("lstm", **kw).stream()


def test_bad_batch_size_and_state_are_refused_when_made():
    layer = make("lstm")
    with pytest.raises(ValueError, match="batch_size"):
        layer.stream(0)
    with pytest.raises(ValueError, match="shape"):
        layer.stream(2, (np.zeros((1, 3, 6)), None))


def test_memory_is_flat_and_buffers_are_reused():
    """y_t is the same read-only view at every step; no allocation grows with T."""
    layer = make("lstm", num_layers=2, dtype=np.float32)
    stream = layer.stream(1)
    x = np.ones(4, np.float32)  # (I,)
    y0 = stream.step(x)
    assert not y0.flags.writeable

    def peak(steps):
        tracemalloc.start()
        for _ in range(steps):
            y = stream.step(x)
        got = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert y is y0
        return got

    short, long = peak(10), peak(2000)
    assert long <= short + 256  # nothing kept per step
