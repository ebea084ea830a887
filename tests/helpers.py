"""The one module of test helpers: central finite differences, the relative error, a
finite-difference check of a module, and the PyTorch references (any float64 computation,
and torch.nn.RNN/LSTM/GRU on an rnnkit layer's weights). torch is imported only when used."""
from __future__ import annotations

import json

import numpy as np


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` of a scalar f.

    ``x`` is perturbed IN PLACE, one entry at a time, and restored, so f may ignore its
    argument and read x through a module (``numerical_grad(lambda _: loss(), W)``).
    Use float64 arrays.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        f_plus = float(f(x))
        x[i] = old - eps
        f_minus = float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def rel_error(a, b) -> float:
    """max |a - b| / max(|a|, |b|, 1e-12): a scale-free distance for gradient checks."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    scale = max(np.abs(a).max(initial=0), np.abs(b).max(initial=0), 1e-12)
    return float(np.abs(a - b).max(initial=0) / scale)


def check_module_grads(module, x, *, forward_kwargs=None, check_input=True, tol=1e-7,
                       seed=0, backward_kwargs=None):
    """Finite-difference check of ``module.backward`` in float64.

    With L = sum(forward(x) * dy) for a random dy, compares dL/dx (if ``check_input``) and
    dL/d(every parameter) from backward (called with ``backward_kwargs``) against
    ``numerical_grad``.
    """
    kw = forward_kwargs or {}
    rng = np.random.default_rng(seed)
    y = module.forward(x, **kw)
    dy = rng.standard_normal(np.shape(y))

    def loss(_):
        return float(np.sum(module.forward(x, **kw) * dy))

    module.zero_grad()
    module.forward(x, **kw)
    dx = module.backward(dy, **(backward_kwargs or {}))
    if check_input:
        assert rel_error(dx, numerical_grad(loss, x)) < tol, "input gradient"
    for name, p in module.params.items():
        err = rel_error(module.grads[name], numerical_grad(loss, p))
        assert err < tol, f"gradient of {name}: relative error {err:.2e}"


def torch_forward_backward(fn, arrays, dout=None):
    """Run ``fn(*tensors)`` in PyTorch float64 and backpropagate ``dout`` (1 for a scalar).

    Float arrays become leaf tensors that require grad; integer arrays pass as int64.
    Returns (output as numpy, [gradient as numpy, or None for integer inputs]).
    """
    import torch

    tensors = []
    for a in arrays:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            tensors.append(torch.tensor(a, dtype=torch.float64, requires_grad=True))
        else:
            tensors.append(torch.tensor(a, dtype=torch.int64))
    out = fn(*tensors)
    grad_out = torch.ones_like(out) if dout is None else torch.tensor(dout, dtype=out.dtype)
    out.backward(grad_out)
    grads = [None if t.grad is None and not t.requires_grad else
             (np.zeros(t.shape) if t.grad is None else t.grad.numpy()) for t in tensors]
    return out.detach().numpy(), grads


# --- torch.nn.RNN/LSTM/GRU on an rnnkit layer's weights ---------------------------------
TORCH_CLASSES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def torch_layer(layer):
    """A torch.nn module with the same settings and weights as an rnnkit layer."""
    import torch

    cls = getattr(torch.nn, TORCH_CLASSES[layer.kind])
    kwargs = dict(num_layers=layer.num_layers, bias=layer.bias,
                  bidirectional=layer.bidirectional, batch_first=True,
                  dtype=torch.float64 if layer.dtype == np.float64 else torch.float32)
    if layer.kind == "rnn":
        kwargs["nonlinearity"] = layer.spec.nonlinearity
    if layer.spec.proj_size:
        kwargs["proj_size"] = layer.spec.proj_size
    module = cls(layer.input_size, layer.hidden_size, **kwargs)
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in layer.params.items()})
    return module


def torch_layer_forward_backward(layer, x, state=None, lengths=None, dy=None, dstate=None):
    """Run torch on the layer's weights; returns a dict of numpy arrays:
    y, h_n, (c_n), and when dy is given dx, dh0, (dc0) and grads {name: array}."""
    import torch

    module = torch_layer(layer)
    T = x.shape[1]
    xt = torch.tensor(x, requires_grad=True)
    B, D = x.shape[0], layer.num_layers * layer.num_directions
    if state is None:
        zeros = np.zeros((D, B, layer.hidden_size), x.dtype)
        h0 = np.zeros((D, B, layer.spec.proj_size or layer.hidden_size), x.dtype)
        state = (h0, zeros) if layer.kind == "lstm" else zeros
    if layer.kind == "lstm":
        st = tuple(torch.tensor(s, requires_grad=True) for s in state)
    else:
        st = torch.tensor(state, requires_grad=True)
    inp = xt
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, st_n = module(inp, st)
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
    res = {"y": out.detach().numpy()}
    if layer.kind == "lstm":
        res["h_n"], res["c_n"] = st_n[0].detach().numpy(), st_n[1].detach().numpy()
    else:
        res["h_n"] = st_n.detach().numpy()
    if dy is None:
        return res
    loss = (out * torch.tensor(dy)).sum()
    if dstate is not None:
        if layer.kind == "lstm":
            loss = loss + (st_n[0] * torch.tensor(dstate[0])).sum()
            loss = loss + (st_n[1] * torch.tensor(dstate[1])).sum()
        else:
            loss = loss + (st_n * torch.tensor(dstate)).sum()
    loss.backward()
    res["dx"] = xt.grad.numpy()
    if layer.kind == "lstm":
        res["dh0"], res["dc0"] = st[0].grad.numpy(), st[1].grad.numpy()
    else:
        res["dh0"] = st.grad.numpy()
    res["grads"] = {k: p.grad.numpy() for k, p in module.named_parameters()}
    return res


def check_recurrent_grads(layer, x, state=None, lengths=None, *, reset=None, tol=1e-7,
                          seed=0):
    """Finite-difference check, entry by entry in float64, of a recurrent layer's backward:
    dx, the initial state's gradient (when ``state`` is given) and every parameter's, for
    L = <y, wy> + <final state, ws> with random wy, ws. ``reset()`` runs before every forward
    (e.g. to draw the same dropout masks each time). Returns the largest relative error."""
    rng = np.random.default_rng(seed)

    def parts(s):
        return s if isinstance(s, tuple) else (s,)

    y, st = layer.forward(x, state, lengths=lengths)
    wy = rng.standard_normal(y.shape)
    ws = tuple(rng.standard_normal(a.shape) for a in parts(st))

    def loss(_):
        if reset:
            reset()
        y, st = layer.forward(x, state, lengths=lengths)
        return np.sum(y * wy) + sum(np.sum(a * w) for a, w in zip(parts(st), ws))

    layer.zero_grad()
    loss(None)
    dx, dst0 = layer.backward(wy, ws if isinstance(st, tuple) else ws[0])
    exact = {"x": dx, **{k: g.copy() for k, g in layer.grads.items()}}
    arrays = {"x": x, **layer.params}
    if state is not None:
        exact.update({f"state[{i}]": d for i, d in enumerate(parts(dst0))})
        arrays.update({f"state[{i}]": a for i, a in enumerate(parts(state))})
    worst = 0.0
    for name, arr in arrays.items():
        err = rel_error(exact[name], numerical_grad(loss, arr))
        assert err < tol, f"gradient of {name}: relative error {err:.2e}"
        worst = max(worst, err)
    return worst


# --- the command line -----------------------------------------------------------------------------
def run_cli(capsys, *args):
    """``rnnkit ARGS`` in this process: (exit code, stdout, stderr)."""
    from rnnkit.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out: str):
    """The JSON object on the last line of a command's stdout (``--json``)."""
    return json.loads(out.strip().splitlines()[-1])
