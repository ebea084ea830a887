"""Long short-term memory cell, as ``torch.nn.LSTMCell`` (gate order i, f, g, o).

    [a_i, a_f, a_g, a_o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
    i = s(a_i)   f = s(a_f)   g = tanh(a_g)   o = s(a_o)          (s = sigmoid)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Shapes: x_t (B, I), h and c (B, H), W_ih (4H, I), W_hh (4H, H), biases (4H,). The carry is
(h, c); a step keeps its activations [i, f, g, o, tanh(c_t)] (B, 5H) for the backward.

With a projection (``weight_hr`` (P, H) in ``params``, as ``torch.nn.LSTM(proj_size=P)``),
``h_t = (o * tanh(c_t)) W_hr^T`` is (B, P) and W_hh is (4H, P); ``recur`` computes the
unprojected m_t = o * tanh(c_t) and ``step`` projects it (Sak, Senior & Beaufays, 2014).

With peepholes (``weight_peephole`` (3H,) = [p_i, p_f, p_o] in ``params``, ``peephole=`` to
``recur``), the gates see the cell state through diagonal weights (Gers & Schmidhuber,
"Recurrent nets that time and count", 2000): i and f see c_{t-1}, o sees c_t:

    i = s(a_i + p_i * c_{t-1})   f = s(a_f + p_f * c_{t-1})   o = s(a_o + p_o * c_t)

With layer normalisation (``norm={"hh": (gain, bias), "c": (gain, bias)}`` to ``recur``; Ba,
Kiros & Hinton, "Layer normalization", 2016) the hidden projection is LN(h_{t-1} W_hh^T) +
b_hh, normalised over its 4H entries, and h_t = o * tanh(LN(c_t)); a step then also keeps
h_{t-1} W_hh^T (B, 4H) after its activations, and ``recur_backward`` appends the gradient of
LN(c_t) (B, H) to dgx. The input projection's normalisation is the caller's.
Reference: Hochreiter & Schmidhuber (1997); Gers, Schmidhuber & Cummins (2000) for the forget gate.
"""
from __future__ import annotations

import numpy as np

from rnnkit.core.activations import dsigmoid, dtanh, sigmoid
from rnnkit.core.cells._common import (acts_buffer, blocks, carry_grad, cell_norm,
                                       hidden_projection, hidden_projection_backward, keyed_like,
                                       normed_projection, project, project_backward_normed)
from rnnkit.core.norm import layer_norm, layer_norm_grads

GATES = 4  # rows of W_ih per hidden unit
CARRY = ("h", "c")  # the arrays carried from step to step, each (B, H)
ACTS = 5  # one step's activations: i, f, g, o, tanh(c_t)
OPTIONS = ()  # no settings
GH_APART = False  # the gates see gx + gh: b_hh folds into gx, and d(gh) = d(gx)
NORM_ACTS = 4  # with norm: h_{t-1} W_hh^T before its normalisation, after the ACTS columns
NORM_GRADS = 1  # with norm: recur_backward appends d LN(c_t) (B, H) to dgx


def recur(gx, carry, w_hh, b_hh, acts, *, drop=None, peephole=None, norm=None):
    """One step given gx = x_t W_ih^T + b_ih (B, 4H); writes [i, f, g, o, tanh(c_t)] into
    acts (B, 5H) (and h_{t-1} W_hh^T into acts[:, 5H:] with a norm). peephole: (3H,)
    [p_i, p_f, p_o] or None. Returns the new carry (h, c)."""
    h_prev, c_prev = carry
    H = c_prev.shape[-1]
    a = acts[:, : 4 * H]  # (B, 4H) the pre-activations, turned into gates in place
    if norm is None:
        np.add(gx, hidden_projection(h_prev, w_hh, b_hh, drop), out=a)
    else:
        raw = acts[:, ACTS * H :]  # (B, 4H) h W_hh^T, kept for the backward
        raw[...] = hidden_projection(h_prev, w_hh, None, drop)
        np.add(gx, normed_projection(raw, norm["hh"], b_hh), out=a)
    i, f, g, o, tc = blocks(acts[:, : ACTS * H], ACTS)  # (B, H) views
    if peephole is not None:  # i and f see c_{t-1}
        i += peephole[:H] * c_prev
        f += peephole[H : 2 * H] * c_prev
    sigmoid(a[:, : 2 * H], out=a[:, : 2 * H])  # i, f
    np.tanh(a[:, 2 * H : 3 * H], out=a[:, 2 * H : 3 * H])  # g
    if peephole is None:
        sigmoid(a[:, 3 * H :], out=a[:, 3 * H :])  # o
    c = f * c_prev + i * g  # (B, H)
    if peephole is not None:  # o sees c_t
        o += peephole[2 * H :] * c
        sigmoid(o, out=o)
    np.tanh(c if norm is None else layer_norm(c, *norm["c"])[0], out=tc)
    return o * tc, c


def recur_backward(dcarry, carry_prev, carry, acts, w_hh, *, drop=None, peephole=None,
                   norm=None):
    """Backward of :func:`recur`; dcarry (dh, dc) is the whole gradient reaching the new carry.

    Returns (dgx, dgh, dcarry_prev): the gradients of gx and of h_{t-1} W_hh^T + b_hh (the
    same array here; with a norm, of LN(h_{t-1} W_hh^T) + b_hh, followed by the gradient of
    LN(c_t)), and (dh_prev, dc_prev). The peepholes' gradient is :func:`peephole_grad` of dgx.
    """
    (dh, dc), (_, c_prev) = dcarry, carry_prev
    H = c_prev.shape[-1]
    i, f, g, o, tc = blocks(acts[:, : ACTS * H], ACTS)  # (B, H) views
    extra = 0 if norm is None else NORM_GRADS
    da = np.empty((dh.shape[0], (GATES + extra) * H), dh.dtype)  # (B, 4H) the pre-activations
    if norm is None:
        dc = dc + dh * o * dtanh(tc)  # backprop through h = o * tanh(c)
    else:
        da[:, 4 * H :] = dh * o * dtanh(tc)  # backprop through h = o * tanh(LN(c))
        dc = dc + layer_norm_grads(da[:, 4 * H :], carry[1], *norm["c"])[0]  # and LN(c)
    if peephole is not None:
        da[:, 3 * H : 4 * H] = dh * tc * dsigmoid(o)
        dc = dc + da[:, 3 * H : 4 * H] * peephole[2 * H :]  # backprop through o's p_o * c_t
    da[:, :H] = dc * g * dsigmoid(i)  # backprop through c = f c_prev + i g, then sigmoid
    da[:, H : 2 * H] = dc * c_prev * dsigmoid(f)
    da[:, 2 * H : 3 * H] = dc * i * dtanh(g)
    if peephole is None:
        da[:, 3 * H : 4 * H] = dh * tc * dsigmoid(o)  # backprop through h = o tanh(c), sigmoid
    dc_prev = dc * f  # backprop through f * c_{t-1}
    if peephole is not None:  # and through p_i * c_{t-1}, p_f * c_{t-1}
        dc_prev += da[:, :H] * peephole[:H] + da[:, H : 2 * H] * peephole[H : 2 * H]
    draw = da if norm is None else layer_norm_grads(da[:, : 4 * H], acts[:, ACTS * H :],
                                                    *norm["hh"])[0]
    # backprop through h_{t-1} W_hh^T (and its normalisation)
    return da, da, (hidden_projection_backward(draw, w_hh, drop), dc_prev)


def peephole_grad(da: np.ndarray, c_prev: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The gradient of the peepholes [p_i, p_f, p_o] (3H,), summed over every leading axis:
    da (..., 4H) the gates' pre-activation gradients, c_prev and c (..., H) the cell states
    the gates saw (c_{t-1} for i and f, c_t for o)."""
    H = c.shape[-1]
    axes = tuple(range(c.ndim - 1))
    return np.concatenate([(da[..., :H] * c_prev).sum(axes),  # backprop through p_i * c_{t-1}
                           (da[..., H : 2 * H] * c_prev).sum(axes),  # p_f * c_{t-1}
                           (da[..., 3 * H : 4 * H] * c).sum(axes)])  # p_o * c_t


def step(params, x_t, carry):
    """One step with ``torch.nn.LSTMCell`` parameters (and ``weight_hr`` for a projection).
    Returns (carry, h_t, cache)."""
    gx = project(params, x_t)  # (B, 4H)
    norm = cell_norm(params)
    acts = acts_buffer(gx, ACTS + (0 if norm is None else NORM_ACTS), GATES)  # (B, 5H)
    new = recur(gx, carry, params["weight_hh"], params.get("bias_hh"), acts,
                peephole=params.get("weight_peephole"), norm=norm)
    if params.get("weight_hr") is not None:
        new = (new[0] @ params["weight_hr"].T, new[1])  # (B, P) h = m W_hr^T
    return new, new[0], (x_t, carry, new, acts)


def step_backward(params, dh_t, dcarry, cache):
    """Backward of :func:`step`. Returns (dx_t, dcarry_prev, grads), grads keyed like params."""
    x_t, carry_prev, carry, acts = cache
    dcarry = carry_grad(dh_t, dcarry, carry)
    w_hr = params.get("weight_hr")
    if w_hr is not None:
        H = carry[1].shape[-1]
        m = acts[:, 3 * H : 4 * H] * acts[:, 4 * H : 5 * H]  # (B, H) o * tanh(c), before W_hr
        dW_hr = dcarry[0].T @ m  # (P, H) backprop through h = m W_hr^T
        dcarry = (dcarry[0] @ w_hr, dcarry[1])
    peephole, norm = params.get("weight_peephole"), cell_norm(params)
    da, _, dcarry_prev = recur_backward(dcarry, carry_prev, carry, acts, params["weight_hh"],
                                        peephole=peephole, norm=norm)
    draw_ih = draw_hh = da  # the gradients of x_t W_ih^T and h_{t-1} W_hh^T
    ln = {}  # the normalisations' gains and biases
    if norm is not None:
        H = carry[1].shape[-1]
        _, ln["ln_weight_c"], ln["ln_bias_c"] = layer_norm_grads(da[:, 4 * H :], carry[1],
                                                                 *norm["c"])
        da = da[:, : 4 * H]
        draw_hh, ln["ln_weight_hh"], ln["ln_bias_hh"] = layer_norm_grads(
            da, acts[:, ACTS * H :], *norm["hh"])
        draw_ih, ln_ih = project_backward_normed(params, da, x_t)
        ln.update(ln_ih)
    dW_ih = draw_ih.T @ x_t  # (4H, I) backprop through x_t W_ih^T
    dW_hh = draw_hh.T @ carry_prev[0]  # (4H, H) backprop through h_{t-1} W_hh^T
    db_ih = da.sum(axis=0)  # (4H,) backprop through the broadcast of b_ih over the batch
    db_hh = db_ih.copy()  # b_hh adds where b_ih does
    dx_t = draw_ih @ params["weight_ih"]  # (B, I)
    return dx_t, dcarry_prev, keyed_like(params, **ln, weight_ih=dW_ih, weight_hh=dW_hh,
                                         bias_ih=db_ih, bias_hh=db_hh,
                                         weight_hr=dW_hr if w_hr is not None else None,
                                         weight_peephole=None if peephole is None else
                                         peephole_grad(da, carry_prev[1], carry[1]))
