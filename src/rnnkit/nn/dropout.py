"""Inverted dropout, ``Dropout`` as ``torch.nn.Dropout``, with a seeded generator."""
from __future__ import annotations

import numpy as np

from rnnkit.core.init import seed_sequence
from rnnkit.nn.module import Module
from rnnkit.nn.registry import register_module
from rnnkit.validation import DTYPES, as_float_array, check_gradient, check_number


def dropout_forward(x: np.ndarray, p: float, rng: np.random.Generator):
    """Inverted dropout: ``y = x * m``, m = keep / (1 - p), keep ~ Bernoulli(1 - p).
    Returns y and the mask m (shape of x; all zero when p = 1)."""
    keep = rng.random(x.shape) >= p  # (...) like x
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    mask = keep.astype(x.dtype) * x.dtype.type(scale)
    return x * mask, mask


def dropout_backward(mask: np.ndarray, dy: np.ndarray) -> np.ndarray:
    return dy * mask  # undo y = x * m


@register_module
class Dropout(Module):
    """Zeroes each element with probability ``p`` and scales the rest by 1/(1-p), in training
    mode only (``eval()`` makes it the identity), as ``torch.nn.Dropout``. Masks come from a
    generator seeded with ``seed``. Shapes: any -> same."""

    def __init__(self, p=0.5, seed=None):
        self.p = check_number(p, "dropout probability p", low=0, high=1, high_open=False)
        self.seed = seed
        self.rng = np.random.default_rng(seed_sequence(seed))
        super().__init__({})

    def config(self) -> dict:
        return dict(p=self.p)

    def __repr__(self):
        return f"Dropout(p={self.p})"

    def forward(self, x):
        x = np.asarray(x)
        if x.dtype not in DTYPES:
            x = as_float_array(x, "input", np.float64)
        mask = None
        if self.training and self.p > 0:
            x, mask = dropout_forward(x, self.p, self.rng)
        self.save_for_backward((mask, x.shape, x.dtype))
        return x

    def backward(self, dy):
        mask, shape, dtype = self.saved()
        dy = check_gradient(dy, shape, dtype, "dy")
        return dy if mask is None else dropout_backward(mask, dy)

    __call__ = forward
