"""Gated recurrent unit, as ``torch.nn.GRUCell`` (gate order r, z, n; b_hn inside the reset).

    [x_r, x_z, x_n] = x_t W_ih^T + b_ih          [h_r, h_z, h_n] = h_{t-1} W_hh^T + b_hh
    r = s(x_r + h_r)    z = s(x_z + h_z)    n = tanh(x_n + r * h_n)
    h_t = (1 - z) * n + z * h_{t-1}

Shapes: x_t (B, I), h (B, H), W_ih (3H, I), W_hh (3H, H), biases (3H,). The carry is (h,); a
step keeps its activations [r, z, n, h_n] (B, 4H) for the backward.

With layer normalisation (``norm={"hh": (gain, bias)}`` to ``recur``; Ba, Kiros & Hinton 2016)
the hidden projection is LN(h_{t-1} W_hh^T) + b_hh, normalised over its 3H entries; the
step then also keeps h_{t-1} W_hh^T (B, 3H) after its activations. The input projection's
normalisation is the caller's (``rnnkit.core.stack``, or :func:`step`).
Reference: Cho et al., "Learning phrase representations using RNN encoder-decoder" (2014).
"""
from __future__ import annotations

import numpy as np

from rnnkit.core.activations import dsigmoid, dtanh, sigmoid
from rnnkit.core.cells._common import (acts_buffer, blocks, carry_grad, cell_norm,
                                       hidden_projection, hidden_projection_backward, keyed_like,
                                       normed_projection, project, project_backward_normed)
from rnnkit.core.norm import layer_norm_grads

GATES = 3  # rows of W_ih per hidden unit
CARRY = ("h",)  # the arrays carried from step to step, each (B, H)
ACTS = 4  # one step's activations: r, z, n, h_n = W_hn h_{t-1} + b_hn
OPTIONS = ()  # no settings
GH_APART = True  # h_n is scaled by r: gh (b_hh included) stays apart from gx
NORM_ACTS = 3  # with norm: h_{t-1} W_hh^T before its normalisation, after the ACTS columns
NORM_GRADS = 0  # with norm: H-wide columns recur_backward appends to dgx (none)


def recur(gx, carry, w_hh, b_hh, acts, *, drop=None, norm=None):
    """One step given gx = x_t W_ih^T + b_ih (B, 3H); writes [r, z, n, h_n] into acts (B, 4H)
    (and h_{t-1} W_hh^T into acts[:, 4H:] with a norm). Returns the new carry (h,)."""
    (h_prev,) = carry
    H = h_prev.shape[-1]
    if norm is None:
        gh = hidden_projection(h_prev, w_hh, b_hh, drop)  # (B, 3H)
    else:
        raw = acts[:, ACTS * H :]  # (B, 3H) h W_hh^T, kept for the backward
        raw[...] = hidden_projection(h_prev, w_hh, None, drop)
        gh = normed_projection(raw, norm["hh"], b_hh)  # (B, 3H) LN(h W_hh^T) + b_hh
    r, z, n, hn = blocks(acts[:, : ACTS * H], ACTS)  # (B, H) views
    sigmoid(gx[:, : 2 * H] + gh[:, : 2 * H], out=acts[:, : 2 * H])  # r, z
    hn[...] = gh[:, 2 * H :]  # W_hn h + b_hn, inside the reset gate
    np.tanh(gx[:, 2 * H :] + r * hn, out=n)
    return ((1.0 - z) * n + z * h_prev,)  # (B, H)


def recur_backward(dcarry, carry_prev, carry, acts, w_hh, *, drop=None, norm=None):
    """Backward of :func:`recur`; dcarry (dh,) is the whole gradient reaching the new carry.

    Returns (dgx, dgh, dcarry_prev): the gradients of gx and of h_{t-1} W_hh^T + b_hh (they
    differ in the n block; with a norm, of LN(h_{t-1} W_hh^T) + b_hh), and (dh_prev,).
    """
    (dh,), (h_prev,) = dcarry, carry_prev
    H = h_prev.shape[-1]
    r, z, n, hn = blocks(acts[:, : ACTS * H], ACTS)  # (B, H) views
    dgx = np.empty((dh.shape[0], GATES * H), dh.dtype)  # (B, 3H)
    dn = dh * (1.0 - z) * dtanh(n)  # backprop through h = (1-z) n + z h_prev, then tanh
    dgx[:, 2 * H :] = dn
    dgx[:, :H] = dn * hn * dsigmoid(r)  # backprop through r * h_n, then sigmoid
    dgx[:, H : 2 * H] = dh * (h_prev - n) * dsigmoid(z)
    dgh = dgx.copy()
    dgh[:, 2 * H :] = dn * r  # h_n sits inside the reset gate
    draw = dgh if norm is None else layer_norm_grads(dgh, acts[:, ACTS * H :], *norm["hh"])[0]
    # backprop through (h_{t-1} * drop) W_hh^T (and its normalisation) and z * h_{t-1}
    return dgx, dgh, (hidden_projection_backward(draw, w_hh, drop) + dh * z,)


def step(params, x_t, carry):
    """One step with ``torch.nn.GRUCell`` parameters. Returns (carry, h_t, cache)."""
    gx = project(params, x_t)  # (B, 3H)
    norm = cell_norm(params)
    acts = acts_buffer(gx, ACTS + (0 if norm is None else NORM_ACTS), GATES)  # (B, 4H)
    new = recur(gx, carry, params["weight_hh"], params.get("bias_hh"), acts, norm=norm)
    return new, new[0], (x_t, carry, new, acts)


def step_backward(params, dh_t, dcarry, cache):
    """Backward of :func:`step`. Returns (dx_t, dcarry_prev, grads), grads keyed like params."""
    x_t, carry_prev, carry, acts = cache
    dcarry = carry_grad(dh_t, dcarry, carry)
    norm = cell_norm(params)
    dgx, dgh, dcarry_prev = recur_backward(dcarry, carry_prev, carry, acts, params["weight_hh"],
                                           norm=norm)
    draw_ih, draw_hh, ln = dgx, dgh, {}  # the gradients of x_t W_ih^T, h_{t-1} W_hh^T
    if norm is not None:  # and of the normalisations' gains and biases
        H = carry[0].shape[-1]
        draw_hh, ln["ln_weight_hh"], ln["ln_bias_hh"] = layer_norm_grads(
            dgh, acts[:, ACTS * H :], *norm["hh"])
        draw_ih, ln_ih = project_backward_normed(params, dgx, x_t)
        ln.update(ln_ih)
    dW_ih = draw_ih.T @ x_t  # (3H, I) backprop through x_t W_ih^T
    dW_hh = draw_hh.T @ carry_prev[0]  # (3H, H) backprop through h_{t-1} W_hh^T
    db_ih = dgx.sum(axis=0)  # (3H,) backprop through the broadcast of b_ih over the batch
    db_hh = dgh.sum(axis=0)  # (3H,) and of b_hh, whose n block sits inside the reset gate
    dx_t = draw_ih @ params["weight_ih"]  # (B, I)
    return dx_t, dcarry_prev, keyed_like(params, **ln, weight_ih=dW_ih, weight_hh=dW_hh,
                                         bias_ih=db_ih, bias_hh=db_hh)
