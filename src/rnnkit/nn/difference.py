"""The first difference of each channel, scaled, as extra channels: a second view of a series
for a network that reads it (slopes instead of levels).

    d[b, t, c] = x[b, t, c] - x[b, t - 1, c]    for 1 <= t < L_b,   d[b, 0, c] = 0
    d[b, t, c] = 0                              for t >= L_b (padding; L_b = T without lengths)
    out = concat(x, d * scale, axis=-1)

Shapes: x (B, T, C) -> out (B, T, 2C); ``scale`` (C,) is fixed, not learned (typically one
over the spread of the differences in the training data, so that both halves start on the
same scale). No parameters. Backward, with g = dout[..., C:] * scale on the valid steps
t >= 1 (0 elsewhere):

    dx[b, t] = dout[b, t, :C] + g[b, t] - g[b, t + 1]        (g[b, T] = 0)
"""
from __future__ import annotations

import numpy as np

from rnnkit.nn.module import Module
from rnnkit.nn.registry import register_module
from rnnkit.validation import (
    check_gradient,
    check_lengths,
    float_dtype,
    series_input,
    valid_steps,
)


def difference_scale(x, lengths=None) -> list[float]:
    """One over the standard deviation of each channel's first differences over the valid
    steps of x (B, T, C): the ``scale`` that gives the differences unit spread (1 for a
    channel whose differences are all 0)."""
    x = np.asarray(x, np.float64)
    B, T, C = x.shape
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    valid = valid_steps(lengths, T)[:, 1:]  # (B, T-1): both ends of the step real
    d = (x[:, 1:] - x[:, :-1])[valid]  # (N, C)
    if len(d) == 0:
        return [1.0] * C
    std = d.std(axis=0)
    return [float(1.0 / s) if s > 0 and np.isfinite(s) else 1.0 for s in std]


@register_module
class Difference(Module):
    """``out = m.forward(x, lengths=None)``: x (B, T, channels) -> (B, T, 2 * channels), the
    series and its scaled first difference; ``dx = m.backward(dout)``. See the module
    docstring for the equation."""

    def __init__(self, channels, scale=None, dtype=np.float32):
        self.dtype = float_dtype(dtype)
        scale = np.ones(int(channels)) if scale is None else np.asarray(scale, np.float64)
        if scale.shape != (int(channels),) or not np.all(np.isfinite(scale)):
            raise ValueError(f"scale must hold {int(channels)} finite numbers (one per "
                             f"channel), got {np.asarray(scale).tolist()!r}")
        self.channels = int(channels)
        self.scale = scale.astype(self.dtype)  # (C,)
        super().__init__({})

    def config(self) -> dict:
        return dict(channels=self.channels, scale=[float(s) for s in self.scale],
                    dtype=np.dtype(self.dtype).name)

    def __repr__(self):
        return f"Difference({self.channels})"

    def _mask(self, lengths, B, T):
        if lengths is None:
            return None
        lengths = check_lengths(lengths, B, T)
        return valid_steps(lengths, T)[..., None]  # (B, T, 1)

    def forward(self, x, lengths=None):
        x = series_input(x, self.channels, self.dtype)
        B, T, _ = x.shape
        valid = self._mask(lengths, B, T)
        d = np.zeros_like(x)  # (B, T, C)
        d[:, 1:] = x[:, 1:] - x[:, :-1]
        if valid is not None:
            d *= valid
        self.save_for_backward((x.shape, valid))
        return np.concatenate([x, d * self.scale], axis=-1)  # (B, T, 2C)

    def backward(self, dout):
        (B, T, C), valid = self.saved()
        dout = check_gradient(dout, (B, T, 2 * C), self.dtype, "dout")
        g = dout[..., C:] * self.scale  # (B, T, C)
        if valid is not None:
            g = g * valid
        g[:, 0] = 0.0  # d[:, 0] is 0 whatever x is
        dx = dout[..., :C].copy()
        dx += g
        dx[:, :-1] -= g[:, 1:]
        return dx

    __call__ = forward
