"""Arrays that start on a cache line (64 bytes), for the buffers the time loops stream through.

NumPy's arrays start where malloc puts them, 16 bytes aligned, and numba's ``np.empty`` 32:
with every block taken from the heap (``rnnkit.core.memory``), a state, activation or gate
buffer starts at a random offset of 16, 32 or 48 bytes into a cache line three times in
four. The loops read and write these rows in 512-bit (64-byte) vectors on AVX-512, and a
vector that straddles two cache lines costs two accesses. The LSTM's element-wise step
alone, one thread, 32 rows, H = 128 (benchmarks/README.md, session 20), ns a unit: every
array 64-byte aligned 1.10-1.12, every array 16, 32 or 48 bytes off 1.29-1.31.

``empty(shape, dtype)`` (Python) and ``empty_rows(rows, cols, dtype_of)`` (numba) take a
block a cache line longer than asked for and return the array that starts at its first line
boundary; rows whose width in bytes is a multiple of 64 then all start on one.
``copy_rows(a)`` (numba) is such a copy of a 2-D array.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

LINE = 64  # bytes: a cache line, and an AVX-512 vector


def empty(shape, dtype) -> np.ndarray:
    """Like ``np.empty(shape, dtype)``, C-contiguous, its first element at a multiple of LINE
    bytes."""
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = math.prod(shape) * dtype.itemsize
    block = np.empty(nbytes + LINE, np.uint8)
    start = -block.ctypes.data % LINE
    return block[start : start + nbytes].view(dtype).reshape(shape)


@njit(cache=True, nogil=True)
def empty_rows(rows, cols, dtype_of):
    """A (rows, cols) array of dtype_of's dtype inside a numba function, its first element at
    a multiple of LINE bytes (numba's ``np.empty`` aligns to 32)."""
    pad = LINE // dtype_of.itemsize
    block = np.empty(rows * cols + pad, dtype_of.dtype)
    start = (LINE - np.int64(block.ctypes.data) % LINE) % LINE // dtype_of.itemsize
    return block[start : start + rows * cols].reshape((rows, cols))


@njit(cache=True, nogil=True)
def copy_rows(a):
    """A copy of the 2-D array a (rows, cols) inside a numba function, as ``a.copy()``, its
    first element at a multiple of LINE bytes (``empty_rows``)."""
    out = empty_rows(a.shape[0], a.shape[1], a)
    out[:] = a
    return out
