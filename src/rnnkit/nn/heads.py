"""The many-to-one head ``LastStep``: each sequence's output at its last valid step."""
from __future__ import annotations

import numpy as np

from rnnkit.nn.module import Module
from rnnkit.nn.registry import register_module
from rnnkit.validation import check_gradient, check_lengths, positive_int


@register_module
class LastStep(Module):
    """Many-to-one head: ``out[b] = y[b, lengths[b] - 1]`` (or ``y[:, -1]`` without lengths).

    For a bidirectional layer give ``reverse_features=H``: the last H features come from the
    reverse direction, whose last step is t = 0, so they are read there ("both ends"):
    ``out[b] = [y[b, lengths[b] - 1, :F-H], y[b, 0, F-H:]]`` — the two directions' final states.
    Shapes: y (B, T, F) -> out (B, F); backward scatters dout (B, F) into zeros (B, T, F).
    """

    def __init__(self, reverse_features=None):
        self.reverse_features = None if reverse_features is None else \
            positive_int(reverse_features, "reverse_features")
        super().__init__({})

    def config(self) -> dict:
        return {} if self.reverse_features is None else {"reverse_features": self.reverse_features}

    def __repr__(self):
        rf = self.reverse_features
        return "LastStep()" if rf is None else f"LastStep(reverse_features={rf})"

    def forward(self, y, lengths=None):
        y = np.asarray(y)
        if y.ndim != 3:
            raise ValueError(f"Expected y to be 3D (B, T, F), got {y.ndim}D with shape {y.shape}")
        B, T, F = y.shape
        split = F - (self.reverse_features or 0)
        if split < 0:
            raise ValueError(f"reverse_features={self.reverse_features} exceeds the {F} features")
        last = np.full(B, T - 1) if lengths is None else check_lengths(lengths, B, T) - 1  # (B,)
        self.save_for_backward((last, split, y.shape, y.dtype))
        out = y[np.arange(B), last]  # (B, F)
        out[:, split:] = y[:, 0, split:]  # the reverse direction ends at t = 0
        return out

    def backward(self, dout):
        last, split, (B, T, F), dtype = self.saved()
        dout = check_gradient(dout, (B, F), dtype)
        dy = np.zeros((B, T, F), dtype)  # batch-first, as the recurrent layer's backward works
        dy[np.arange(B), last, :split] = dout[:, :split]  # undo the picks: only the chosen
        dy[:, 0, split:] = dout[:, split:]  # steps get gradient
        return dy

    __call__ = forward
