"""Long short-term memory cell, as ``torch.nn.LSTMCell`` (gate order i, f, g, o).

    [a_i, a_f, a_g, a_o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
    i = s(a_i)   f = s(a_f)   g = tanh(a_g)   o = s(a_o)          (s = sigmoid)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Shapes: x_t (B, I), h and c (B, H), W_ih (4H, I), W_hh (4H, H), biases (4H,).
Reference: Hochreiter & Schmidhuber (1997); Gers, Schmidhuber & Cummins (2000) for the forget gate.
"""
from __future__ import annotations

import numpy as np

from rnnkit.core.activations import dsigmoid, dtanh, sigmoid
from rnnkit.core.cells._common import hidden_projection, project, project_backward

GATES = 4


def recur(gx, h_prev, c_prev, w_hh, b_hh=None):
    """One step given gx = x_t W_ih^T + b_ih (B, 4H). Returns (h, c, cache)."""
    H = h_prev.shape[-1]
    acts = gx + hidden_projection(h_prev, w_hh, b_hh)  # (B, 4H) pre-activations
    sigmoid(acts[:, : 2 * H], out=acts[:, : 2 * H])  # i, f
    np.tanh(acts[:, 2 * H : 3 * H], out=acts[:, 2 * H : 3 * H])  # g
    sigmoid(acts[:, 3 * H :], out=acts[:, 3 * H :])  # o
    i, f, g, o = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H : 3 * H], acts[:, 3 * H :]
    c = f * c_prev + i * g  # (B, H)
    tc = np.tanh(c)  # (B, H)
    h = o * tc
    return h, c, (h_prev, c_prev, acts, tc)


def recur_backward(dh, dc, cache, w_hh):
    """Backward of :func:`recur`. ``dc`` is the gradient arriving at c_t from later steps.

    Returns (dgx, dgh, dh_prev, dc_prev); dgx and dgh are equal for the LSTM.
    """
    h_prev, c_prev, acts, tc = cache
    H = h_prev.shape[-1]
    i, f, g, o = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H : 3 * H], acts[:, 3 * H :]
    dc = dc + dh * o * dtanh(tc)  # backprop through h = o * tanh(c)
    da = np.empty_like(acts)  # (B, 4H)
    da[:, :H] = dc * g * dsigmoid(i)  # backprop through c = f c_prev + i g, then sigmoid
    da[:, H : 2 * H] = dc * c_prev * dsigmoid(f)
    da[:, 2 * H : 3 * H] = dc * i * dtanh(g)
    da[:, 3 * H :] = dh * tc * dsigmoid(o)
    dh_prev = da @ w_hh  # backprop through h_{t-1} W_hh^T
    dc_prev = dc * f
    return da, da, dh_prev, dc_prev


def cell(params, x, h_prev, c_prev):
    """Full step with ``torch.nn.LSTMCell`` parameters. Returns (h, c, cache)."""
    h, c, rcache = recur(project(params, x), h_prev, c_prev, params["weight_hh"],
                         params.get("bias_hh"))
    return h, c, (x, rcache)


def cell_backward(params, dh, dc, cache):
    """Backward of :func:`cell`. Returns (dx, dh_prev, dc_prev, grads)."""
    x, rcache = cache
    dgx, dgh, dh_prev, dc_prev = recur_backward(dh, dc, rcache, params["weight_hh"])
    grads: dict[str, np.ndarray] = {}
    dx = project_backward(params, x, rcache[0], dgx, dgh, grads)
    return dx, dh_prev, dc_prev, grads
