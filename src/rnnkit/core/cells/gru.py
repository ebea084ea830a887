"""Gated recurrent unit, as ``torch.nn.GRUCell`` (gate order r, z, n; b_hn inside the reset).

    [x_r, x_z, x_n] = x_t W_ih^T + b_ih          [h_r, h_z, h_n] = h_{t-1} W_hh^T + b_hh
    r = s(x_r + h_r)    z = s(x_z + h_z)    n = tanh(x_n + r * h_n)
    h_t = (1 - z) * n + z * h_{t-1}

Shapes: x_t (B, I), h (B, H), W_ih (3H, I), W_hh (3H, H), biases (3H,).
Reference: Cho et al., "Learning phrase representations using RNN encoder-decoder" (2014).
"""
from __future__ import annotations

import numpy as np

from rnnkit.core.activations import dsigmoid, dtanh, sigmoid
from rnnkit.core.cells._common import hidden_projection, project, project_backward

GATES = 3


def recur(gx, h_prev, w_hh, b_hh=None):
    """One step given gx = x_t W_ih^T + b_ih (B, 3H). Returns (h, cache)."""
    H = h_prev.shape[-1]
    gh = hidden_projection(h_prev, w_hh, b_hh)  # (B, 3H)
    rz = sigmoid(gx[:, : 2 * H] + gh[:, : 2 * H])  # (B, 2H)
    r, z = rz[:, :H], rz[:, H:]
    hn = gh[:, 2 * H :]  # (B, H) W_hn h + b_hn
    n = np.tanh(gx[:, 2 * H :] + r * hn)
    h = (1.0 - z) * n + z * h_prev
    acts = np.concatenate([rz, n, hn], axis=1)  # (B, 4H): r, z, n, h_n
    return h, (h_prev, acts)


def recur_backward(dh, cache, w_hh):
    """Backward of :func:`recur`. Returns (dgx, dgh, dh_prev)."""
    h_prev, acts = cache
    H = h_prev.shape[-1]
    r, z, n, hn = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H : 3 * H], acts[:, 3 * H :]
    dgx = np.empty_like(acts[:, : 3 * H])  # (B, 3H)
    dn = dh * (1.0 - z) * dtanh(n)  # backprop through h = (1-z) n + z h_prev, then tanh
    dgx[:, 2 * H :] = dn
    dgx[:, :H] = dn * hn * dsigmoid(r)  # backprop through r * h_n, then sigmoid
    dgx[:, H : 2 * H] = dh * (h_prev - n) * dsigmoid(z)
    dgh = dgx.copy()
    dgh[:, 2 * H :] = dn * r  # h_n sits inside the reset gate
    dh_prev = dgh @ w_hh + dh * z  # backprop through h_{t-1} W_hh^T and z * h_{t-1}
    return dgx, dgh, dh_prev


def cell(params, x, h_prev):
    """Full step with ``torch.nn.GRUCell`` parameters. Returns (h, cache)."""
    h, rcache = recur(project(params, x), h_prev, params["weight_hh"], params.get("bias_hh"))
    return h, (x, rcache)


def cell_backward(params, dh, cache):
    """Backward of :func:`cell`. Returns (dx, dh_prev, grads)."""
    x, rcache = cache
    dgx, dgh, dh_prev = recur_backward(dh, rcache, params["weight_hh"])
    grads: dict[str, np.ndarray] = {}
    dx = project_backward(params, x, rcache[0], dgx, dgh, grads)
    return dx, dh_prev, grads
