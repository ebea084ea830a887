"""What every cell's ``step`` and ``step_backward`` share: the two projections of a step, the
activation buffer of one step, the gradient reaching the new carry, and the gradients dict."""
from __future__ import annotations

import numpy as np

from rnnkit.core.norm import layer_norm, layer_norm_grads


def project(params: dict, x: np.ndarray) -> np.ndarray:
    """gx = x W_ih^T + b_ih, or LN(x W_ih^T) + b_ih when params hold ``ln_weight_ih`` and
    ``ln_bias_ih`` (layer_norm).   x: (B, I) -> (B, G*H)"""
    gx = x @ params["weight_ih"].T
    if params.get("ln_weight_ih") is not None:
        gx = layer_norm(gx, params["ln_weight_ih"], params["ln_bias_ih"])[0]
    if params.get("bias_ih") is not None:
        gx += params["bias_ih"]
    return gx


def hidden_projection(h_prev: np.ndarray, w_hh: np.ndarray, b_hh, drop=None) -> np.ndarray:
    """gh = (h * drop) W_hh^T + b_hh.   h: (B, H) -> (B, G*H)

    drop: (B, H) the recurrent dropout mask (already scaled by 1/(1-p)), or None for none."""
    gh = (h_prev if drop is None else h_prev * drop) @ w_hh.T
    if b_hh is not None:
        gh += b_hh
    return gh


def cell_norm(params: dict):
    """recur's ``norm`` keyword from a cell's parameters: {"hh": (gain, bias)} (and "c" for
    the LSTM) when they hold ``ln_weight_hh`` (layer_norm), else None."""
    if params.get("ln_weight_hh") is None:
        return None
    return {part: (params["ln_weight_" + part], params["ln_bias_" + part])
            for part in ("hh", "c") if params.get("ln_weight_" + part) is not None}


def project_backward_normed(params: dict, dgx: np.ndarray, x: np.ndarray) -> tuple:
    """Backprop of LN in :func:`project`: (d(x W_ih^T) (B, G*H), {ln_weight_ih, ln_bias_ih})."""
    draw, dgain, dbias = layer_norm_grads(dgx, x @ params["weight_ih"].T,
                                          params["ln_weight_ih"], params["ln_bias_ih"])
    return draw, {"ln_weight_ih": dgain, "ln_bias_ih": dbias}


def normed_projection(raw: np.ndarray, gain_bias: tuple, b_hh) -> np.ndarray:
    """LN(raw) * gain + bias (+ b_hh): a layer-normalised projection (B, G*H)."""
    gh = layer_norm(raw, *gain_bias)[0]
    if b_hh is not None:
        gh += b_hh
    return gh


def hidden_projection_backward(dgh: np.ndarray, w_hh: np.ndarray, drop=None) -> np.ndarray:
    """The gradient reaching h_{t-1} through :func:`hidden_projection`: dgh W_hh (* drop).

    dgh: (B, G*H) -> (B, H)."""
    dh = dgh @ w_hh  # backprop through h W_hh^T
    return dh if drop is None else dh * drop  # and through the dropout mask


def acts_buffer(gx: np.ndarray, acts: int, gates: int) -> np.ndarray:
    """Room for one step's activations, ``acts`` columns of width H: (B, acts*H) in gx's dtype.

    gx: (B, gates*H)."""
    return np.empty((gx.shape[0], acts * (gx.shape[1] // gates)), gx.dtype)


def blocks(a: np.ndarray, n: int) -> list:
    """The n column blocks of a (B, n*H) array, as (B, H) views."""
    H = a.shape[1] // n
    return [a[:, k * H : (k + 1) * H] for k in range(n)]


def carry_grad(dh_t: np.ndarray, dcarry, carry) -> tuple:
    """The gradient reaching the new carry: dh_t on h_t (which is carry[0]) plus dcarry, the
    gradient from later steps (None for zeros).  Each (B, H)."""
    if dcarry is None:
        return (dh_t, *(np.zeros_like(a) for a in carry[1:]))
    return (dh_t + dcarry[0], *dcarry[1:])


def keyed_like(params: dict, **grads) -> dict:
    """The gradients under the keys of ``params`` that hold an array (biases may be absent)."""
    return {name: g for name, g in grads.items() if params.get(name) is not None}
