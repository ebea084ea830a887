"""Parity of RNN/LSTM/GRU with torch.nn on a seeded sweep of random configurations:
outputs, final states, input and initial-state gradients and every parameter gradient."""
import numpy as np
import pytest

import rnnkit

pytest.importorskip("torch")
from rnnkit.core.backends import numba_available
from helpers import rel_error, torch_layer_forward_backward

BACKENDS = ["numpy"] + (["numba"] if numba_available() else [])
LAYERS = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}
TOL = {np.float64: 1e-10, np.float32: 1e-5}


def random_config(kind, seed):
    """A random layer configuration; the first seeds pin the edge cases T=1, B=1, saturation."""
    r = np.random.default_rng(seed)
    cfg = dict(
        B=[1, 3, 1][seed] if seed < 3 else int(r.integers(1, 6)),
        T=[1, 1, 6][seed] if seed < 3 else int(r.integers(1, 9)),
        I=int(r.integers(1, 6)), H=int(r.integers(1, 7)),
        num_layers=int(r.integers(1, 4)), bidirectional=bool(r.integers(2)),
        bias=bool(r.random() < 0.8), lengths=bool(r.integers(2)), state=bool(r.integers(2)),
        scale=50.0 if seed == 2 or r.random() < 0.15 else 1.0,
    )
    if kind == "rnn":
        cfg["nonlinearity"] = ["tanh", "relu"][int(r.integers(2))]
    return cfg


def run_parity(kind, cfg, dtype, backend, seed):
    r = np.random.default_rng(1000 + seed)
    kw = dict(num_layers=cfg["num_layers"], bidirectional=cfg["bidirectional"], bias=cfg["bias"],
              dtype=dtype, seed=seed, backend=backend)
    if kind == "rnn":
        kw["nonlinearity"] = cfg["nonlinearity"]
    layer = LAYERS[kind](cfg["I"], cfg["H"], **kw)
    B, T = cfg["B"], cfg["T"]
    x = (cfg["scale"] * r.standard_normal((B, T, cfg["I"]))).astype(dtype)
    n = cfg["num_layers"] * layer.num_directions
    shape = (n, B, cfg["H"])
    state = None
    if cfg["state"]:
        h0 = r.standard_normal(shape).astype(dtype)
        state = (h0, r.standard_normal(shape).astype(dtype)) if kind == "lstm" else h0
    lengths = r.integers(1, T + 1, size=B) if cfg["lengths"] else None
    if lengths is not None:
        lengths[r.integers(B)] = T  # torch's packed output needs one full-length sequence
    y, st = layer.forward(x, state, lengths=lengths)
    dy = r.standard_normal(y.shape).astype(dtype)
    dh = r.standard_normal(shape).astype(dtype)
    dstate = (dh, r.standard_normal(shape).astype(dtype)) if kind == "lstm" else dh
    dx, dst0 = layer.backward(dy, dstate)
    ref = torch_layer_forward_backward(layer, x, state, lengths, dy, dstate)

    tol = TOL[dtype]
    got = {"y": y, "dx": dx}
    if kind == "lstm":
        got.update(h_n=st[0], c_n=st[1], dh0=dst0[0], dc0=dst0[1])
    else:
        got.update(h_n=st, dh0=dst0)
    for name, value in got.items():
        assert rel_error(value, ref[name]) <= tol, (name, rel_error(value, ref[name]))
    assert set(layer.grads) == set(ref["grads"])
    for name, g in ref["grads"].items():
        assert rel_error(layer.grads[name], g) <= tol, (name, rel_error(layer.grads[name], g))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_parity_sweep(kind, dtype, backend):
    for seed in range(12):
        cfg = random_config(kind, seed)
        try:
            run_parity(kind, cfg, dtype, backend, seed)
        except AssertionError as exc:
            raise AssertionError(f"config {cfg} (seed {seed}): {exc}") from None


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_weights_move_both_ways(kind):
    """A torch module's state_dict loads into rnnkit and back, and both compute the same y."""
    import torch

    from helpers import torch_layer

    a = LAYERS[kind](4, 5, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    b = LAYERS[kind](4, 5, num_layers=2, bidirectional=True, dtype=np.float64, seed=2)
    module = torch_layer(a)  # rnnkit -> torch
    b.load_state_dict({k: v.detach().numpy() for k, v in module.state_dict().items()})  # and back
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    with torch.no_grad():
        y_torch = module(torch.tensor(x))[0].numpy()
    assert rel_error(b.forward(x)[0], y_torch) <= 1e-12
    assert list(b.params) == list(module.state_dict())  # same names, same order
    for k, v in module.state_dict().items():
        assert b.params[k].shape == tuple(v.shape)
