"""unroll / backprop_steps: the per-step gradients dL/dh_t, dL/dc_t equal finite differences
(float64) and torch's per-step cell states' .grad; the forward and dx equal the layer's own."""
import numpy as np
import pytest

import rnnkit
from helpers import numerical_grad, rel_error
from rnnkit.core.cells import CELLS
from rnnkit.nn.unroll import ACT_NAMES, backprop_steps, unroll

LAYERS = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}


def small(kind, seed=0, **kw):
    return LAYERS[kind](2, 3, dtype=np.float64, seed=seed, **kw)


def last_step_dy(y, w):
    dy = np.zeros_like(y)
    dy[:, -1] = w
    return dy


def bumped_loss(layer, x, w, t, name, bump, o_t):
    """L = sum_b w . h_T^b with ``bump`` added to h_t, or to c_t before h_t = o_t tanh(c_t)."""
    cell, params = CELLS[layer.kind], layer.cell_params(0)
    carry = tuple(np.zeros((x.shape[0], 3)) for _ in cell.CARRY)
    for s in range(x.shape[1]):
        carry, _, _ = cell.step(params, x[:, s], carry, **layer.spec.options)
        if s == t and name == "c":
            carry = (o_t * np.tanh(carry[1] + bump), carry[1] + bump)
        elif s == t:
            carry = (carry[0] + bump, *carry[1:])
    return float((carry[0] @ w).sum())


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_per_step_gradients_equal_finite_differences(kind):
    """Perturb h_t (the output and the carry handed to step t+1), or c_t before h_t = o_t
    tanh(c_t) is made from it, and read L = sum_b w . h_T^b: the slopes are dL/dh_t, dL/dc_t."""
    layer = small(kind, seed=1)
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 4, 2)), rng.standard_normal(3)
    g = backprop_steps(layer, u := unroll(layer, x), last_step_dy(u.y, w))
    for t in range(4):
        for name in CELLS[kind].CARRY:
            bump = np.zeros((2, 3))
            o_t = u.acts["o"][0, :, t] if kind == "lstm" else None
            numeric = numerical_grad(
                lambda b, t=t, name=name, o_t=o_t: bumped_loss(layer, x, w, t, name, b, o_t),
                bump)
            assert rel_error(g.dstates[name][0, :, t], numeric) < 1e-8, (name, t)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_per_step_gradients_equal_torch_cells(kind):
    torch = pytest.importorskip("torch")
    layer = small(kind, seed=3)
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((3, 6, 2)), rng.standard_normal(3)
    g = backprop_steps(layer, u := unroll(layer, x), last_step_dy(u.y, w))

    cls = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[kind]
    tcell = cls(2, 3, dtype=torch.float64)
    tcell.load_state_dict({k: torch.tensor(v) for k, v in layer.cell_params(0).items()})
    h = torch.zeros(3, 3, dtype=torch.float64)
    c = torch.zeros(3, 3, dtype=torch.float64)
    hs, cs = [], []
    for t in range(6):
        if kind == "lstm":
            h, c = tcell(torch.tensor(x[:, t]), (h, c))
            c.retain_grad()
            cs.append(c)
        else:
            h = tcell(torch.tensor(x[:, t]), h)
        h.retain_grad()
        hs.append(h)
    (hs[-1] @ torch.tensor(w)).sum().backward()
    torch_dh = np.stack([a.grad.numpy() for a in hs], axis=1)  # (B, T, H)
    assert rel_error(g.dstates["h"][0], torch_dh) < 1e-12
    np.testing.assert_allclose(u.states["h"][0], np.stack([a.detach().numpy() for a in hs], 1),
                               rtol=1e-12, atol=1e-14)
    if kind == "lstm":  # c_t.grad: total, c_t reaches L through h_t = o_t tanh(c_t) too
        torch_dc = np.stack([a.grad.numpy() for a in cs], axis=1)
        assert rel_error(g.dstates["c"][0], torch_dc) < 1e-12


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_stack_matches_the_layer(kind):
    """Two layers, both directions, T = 1 and T = 5: y, gates and dx equal the layer's own."""
    for T in (1, 5):
        layer = LAYERS[kind](3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=5,
                             backend="numpy")
        rng = np.random.default_rng(T)
        x = rng.standard_normal((2, T, 3))
        u = unroll(layer, x)
        y, state_n = layer.forward(x)
        dy = rng.standard_normal(y.shape)
        dx, dstate0 = layer.backward(dy)
        g = backprop_steps(layer, u, dy)
        np.testing.assert_allclose(u.y, y, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g.dx, dx, rtol=1e-10, atol=1e-13)
        h0 = dstate0[0] if kind == "lstm" else dstate0
        np.testing.assert_allclose(g.dstate0[0], h0, rtol=1e-10, atol=1e-13)
        assert set(u.acts) == set(ACT_NAMES[kind])
        hn = state_n[0] if kind == "lstm" else state_n
        np.testing.assert_allclose(u.states["h"][-1, :, 0], hn[-1], rtol=1e-12)  # reverse
        if kind == "lstm":
            np.testing.assert_allclose(u.acts["tanh_c"], np.tanh(u.states["c"]), rtol=1e-12)
            assert ((u.acts["f"] > 0) & (u.acts["f"] < 1)).all()


def test_wrong_dy_shape_is_refused():
    layer = small("gru")
    u = unroll(layer, np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match="Expected dy of shape"):
        backprop_steps(layer, u, np.zeros((1, 2, 3)))
