"""Backpropagation through time checked against central finite differences in float64.

Each layer configuration is checked along random directions v of every array (input, initial
state, each parameter): <grad, v> must equal (L(p + e v) - L(p - e v)) / 2e. One small case per
kind is also checked entry by entry, and so is every cell's ``step_backward``, for every
setting the cell takes.
"""
import itertools

import numpy as np
import pytest

import rnnkit
from helpers import numerical_grad
from rnnkit.core.backends import numba_available
from rnnkit.core.cells import CELLS

BACKENDS = ["numpy"] + (["numba"] if numba_available() else [])
LAYERS = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}
EPS = 1e-6


def public_state(parts):
    """The layers' form of a state: the array h alone, or the tuple (h, c)."""
    return parts[0] if len(parts) == 1 else tuple(parts)


def state_parts(state):
    return state if isinstance(state, tuple) else (state,)


def make_problem(kind, num_layers, bidirectional, use_lengths, use_state, backend,
                 nonlinearity="tanh", B=3, T=4, I=3, H=4, seed=0):
    """A layer, its inputs, and a scalar loss L = <y, Wy> + <state_n, Ws> as a function."""
    r = np.random.default_rng(seed)
    carry = CELLS[kind].CARRY  # ("h",) or ("h", "c")
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, dtype=np.float64, seed=seed,
              backend=backend)
    if "nonlinearity" in CELLS[kind].OPTIONS:
        kw["nonlinearity"] = nonlinearity
    layer = LAYERS[kind](I, H, **kw)
    n = num_layers * layer.num_directions
    arrays = {"x": r.standard_normal((B, T, I))}
    if use_state:
        arrays.update({name + "0": r.standard_normal((n, B, H)) for name in carry})
    lengths = np.array([T, 1, 2][:B]) if use_lengths else None
    wy = r.standard_normal((B, T, layer.num_directions * H))
    ws = [r.standard_normal((n, B, H)) for _ in carry]

    def state_of(a):
        return public_state([a[name + "0"] for name in carry]) if use_state else None

    def loss(a):
        y, st = layer.forward(a["x"], state_of(a), lengths=lengths)
        return np.sum(y * wy) + sum(np.sum(s * w) for s, w in zip(state_parts(st), ws))

    def analytic(a):
        layer.zero_grad()
        layer.forward(a["x"], state_of(a), lengths=lengths)
        dx, dst = layer.backward(wy, public_state(ws))
        g = {"x": dx}
        if use_state:
            g.update({name + "0": d for name, d in zip(carry, state_parts(dst))})
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
    for name, arr in {**arrays, **layer.params}.items():
        numeric = numerical_grad(lambda _: loss(arrays), arr, EPS)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


# --- the cells' step_backward --------------------------------------------------------------
SETTINGS = {"nonlinearity": ["tanh", "relu", "sigmoid"]}  # every value of every cell option


def cell_cases():
    """(kind, options) for every cell and every combination of the settings it takes."""
    for kind, cell in sorted(CELLS.items()):
        for values in itertools.product(*(SETTINGS[name] for name in cell.OPTIONS)):
            yield kind, dict(zip(cell.OPTIONS, values))


def cell_problem(cell, bias, seed=0, B=3, I=4, H=5):
    """Parameters, x_t, a carry, and the gradients dh_t and dcarry that weight the loss."""
    r = np.random.default_rng(seed)
    G = cell.GATES
    params = {"weight_ih": r.standard_normal((G * H, I)), "weight_hh": r.standard_normal((G * H, H))}
    if bias:
        params.update(bias_ih=r.standard_normal(G * H), bias_hh=r.standard_normal(G * H))
    carry = tuple(r.standard_normal((B, H)) for _ in cell.CARRY)
    dcarry = tuple(r.standard_normal((B, H)) for _ in cell.CARRY)
    return params, r.standard_normal((B, I)), carry, r.standard_normal((B, H)), dcarry


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind,options", list(cell_cases()))
def test_cell_step_backward_every_entry(kind, options, bias):
    """step_backward against central differences of L = <h_t, dh_t> + <carry_t, dcarry>."""
    cell = CELLS[kind]
    params, x, carry, dh, dcarry = cell_problem(cell, bias)

    def loss(_):
        new, h, _ = cell.step(params, x, carry, **options)
        return np.sum(h * dh) + sum(np.sum(a * d) for a, d in zip(new, dcarry))

    _, _, cache = cell.step(params, x, carry, **options)
    dx, dcarry_prev, grads = cell.step_backward(params, dh, dcarry, cache, **options)
    assert grads.keys() == params.keys()
    got = {"x": dx, **dict(zip(cell.CARRY, dcarry_prev)), **grads}
    for name, arr in {"x": x, **dict(zip(cell.CARRY, carry)), **params}.items():
        np.testing.assert_allclose(got[name], numerical_grad(loss, arr, EPS), rtol=1e-6,
                                   atol=1e-8, err_msg=name)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_cell_step_backward_without_dcarry_is_zero_dcarry(kind):
    cell = CELLS[kind]
    params, x, carry, dh, dcarry = cell_problem(cell, True)
    _, _, cache = cell.step(params, x, carry)
    zeros = tuple(np.zeros_like(d) for d in dcarry)
    dx, dcarry_prev, grads = cell.step_backward(params, dh, None, cache)
    dx_zeros, dcarry_prev_zeros, grads_zeros = cell.step_backward(params, dh, zeros, cache)
    np.testing.assert_array_equal(dx, dx_zeros)
    np.testing.assert_array_equal(dcarry_prev, dcarry_prev_zeros)
    for name in params:
        np.testing.assert_array_equal(grads[name], grads_zeros[name], err_msg=name)
