"""Buffers the time loops stream through start on a cache line (rnnkit.core.aligned)."""
import numpy as np
import pytest

from rnnkit.core import aligned, gemm, kernels
from rnnkit.core.aligned import LINE, copy_rows, empty, empty_rows


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("shape", [0, 1, 7, (3, 5), (2, 101, 33, 20), (4, 0, 3)])
def test_empty_starts_on_a_line_with_the_shape_and_dtype_asked_for(shape, dtype):
    for _ in range(8):  # malloc's offsets vary from block to block
        a = empty(shape, dtype)
        assert a.ctypes.data % LINE == 0 or a.size == 0  # an empty array has no first element
        assert a.shape == ((shape,) if isinstance(shape, int) else shape)
        assert a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
        a[...] = 1  # every element is inside the block
        assert a.sum() == a.size


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows,cols", [(0, 4), (1, 1), (12, 512), (33, 7)])
def test_empty_rows_in_numba_starts_on_a_line(rows, cols, dtype):
    for _ in range(8):
        a = empty_rows(rows, cols, np.empty(0, dtype))
        assert a.ctypes.data % LINE == 0 or a.size == 0
        assert a.shape == (rows, cols) and a.dtype == dtype and a.flags.c_contiguous


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_copy_rows_in_numba_is_a_copy_on_a_line(dtype):
    a = np.arange(7 * 9, dtype=dtype).reshape(7, 9)
    for lo, hi in ((0, 7), (2, 5), (3, 3)):
        got = copy_rows(a[lo:hi])
        np.testing.assert_array_equal(got, a[lo:hi])
        assert got.ctypes.data % LINE == 0 or got.size == 0
        assert not np.shares_memory(got, a)


def test_the_loops_buffers_and_outputs_start_on_a_line():
    """The forward loop's gate buffers, the packed weights, and the arrays a scan returns."""
    rng = np.random.default_rng(0)
    B, T, I, H = 6, 5, 3, 16
    y = np.empty((B, T, H), np.float32)
    w_x = np.empty((1, I, 32), np.float32)
    drop = np.empty((B, H), np.float32)
    for buffer in kernels._forward_buffers(np.empty((0, 0, 4 * H), np.float32), w_x, drop,
                                           y, 2, B):
        assert buffer.ctypes.data % LINE == 0
    assert gemm.pack(rng.standard_normal((H, 4 * H)).astype(np.float32)).ctypes.data \
        % LINE == 0
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    w_ih = rng.standard_normal((4 * H, I)).astype(np.float32)
    w_hh = rng.standard_normal((4 * H, H)).astype(np.float32)
    carry0 = np.zeros((2, B, H), np.float32)
    cache = kernels.scan_forward("lstm", None, carry0, w_hh, x=x, w_ih=w_ih)
    for out in (cache.states, cache.acts, cache.y):
        assert out.ctypes.data % LINE == 0
    dgx, dgh, dcarry, dx = kernels.scan_backward(cache, np.ones((B, T, H), np.float32),
                                                 np.zeros((2, B, H), np.float32), w_hh, w_ih)
    assert dgx.ctypes.data % LINE == 0 and dcarry.ctypes.data % LINE == 0
    assert aligned.empty((2, 3), np.float32).base is not None  # a view into a longer block
