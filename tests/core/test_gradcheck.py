"""Backpropagation through time checked against central finite differences in float64.

Each layer configuration is checked along random directions v of every array (input, initial
state, each parameter): <grad, v> must equal (L(p + e v) - L(p - e v)) / 2e. One small case per
kind is also checked entry by entry, and the pure cell steps are checked entry by entry.
"""
import itertools

import numpy as np
import pytest

import rnnkit
from rnnkit.core.backends import numba_available
from rnnkit.core.cells import gru as gru_cell
from rnnkit.core.cells import lstm as lstm_cell
from rnnkit.core.cells import rnn as rnn_cell

BACKENDS = ["numpy"] + (["numba"] if numba_available() else [])
LAYERS = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}
EPS = 1e-6


def make_problem(kind, num_layers, bidirectional, use_lengths, use_state, backend,
                 nonlinearity="tanh", B=3, T=4, I=3, H=4, seed=0):
    """A layer, its inputs, and a scalar loss L = <y, Wy> + <state_n, Ws> as a function."""
    r = np.random.default_rng(seed)
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, dtype=np.float64, seed=seed,
              backend=backend)
    if kind == "rnn":
        kw["nonlinearity"] = nonlinearity
    layer = LAYERS[kind](I, H, **kw)
    x = r.standard_normal((B, T, I))
    n = num_layers * layer.num_directions
    arrays = {"x": x}
    if use_state:
        arrays["h0"] = r.standard_normal((n, B, H))
        if kind == "lstm":
            arrays["c0"] = r.standard_normal((n, B, H))
    lengths = np.array([T, 1, 2][:B]) if use_lengths else None
    wy = r.standard_normal((B, T, layer.num_directions * H))
    wh = r.standard_normal((n, B, H))
    wc = r.standard_normal((n, B, H))

    def state_of(a):
        if "h0" not in a:
            return None
        return (a["h0"], a["c0"]) if kind == "lstm" else a["h0"]

    def loss(a):
        y, st = layer.forward(a["x"], state_of(a), lengths=lengths)
        h = st[0] if kind == "lstm" else st
        value = np.sum(y * wy) + np.sum(h * wh)
        if kind == "lstm":
            value += np.sum(st[1] * wc)
        return value

    def analytic(a):
        layer.zero_grad()
        layer.forward(a["x"], state_of(a), lengths=lengths)
        dx, dst = layer.backward(wy, (wh, wc) if kind == "lstm" else wh)
        g = {"x": dx}
        if "h0" in a:
            g["h0"] = dst[0] if kind == "lstm" else dst
            if kind == "lstm":
                g["c0"] = dst[1]
        g.update({k: v.copy() for k, v in layer.grads.items()})
        return g

    return layer, arrays, loss, analytic


def directional_check(layer, arrays, loss, analytic, n_dirs=2, seed=0):
    r = np.random.default_rng(seed)
    grads = analytic(arrays)
    targets = dict(arrays)
    targets.update(layer.params)  # parameters are perturbed in place
    for name, arr in targets.items():
        for _ in range(n_dirs):
            v = r.standard_normal(arr.shape)
            orig = arr.copy()
            arr += EPS * v
            up = loss(arrays)
            arr[...] = orig - EPS * v
            down = loss(arrays)
            arr[...] = orig
            numeric = (up - down) / (2 * EPS)
            exact = float(np.sum(grads[name] * v))
            assert abs(numeric - exact) <= 1e-7 * max(1.0, abs(numeric)), (name, numeric, exact)


CONFIGS = list(itertools.product(sorted(LAYERS), [1, 2], [False, True], [False, True],
                                 [False, True]))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind,num_layers,bidirectional,use_lengths,use_state", CONFIGS)
def test_layer_gradients(kind, num_layers, bidirectional, use_lengths, use_state, backend):
    problem = make_problem(kind, num_layers, bidirectional, use_lengths, use_state, backend)
    directional_check(*problem)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("nonlinearity", ["relu", "sigmoid"])
def test_rnn_other_nonlinearities(nonlinearity, backend):
    problem = make_problem("rnn", 2, True, True, True, backend, nonlinearity=nonlinearity)
    directional_check(*problem)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_layer_gradients_every_entry(kind):
    """Entry-by-entry check of a small bidirectional two-layer case with lengths and state."""
    layer, arrays, loss, analytic = make_problem(kind, 2, True, True, True, "numpy",
                                                 B=2, T=3, I=2, H=2)
    grads = analytic(arrays)
    targets = dict(arrays)
    targets.update(layer.params)
    for name, arr in targets.items():
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            orig = arr[idx]
            arr[idx] = orig + EPS
            up = loss(arrays)
            arr[idx] = orig - EPS
            down = loss(arrays)
            arr[idx] = orig
            numeric[idx] = (up - down) / (2 * EPS)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def cell_problem(kind, seed=0, B=3, I=4, H=5):
    r = np.random.default_rng(seed)
    G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    params = {"weight_ih": r.standard_normal((G * H, I)), "weight_hh": r.standard_normal((G * H, H)),
              "bias_ih": r.standard_normal(G * H), "bias_hh": r.standard_normal(G * H)}
    inputs = {"x": r.standard_normal((B, I)), "h": r.standard_normal((B, H))}
    if kind == "lstm":
        inputs["c"] = r.standard_normal((B, H))
    return params, inputs, r.standard_normal((B, H)), r.standard_normal((B, H))


def cell_loss_and_grads(kind, params, a, wh, wc):
    if kind == "rnn":
        h, cache = rnn_cell.cell(params, a["x"], a["h"])
        dx, dh, grads = rnn_cell.cell_backward(params, wh, cache)
        return np.sum(h * wh), dict(x=dx, h=dh, **grads)
    if kind == "gru":
        h, cache = gru_cell.cell(params, a["x"], a["h"])
        dx, dh, grads = gru_cell.cell_backward(params, wh, cache)
        return np.sum(h * wh), dict(x=dx, h=dh, **grads)
    h, c, cache = lstm_cell.cell(params, a["x"], a["h"], a["c"])
    dx, dh, dc, grads = lstm_cell.cell_backward(params, wh, wc, cache)
    return np.sum(h * wh) + np.sum(c * wc), dict(x=dx, h=dh, c=dc, **grads)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_cell_step_gradients(kind):
    params, inputs, wh, wc = cell_problem(kind)
    _, grads = cell_loss_and_grads(kind, params, inputs, wh, wc)
    for name, arr in {**inputs, **params}.items():
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            orig = arr[idx]
            arr[idx] = orig + EPS
            up = cell_loss_and_grads(kind, params, inputs, wh, wc)[0]
            arr[idx] = orig - EPS
            down = cell_loss_and_grads(kind, params, inputs, wh, wc)[0]
            arr[idx] = orig
            numeric[idx] = (up - down) / (2 * EPS)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)
