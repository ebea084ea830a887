"""A 1-D convolution over time that keeps the length, followed by a ReLU: local shape
detectors (slopes, bumps, corners) computed at every step before patches and recurrence.

    a[b, t, d] = sum_{c, k} W[d, c, k] x[b, t + k - P, c] + bias[d]     t = 0 .. T - 1
    z = relu(a)                                                         (or z = a)

with zeros outside 0..T-1 and P = (K - 1) // 2 zeros on the left, K - 1 - P on the right.
This is ``torch.nn.Conv1d(C, D, kernel_size=K, padding="same")`` on x (B, C, T) (then
``torch.relu``): its parameter names ``weight`` (D, C, K) and ``bias`` (D,), layout and
default initialisation. Shapes: x (B, T, C) -> z (B, T, D).

With valid ``lengths`` (B,), z[b, t] = 0 for t >= lengths[b]: a padded step's output would
otherwise be relu(bias + the last real steps), and a patch or pooling after the convolution
would read it, so a series' result would depend on how much padding its batch has.

Backward, with dA = dz * [z > 0]:
    dW[d, c, k] = sum_{b, t} dA[b, t, d] x[b, t + k - P, c]      db[d] = sum_{b, t} dA[b, t, d]
    dx[b, s, c] = sum_{d, k} dA[b, s - k + P, d] W[d, c, k]
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from rnnkit.core.activations import relu
from rnnkit.nn.linear import init_conv1d
from rnnkit.nn.module import Module
from rnnkit.nn.registry import register_module
from rnnkit.validation import (
    check_gradient,
    check_lengths,
    float_dtype,
    positive_int,
    series_input,
    valid_steps,
)

ACTIVATIONS = ("relu", None)


def same_padding(kernel: int) -> tuple[int, int]:
    """Zeros (left, right) that keep the length: torch's padding="same"."""
    left = (kernel - 1) // 2
    return left, kernel - 1 - left


def conv_forward(params: dict, x: np.ndarray, activation):
    """x (B, T, C) -> z (B, T, D); the cache is (the windows (B, T, C*K), z)."""
    W = params["weight"]  # (D, C, K)
    D, C, K = W.shape
    B, T, _ = x.shape
    left, right = same_padding(K)
    padded = np.zeros((B, T + K - 1, C), x.dtype)  # (B, T+K-1, C)
    padded[:, left : left + T] = x
    cols = sliding_window_view(padded, K, axis=1).reshape(B, T, C * K)  # (B, T, C*K), (c, k)
    z = cols @ W.reshape(D, C * K).T + params["bias"]  # (B, T, D)
    if activation == "relu":
        relu(z, out=z)
    return z, (cols, z)


def conv_backward(params: dict, cache, dz: np.ndarray, activation, grads: dict):
    """Adds dW and db into ``grads``; returns dx (B, T, C)."""
    cols, z = cache
    W = params["weight"]  # (D, C, K)
    D, C, K = W.shape
    B, T, _ = dz.shape
    da = dz * (z > 0) if activation == "relu" else dz  # (B, T, D), undo the relu
    cols2, da2 = cols.reshape(-1, C * K), da.reshape(-1, D)
    grads["weight"] += (da2.T @ cols2).reshape(D, C, K)  # undo a = cols W^T
    grads["bias"] += da2.sum(axis=0)
    dcols = (da @ W.reshape(D, C * K)).reshape(B, T, C, K)  # (B, T, C, K)
    dpadded = np.zeros((B, T + K - 1, C), dz.dtype)
    for k in range(K):  # window position t + k of the padded series
        dpadded[:, k : k + T] += dcols[:, :, :, k]
    left, _ = same_padding(K)
    return dpadded[:, left : left + T]


@register_module
class Conv1d(Module):
    """``kernel_size`` steps of ``in_channels`` channels -> ``out_channels`` at every step.

    ``z = m.forward(x, lengths=None)``: x (B, T, in_channels) -> z (B, T, out_channels),
    zero at the padded steps t >= lengths[b]; ``dx = m.backward(dz)``. ``activation``: "relu" (default) or None. See the module
    docstring for the equation.
    """

    def __init__(self, in_channels, out_channels, kernel_size, activation="relu",
                 dtype=np.float32, seed=None):
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.kernel_size = positive_int(kernel_size, "kernel_size")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be 'relu' or None, got {activation!r}")
        self.activation = activation
        self.dtype = float_dtype(dtype)
        self.seed = seed
        super().__init__(init_conv1d(self.in_channels, self.out_channels, self.kernel_size, self.dtype,
                                     seed))

    def config(self) -> dict:
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=self.kernel_size, activation=self.activation,
                    dtype=np.dtype(self.dtype).name)

    def __repr__(self):
        return (f"Conv1d({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, activation={self.activation!r})")

    def forward(self, x, lengths=None):
        x = series_input(x, self.in_channels, self.dtype)
        z, cache = conv_forward(self.params, x, self.activation)
        valid = None
        if lengths is not None:
            lengths = check_lengths(lengths, x.shape[0], x.shape[1])
            valid = valid_steps(lengths, x.shape[1])[..., None]  # (B, T, 1)
            z *= valid
        self.save_for_backward((cache, z.shape, valid))
        return z

    def backward(self, dz):
        cache, shape, valid = self.saved()
        dz = check_gradient(dz, shape, self.dtype, "dz")
        if valid is not None:
            dz = dz * valid  # the padded outputs were set to 0
        return conv_backward(self.params, cache, dz, self.activation, self.grads)

    __call__ = forward
