"""Layer normalisation over the last axis, forward and backward, for the recurrent cells'
``layer_norm`` variant.

    y = (a - mean(a)) / sqrt(var(a) + eps) * gain + bias        over the last axis of a

Reference: Ba, Kiros & Hinton, "Layer normalization" (2016); eps as ``torch.nn.LayerNorm``.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-5


def layer_norm(a: np.ndarray, gain: np.ndarray, bias: np.ndarray):
    """a (..., N), gain and bias (N,) -> (y, a_hat, inv_std): y (..., N) the output, a_hat
    (..., N) the normalised a and inv_std (..., 1) = 1 / sqrt(var + eps), for the backward."""
    mean = a.mean(axis=-1, keepdims=True)  # (..., 1)
    inv_std = 1.0 / np.sqrt(a.var(axis=-1, keepdims=True) + EPS)  # (..., 1)
    a_hat = (a - mean) * inv_std  # (..., N)
    return a_hat * gain + bias, a_hat, inv_std


def layer_norm_backward(dy: np.ndarray, a_hat: np.ndarray, inv_std: np.ndarray,
                        gain: np.ndarray) -> np.ndarray:
    """The gradient of a given dy (..., N), the gradient of :func:`layer_norm`'s output.
    The gain's gradient is sum(dy * a_hat) and the bias's sum(dy) over the leading axes."""
    da_hat = dy * gain  # backprop through * gain
    # backprop through (a - mean) * inv_std, with mean and inv_std functions of a
    return inv_std * (da_hat - da_hat.mean(axis=-1, keepdims=True)
                      - a_hat * (da_hat * a_hat).mean(axis=-1, keepdims=True))


def layer_norm_grads(dy: np.ndarray, a: np.ndarray, gain: np.ndarray, bias: np.ndarray):
    """(da, dgain, dbias) for the output gradient dy (..., N) of layer_norm(a, gain, bias),
    recomputing the statistics from a; dgain and dbias (N,) summed over the leading axes."""
    _, a_hat, inv_std = layer_norm(a, gain, bias)
    axes = tuple(range(a.ndim - 1))
    return (layer_norm_backward(dy, a_hat, inv_std, gain), (dy * a_hat).sum(axis=axes),
            dy.sum(axis=axes))
