"""Elman (vanilla) RNN cell, as ``torch.nn.RNNCell``.

    h_t = f(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),   f in {tanh, relu, sigmoid}

Shapes: x_t (B, I), h (B, H), W_ih (H, I), W_hh (H, H), biases (H,).
Reference: Elman, "Finding structure in time", Cognitive Science 14 (1990).
"""
from __future__ import annotations

import numpy as np

from rnnkit.core.activations import get_activation
from rnnkit.core.cells._common import hidden_projection, project, project_backward

GATES = 1  # rows of W_ih per hidden unit


def recur(gx, h_prev, w_hh, b_hh=None, nonlinearity="tanh"):
    """One step given gx = x_t W_ih^T + b_ih (B, H). Returns (h, cache)."""
    f, _ = get_activation(nonlinearity)
    h = f(gx + hidden_projection(h_prev, w_hh, b_hh))  # (B, H)
    return h, (h_prev, h)


def recur_backward(dh, cache, w_hh, nonlinearity="tanh"):
    """Backward of :func:`recur`. Returns (dgx, dgh, dh_prev); here dgx and dgh are equal."""
    h_prev, h = cache
    _, df = get_activation(nonlinearity)
    da = dh * df(h)  # backprop through the nonlinearity, (B, H)
    dh_prev = da @ w_hh  # backprop through h_{t-1} W_hh^T
    return da, da, dh_prev


def cell(params, x, h_prev, nonlinearity="tanh"):
    """Full step with ``torch.nn.RNNCell`` parameters. Returns (h, cache)."""
    h, rcache = recur(project(params, x), h_prev, params["weight_hh"], params.get("bias_hh"),
                      nonlinearity)
    return h, (x, rcache)


def cell_backward(params, dh, cache, nonlinearity="tanh"):
    """Backward of :func:`cell`. Returns (dx, dh_prev, grads) with grads keyed like params."""
    x, rcache = cache
    dgx, dgh, dh_prev = recur_backward(dh, rcache, params["weight_hh"], nonlinearity)
    grads: dict[str, np.ndarray] = {}
    dx = project_backward(params, x, rcache[0], dgx, dgh, grads)
    return dx, dh_prev, grads
