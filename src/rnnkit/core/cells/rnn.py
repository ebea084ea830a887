"""Elman (vanilla) RNN cell, as ``torch.nn.RNNCell``.

    h_t = f(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),   f in {tanh, relu, sigmoid}

Shapes: x_t (B, I), h (B, H), W_ih (H, I), W_hh (H, H), biases (H,). The carry is (h,); a step
keeps no activations (its backward needs only h_t, the derivatives are written in f's output).
Reference: Elman, "Finding structure in time", Cognitive Science 14 (1990).
"""
from __future__ import annotations

from rnnkit.core.activations import get_activation
from rnnkit.core.cells._common import (acts_buffer, carry_grad, hidden_projection,
                                       hidden_projection_backward, keyed_like, project)

GATES = 1  # rows of W_ih per hidden unit
CARRY = ("h",)  # the arrays carried from step to step, each (B, H)
ACTS = 0  # H-wide columns of one step's activation buffer
OPTIONS = ("nonlinearity",)  # the cell's settings, passed as keywords
GH_APART = False  # the gates see gx + gh: b_hh folds into gx, and d(gh) = d(gx)


def recur(gx, carry, w_hh, b_hh, acts, nonlinearity="tanh", *, drop=None):
    """One step given gx = x_t W_ih^T + b_ih (B, H); acts (B, 0). Returns the new carry (h,)."""
    (h_prev,) = carry
    f, _ = get_activation(nonlinearity)
    return (f(gx + hidden_projection(h_prev, w_hh, b_hh, drop)),)  # (B, H)


def recur_backward(dcarry, carry_prev, carry, acts, w_hh, nonlinearity="tanh", *, drop=None):
    """Backward of :func:`recur`; dcarry (dh,) is the whole gradient reaching the new carry.

    Returns (dgx, dgh, dcarry_prev): the gradients of gx and of h_{t-1} W_hh^T + b_hh (the
    same array here), and (dh_prev,).
    """
    (dh,), (h,) = dcarry, carry
    _, df = get_activation(nonlinearity)
    da = dh * df(h)  # backprop through the nonlinearity, (B, H)
    return da, da, (hidden_projection_backward(da, w_hh, drop),)


def step(params, x_t, carry, nonlinearity="tanh"):
    """One step with ``torch.nn.RNNCell`` parameters. Returns (carry, h_t, cache)."""
    gx = project(params, x_t)  # (B, H)
    acts = acts_buffer(gx, ACTS, GATES)  # (B, 0)
    new = recur(gx, carry, params["weight_hh"], params.get("bias_hh"), acts, nonlinearity)
    return new, new[0], (x_t, carry, new, acts)


def step_backward(params, dh_t, dcarry, cache, nonlinearity="tanh"):
    """Backward of :func:`step`. Returns (dx_t, dcarry_prev, grads), grads keyed like params."""
    x_t, carry_prev, carry, acts = cache
    dcarry = carry_grad(dh_t, dcarry, carry)
    da, _, dcarry_prev = recur_backward(dcarry, carry_prev, carry, acts, params["weight_hh"],
                                        nonlinearity)
    dW_ih = da.T @ x_t  # (H, I) backprop through x_t W_ih^T
    dW_hh = da.T @ carry_prev[0]  # (H, H) backprop through h_{t-1} W_hh^T
    db_ih = da.sum(axis=0)  # (H,) backprop through the broadcast of b_ih over the batch
    db_hh = db_ih.copy()  # b_hh adds where b_ih does
    dx_t = da @ params["weight_ih"]  # (B, I)
    return dx_t, dcarry_prev, keyed_like(params, weight_ih=dW_ih, weight_hh=dW_hh,
                                         bias_ih=db_ih, bias_hh=db_hh)
