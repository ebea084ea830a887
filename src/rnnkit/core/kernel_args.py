"""The arrays the numba kernels take, made from the arguments of the backend API.

``rnnkit.core.kernels.scan_forward``/``scan_backward`` take what every backend takes (masks of
shape (B, T, 1) or None, options by keyword, biases apart); the kernels take contiguous arrays
of one dtype, with empty arrays for what is absent (numba compiles one version for both), and
the step kernels add one bias vector (see ``step_bias``).
"""
from __future__ import annotations

import numpy as np

from rnnkit.core.jit_math import _NONLINEARITY


def mask2d(mask, dtype, T, B):
    """(T, B) contiguous copy of a (B, T, 1) mask, time-major as the kernels read it (one
    step's column at a time), or an empty (0, 0) array for none."""
    if mask is None:
        return np.empty((0, 0), dtype)
    return np.ascontiguousarray(mask.reshape(B, T).T, dtype=dtype)


def drop2d(drop, dtype):
    """The recurrent dropout mask (B, H) contiguous in dtype, or an empty (0, 0) for none."""
    if drop is None:
        return np.empty((0, 0), dtype)
    return np.ascontiguousarray(drop, dtype=dtype)


def peepholes(options, dtype):
    """The LSTM's peepholes (3H,) contiguous in dtype, or an empty (0,) for none."""
    peephole = options.get("peephole")
    if peephole is None:
        return np.empty(0, dtype)
    return np.ascontiguousarray(peephole, dtype=dtype)


def step_bias(cell, GH, dtype, b_ih, b_hh):
    """The one bias vector the step kernels add, in dtype: b_ih + b_hh (G*H,) for the LSTM and
    RNN; for the GRU (GH_APART) (4H,) [b_ir + b_hr, b_iz + b_hz, b_hn, b_in], b_hn inside its
    reset gate and b_in beside it. A bias given as None counts as zeros."""
    b_ih = np.zeros(GH, dtype) if b_ih is None else np.asarray(b_ih, dtype)
    b_hh = np.zeros(GH, dtype) if b_hh is None else np.asarray(b_hh, dtype)
    if not cell.GH_APART:
        return b_ih + b_hh  # (G*H,)
    H = GH // 3
    return np.concatenate([b_ih[: 2 * H] + b_hh[: 2 * H], b_hh[2 * H :], b_ih[2 * H :]])


def act_code(options) -> int:
    """The kernels' code for the RNN's nonlinearity (unused by the other cells)."""
    return _NONLINEARITY[options.get("nonlinearity", "tanh")]
