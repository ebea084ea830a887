"""Non-overlapping patches of ``p`` steps, each projected by a learned linear map: a strided
convolution with kernel = stride = p, which shortens a long series before the recurrence.

    z[b, j] = sum_{c, k} W[d, c, k] x[b, j p + k, c] + bias[d]      j = 0 .. ceil(T/p) - 1

This is ``torch.nn.Conv1d(C, D, kernel_size=p, stride=p)`` applied to x (B, C, T) after
zero-padding T up to a multiple of p (parameters ``weight`` (D, C, p) and ``bias`` (D,), its
names, layout and default initialisation). Shapes: x (B, T, C) -> z (B, ceil(T/p), D);
a sequence of valid length L becomes ceil(L/p) patches (:func:`patch_lengths`).
"""
from __future__ import annotations

import numpy as np

from rnnkit.nn.linear import init_conv1d
from rnnkit.nn.module import Module
from rnnkit.nn.registry import register_module
from rnnkit.validation import (
    check_gradient,
    float_dtype,
    positive_int,
    series_input,
)


def patch_lengths(lengths: np.ndarray, patch: int) -> np.ndarray:
    """ceil(lengths / patch): the patches that hold at least one valid step."""
    return -(-np.asarray(lengths) // patch)


def to_patches(x: np.ndarray, patch: int) -> np.ndarray:
    """x (B, T, C) -> (B, ceil(T/p), C*p), each row a patch laid out channel-major like the
    weight (c, k), zero past T."""
    B, T, C = x.shape
    n = -(-T // patch)
    padded = np.zeros((B, n * patch, C), x.dtype)  # (B, n*p, C)
    padded[:, :T] = x
    return padded.reshape(B, n, patch, C).transpose(0, 1, 3, 2).reshape(B, n, C * patch)


def from_patches(dz: np.ndarray, patch: int, steps: int) -> np.ndarray:
    """Inverse layout of :func:`to_patches`: (B, n, C*p) -> (B, T, C), cropping the padding."""
    B, n, Cp = dz.shape
    C = Cp // patch
    return dz.reshape(B, n, C, patch).transpose(0, 1, 3, 2).reshape(B, n * patch, C)[:, :steps]


def patch_forward(params: dict, x: np.ndarray, patch: int):
    """z = patches(x) W^T + b: x (B, T, C) -> z (B, ceil(T/p), D); the cache is the patches."""
    W = params["weight"]  # (D, C, p)
    xp = to_patches(x, patch)  # (B, n, C*p)
    z = xp @ W.reshape(W.shape[0], -1).T + params["bias"]  # (B, n, D)
    return z, xp


def patch_backward(params: dict, xp: np.ndarray, dz: np.ndarray, steps: int, grads: dict):
    """Adds dW and db into ``grads``; returns dx (B, T, C)."""
    W = params["weight"]  # (D, C, p)
    D, C, p = W.shape
    xp2, dz2 = xp.reshape(-1, C * p), dz.reshape(-1, D)  # (N, C*p), (N, D)
    grads["weight"] += (dz2.T @ xp2).reshape(D, C, p)  # undo z = xp W^T
    grads["bias"] += dz2.sum(axis=0)  # undo the broadcast of b
    return from_patches(dz @ W.reshape(D, -1), p, steps)  # undo the patch layout


@register_module
class PatchEmbedding(Module):
    """Patches of ``patch_size`` steps of ``in_channels`` channels -> ``out_features``.

    ``z = m.forward(x)``: x (B, T, in_channels) -> z (B, ceil(T/p), out_features);
    ``dx = m.backward(dz)``. See the module docstring for the equation.
    """

    def __init__(self, in_channels, out_features, patch_size, dtype=np.float32, seed=None):
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_features = positive_int(out_features, "out_features")
        self.patch_size = positive_int(patch_size, "patch_size")
        self.dtype = float_dtype(dtype)
        self.seed = seed
        super().__init__(init_conv1d(self.in_channels, self.out_features, self.patch_size, self.dtype,
                                     seed))

    def config(self) -> dict:
        return dict(in_channels=self.in_channels, out_features=self.out_features,
                    patch_size=self.patch_size, dtype=np.dtype(self.dtype).name)

    def __repr__(self):
        return (f"PatchEmbedding({self.in_channels}, {self.out_features}, "
                f"patch_size={self.patch_size})")

    def forward(self, x):
        x = series_input(x, self.in_channels, self.dtype)
        z, xp = patch_forward(self.params, x, self.patch_size)
        self.save_for_backward((xp, x.shape[1], z.shape))
        return z

    def backward(self, dz):
        xp, steps, shape = self.saved()
        dz = check_gradient(dz, shape, self.dtype, "dz")
        return patch_backward(self.params, xp, dz, steps, self.grads)

    __call__ = forward


def patch_max_forward(z: np.ndarray, patch: int):
    """Max of each feature over each patch of p steps: z (B, T, F) -> (B, ceil(T/p), F);
    the steps past T count as -inf. The cache is the winning step of each patch."""
    B, T, F = z.shape
    n = -(-T // patch)
    padded = np.full((B, n * patch, F), -np.inf, z.dtype)  # (B, n*p, F)
    padded[:, :T] = z
    windows = padded.reshape(B, n, patch, F)
    arg = windows.argmax(axis=2)  # (B, n, F) position inside the patch
    out = np.take_along_axis(windows, arg[:, :, None, :], axis=2)[:, :, 0]  # (B, n, F)
    return out, arg


def patch_max_backward(arg: np.ndarray, dout: np.ndarray, patch: int, steps: int):
    """Each patch's gradient goes to the step that attained its maximum (the first on ties):
    dout (B, n, F) -> dz (B, T, F)."""
    B, n, F = dout.shape
    dwin = np.zeros((B, n, patch, F), dout.dtype)
    np.put_along_axis(dwin, arg[:, :, None, :], dout[:, :, None, :], axis=2)
    return dwin.reshape(B, n * patch, F)[:, :steps]


@register_module
class PatchMaxPool(Module):
    """The maximum over each patch of ``patch_size`` steps, feature by feature:
    z (B, T, F) -> (B, ceil(T/p), F), no parameters. ``torch.nn.functional.max_pool1d``
    with kernel = stride = p and ``ceil_mode=True``."""

    def __init__(self, patch_size):
        self.patch_size = positive_int(patch_size, "patch_size")
        super().__init__({})

    def config(self) -> dict:
        return dict(patch_size=self.patch_size)

    def __repr__(self):
        return f"PatchMaxPool(patch_size={self.patch_size})"

    def forward(self, z):
        z = np.asarray(z)
        if z.ndim != 3:
            raise ValueError(f"Expected input of shape (B, T, F), got {z.shape}")
        out, arg = patch_max_forward(z, self.patch_size)
        self.save_for_backward((arg, z.shape, z.dtype))
        return out

    def backward(self, dout):
        arg, shape, dtype = self.saved()
        dout = check_gradient(dout, arg.shape, dtype, "dout")
        return patch_max_backward(arg, dout, self.patch_size, shape[1])

    __call__ = forward
