"""Reference runs of torch.nn.RNN/LSTM/GRU on an rnnkit layer's weights, for parity tests."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

TORCH_CLASSES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def torch_layer(layer):
    """A torch.nn module with the same settings and weights as an rnnkit layer."""
    cls = getattr(torch.nn, TORCH_CLASSES[layer.kind])
    kwargs = dict(num_layers=layer.num_layers, bias=layer.bias,
                  bidirectional=layer.bidirectional, batch_first=True,
                  dtype=torch.float64 if layer.dtype == np.float64 else torch.float32)
    if layer.kind == "rnn":
        kwargs["nonlinearity"] = layer.spec.nonlinearity
    module = cls(layer.input_size, layer.hidden_size, **kwargs)
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in layer.params.items()})
    return module


def torch_forward_backward(layer, x, state=None, lengths=None, dy=None, dstate=None):
    """Run torch on the layer's weights; returns a dict of numpy arrays:
    y, h_n, (c_n), and when dy is given dx, dh0, (dc0) and grads {name: array}."""
    module = torch_layer(layer)
    T = x.shape[1]
    xt = torch.tensor(x, requires_grad=True)
    B, D = x.shape[0], layer.num_layers * layer.num_directions
    if state is None:
        zeros = np.zeros((D, B, layer.hidden_size), x.dtype)
        state = (zeros, zeros) if layer.kind == "lstm" else zeros
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


def rel_err(a, b) -> float:
    """max |a - b| / max |b|: the error relative to the array's scale."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
