"""Input checks with messages that name what was expected and what arrived.

The one place for checks of settings (numbers in a range, dtypes) and of arrays (shape,
finiteness, integer indices, lengths, states) that every floor uses.
"""
from __future__ import annotations

import math
import threading
from contextlib import contextmanager

import numpy as np
from numba import njit

DTYPES = (np.float32, np.float64)
# the largest magnitude a value read from a file may have: beyond it sums, squares and the
# float32 networks overflow (1e308 is finite in float64 but its square is not)
MAX_MAGNITUDE = 1e30


def too_large(values) -> np.ndarray:
    """Mask of the entries whose magnitude exceeds MAX_MAGNITUDE (NaN is not)."""
    with np.errstate(invalid="ignore"):
        return np.abs(np.asarray(values, dtype=np.float64)) > MAX_MAGNITUDE


def positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_number(value, name: str, *, low=None, high=None, low_open=False, high_open=True,
                 integer=False, allow_none=False):
    """A setting: a finite number (an integer with ``integer``) in the given range, returned
    as float (int); None passes when ``allow_none``. ``low_open``/``high_open`` exclude the
    bound itself. ValueError otherwise, e.g. "beta2 must be a number >= 0 and < 1, got 1.0"."""
    if value is None and allow_none:
        return None
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = isinstance(value, kinds) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        bounds = [f"{'>' if low_open else '>='} {low:g}" if low is not None else "",
                  f"{'<' if high_open else '<='} {high:g}" if high is not None else ""]
        bound = " and ".join(b for b in bounds if b)
        what = ("an integer" if integer else "a number") + (f" {bound}" if bound else "")
        raise ValueError(f"{name} must be {what}{' or None' if allow_none else ''}, "
                         f"got {value!r}")
    return int(value) if integer else float(value)


def float_dtype(dtype):
    """The NumPy scalar type of a float32 or float64 dtype (ValueError for others)."""
    try:
        kind = np.dtype(dtype).type
    except TypeError:
        kind = None
    if kind not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return kind


def check_indices(indices, num: int, name: str = "indices") -> np.ndarray:
    """Integer array with every entry in 0..num-1 (TypeError / IndexError otherwise)."""
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx[(idx < 0) | (idx >= num)].flat[0]
        raise IndexError(f"{name} must lie in 0..{num - 1}, got {bad}")
    return idx


def check_gradient(dout, shape, dtype, name="dout"):
    """The gradient of a forward output: a finite float array of exactly ``shape``."""
    dout = as_float_array(dout, name, dtype)
    if dout.shape != shape:
        raise ValueError(f"Expected {name} of shape {shape} (the forward output), "
                         f"got {dout.shape}")
    check_activation(dout, name)
    return dout


def as_float_array(x, name: str, dtype) -> np.ndarray:
    if np.iscomplexobj(x):
        raise ValueError(f"{name} must be real, got complex values")
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    return arr


_QUICK_MIN = 4096  # values from which the numba pass beats np.isfinite


@njit(cache=True, nogil=True, fastmath={"reassoc"}, error_model="numpy")
def _sum_of_zeros(flat):
    """sum(x * 0) over a 1-D array: exactly 0 when every value is finite, NaN when one is NaN
    or inf (inf * 0 is NaN). 'reassoc' lets LLVM vectorise the sum; it cannot change which
    of the two it is."""
    zero = flat.dtype.type(0)
    s = zero
    for i in range(flat.size):
        s += flat[i] * zero
    return s


def _quick_finite(x: np.ndarray) -> bool:
    """True when x is finite, from one pass of numba on this thread; False when it is not, or
    when x is small, not contiguous or not float32/float64 (the exact check's to settle).

    Not OpenBLAS: its product with ones (rows of 1024 values times ones, 0.03 ms over 3.3 MB
    in cache against 0.10 here, level from memory) woke its second thread, which then spun
    for ~0.4 ms (``rnnkit.core.blas``) on the core the time loop's second shard needed next:
    that shard started ~0.3 ms late, LSTM/RNN forward and backward alike (benchmarks/README.md,
    session 13)."""
    if x.dtype not in (np.float32, np.float64) or not x.flags.c_contiguous or \
            x.size < _QUICK_MIN:
        return False
    return bool(_sum_of_zeros(x.reshape(-1)) == 0)


def check_finite(x: np.ndarray, name: str) -> None:
    """ValueError naming the first NaN or inf in x."""
    if _quick_finite(x):
        return
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        what = "NaN" if np.isnan(x[tuple(bad)]) else "inf"
        raise ValueError(f"{name} contains {what} at index {tuple(int(i) for i in bad)}")


_upstream = threading.local()


@contextmanager
def checked_upstream():
    """``with checked_upstream(): ...``: in this thread, the checks of activations and their
    gradients (``check_activation``, and so ``check_input``, ``series_input`` and
    ``check_gradient``) keep their shape checks but skip the scan for NaN and inf.

    For a container passing arrays between its children: it checks its own input and
    output gradient once (``check_finite``), and what a child hands the next is computed
    from those and from finite parameters (an optimiser never applies a non-finite step,
    and the losses check their predictions). The scans cost textgen's training update
    (embedding, LSTM(256), linear head) 0.6 ms of 25: five passes over up to 3.3 MB.
    States, masks and targets a caller passes in are checked as before."""
    previous = getattr(_upstream, "checked", False)
    _upstream.checked = True
    try:
        yield
    finally:
        _upstream.checked = previous


def check_activation(x: np.ndarray, name: str) -> None:
    """``check_finite`` of a module's input or output gradient, except inside
    :func:`checked_upstream`."""
    if not getattr(_upstream, "checked", False):
        check_finite(x, name)


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
    check_activation(x, "input")
    return x


def valid_steps(lengths, steps: int) -> np.ndarray:
    """(B, T) booleans of a right-padded batch, True at the real steps t < lengths[b]."""
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]


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


def series_input(x, channels: int, dtype) -> np.ndarray:
    """x as a finite float array of shape (B, T, channels), or a ValueError naming the shape."""
    x = as_float_array(x, "input", dtype)
    if x.ndim != 3 or x.shape[-1] != channels:
        raise ValueError(f"Expected input of shape (B, T, {channels}), got {x.shape}")
    check_activation(x, "input")
    return x
