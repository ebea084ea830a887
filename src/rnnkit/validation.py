"""Input checks with messages that name what was expected and what arrived."""
from __future__ import annotations

import numpy as np

DTYPES = (np.float32, np.float64)


def positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def as_float_array(x, name: str, dtype) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    return arr


def check_finite(x: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        what = "NaN" if np.isnan(x[tuple(bad)]) else "inf"
        raise ValueError(f"{name} contains {what} at index {tuple(int(i) for i in bad)}")


def check_input(x, input_size: int, dtype) -> np.ndarray:
    """x: (B, T, F) or unbatched (T, F). Returns a float array of ``dtype``."""
    x = as_float_array(x, "input", dtype)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"Expected input to be 2D (T, F) or 3D (B, T, F), got {x.ndim}D with shape {x.shape}"
        )
    if x.shape[-1] != input_size:
        raise ValueError(
            f"Expected input feature size {input_size} (last axis), got {x.shape[-1]} "
            f"in input of shape {x.shape}"
        )
    if x.shape[-2] == 0:
        raise ValueError(f"Input has no time steps: shape {x.shape}")
    if x.ndim == 3 and x.shape[0] == 0:
        raise ValueError(f"Input has an empty batch: shape {x.shape}")
    check_finite(x, "input")
    return x


def check_lengths(lengths, batch: int, steps: int) -> np.ndarray:
    """Valid lengths of a right-padded batch: integers in 1..T, one per sequence."""
    arr = np.asarray(lengths)
    if arr.ndim != 1 or arr.shape[0] != batch:
        raise ValueError(f"Expected lengths of shape ({batch},), got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"lengths must be whole numbers, got {arr.tolist()}")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"lengths must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.min() < 1 or arr.max() > steps:
        raise ValueError(
            f"lengths must lie in 1..{steps} (the time axis), got min {arr.min()} max {arr.max()}"
        )
    return arr


def check_state(h, name: str, shape: tuple, dtype) -> np.ndarray:
    h = as_float_array(h, name, dtype)
    if h.shape != shape:
        raise ValueError(f"Expected {name} of shape {shape}, got {h.shape}")
    check_finite(h, name)
    return h
