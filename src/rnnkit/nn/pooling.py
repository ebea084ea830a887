"""A many-to-one head that reads the whole sequence: the mean and the maximum of each
feature over the valid steps.

    out[b] = [ (1/L_b) sum_{t < L_b} y[b, t],   max_{t < L_b} y[b, t] ]      (2F,)

Shapes: y (B, T, F), lengths (B,) in 1..T (None: all T) -> out (B, 2F). The backward spreads
the mean's gradient evenly over the valid steps and gives the max's gradient to the step
that attained it (the first one on ties, as ``argmax``).
"""
from __future__ import annotations

import numpy as np

from rnnkit.nn.module import Module
from rnnkit.nn.registry import register_module
from rnnkit.validation import check_gradient, check_lengths, valid_steps


def mean_max_forward(y: np.ndarray, lengths: np.ndarray):
    """(out (B, 2F), cache); lengths (B,) ints in 1..T."""
    B, T, F = y.shape
    valid = valid_steps(lengths, T)[..., None]  # (B, T, 1)
    mean = (y * valid).sum(axis=1) / lengths[:, None]  # (B, F)
    masked = np.where(valid, y, -np.inf)  # (B, T, F)
    arg = masked.argmax(axis=1)  # (B, F) the step holding each maximum
    peak = np.take_along_axis(y, arg[:, None, :], axis=1)[:, 0]  # (B, F)
    return np.concatenate([mean, peak], axis=1), (valid, lengths, arg, y.shape)


def mean_max_backward(cache, dout: np.ndarray) -> np.ndarray:
    valid, lengths, arg, (B, T, F) = cache
    dmean, dpeak = dout[:, :F], dout[:, F:]  # (B, F) each
    dy = valid * (dmean / lengths[:, None])[:, None, :]  # undo the mean over valid steps
    np.put_along_axis(dy, arg[:, None, :],
                      np.take_along_axis(dy, arg[:, None, :], axis=1) + dpeak[:, None, :],
                      axis=1)  # undo the max: only the winning step gets its gradient
    return dy.astype(dout.dtype, copy=False)


@register_module
class MeanMaxPool(Module):
    """Mean and max over the valid steps, concatenated: y (B, T, F) -> (B, 2F)."""

    def __init__(self):
        super().__init__({})

    def config(self) -> dict:
        return {}

    def __repr__(self):
        return "MeanMaxPool()"

    def forward(self, y, lengths=None):
        y = np.asarray(y)
        if y.ndim != 3:
            raise ValueError(f"Expected y to be 3D (B, T, F), got {y.ndim}D with shape {y.shape}")
        B, T, _ = y.shape
        lengths = np.full(B, T) if lengths is None else check_lengths(lengths, B, T)
        out, cache = mean_max_forward(y, lengths)
        self.save_for_backward((cache, y.dtype))
        return out.astype(y.dtype, copy=False)

    def backward(self, dout):
        cache, dtype = self.saved()
        B, _, F = cache[3]
        return mean_max_backward(cache, check_gradient(dout, (B, 2 * F), dtype))

    __call__ = forward
