"""Row views without a reference to their array's memory (rnnkit.core.views), as the step
kernels take them."""
import numpy as np
import pytest
from numba import njit

from rnnkit.core.views import row_at, row_of


@njit(cache=False)
def _rows_sum(a):
    """sum over i of a[i]'s elements, read through row_of, for a 2-D array."""
    total = 0.0
    for i in range(a.shape[0]):
        row = row_of(a, i)
        for j in range(row.size):
            total += row[j]
    return total


@njit(cache=False)
def _rows_sum_3d(a):
    """The same for a 3-D array, its rows' rows through row_at."""
    total = 0.0
    for i in range(a.shape[0]):
        for k in range(a.shape[1]):
            row = row_at(a, i, k)
            for j in range(row.size):
                total += row[j]
    return total


@njit(cache=False)
def _write_rows(a, t):
    """a[t, b, j] = 100 t + 10 b + j through row_at, and the row's tail through a slice of it."""
    for b in range(a.shape[1]):
        row = row_at(a, t, b)
        for j in range(row.size):
            row[j] = 100 * t + 10 * b + j
        tail = row[2:]
        for j in range(tail.size):
            tail[j] += 0.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_of_reads_the_rows_of_2d_and_3d_arrays(dtype):
    a = np.arange(24, dtype=dtype).reshape(4, 6)
    assert _rows_sum(a) == a.sum()
    assert _rows_sum_3d(a.reshape(2, 3, 4)) == a.sum()


def test_row_at_writes_through_to_the_array_and_its_slices():
    a = np.zeros((3, 2, 5))
    _write_rows(a, 1)
    expected = np.zeros((3, 2, 5))
    expected[1] = 100 + 10 * np.arange(2)[:, None] + np.arange(5)
    expected[1, :, 2:] += 0.5
    np.testing.assert_array_equal(a, expected)


def test_row_of_follows_the_strides_of_a_view():
    """A non-contiguous array (every other column of a transposed view): its rows' strides."""
    base = np.arange(60.0).reshape(6, 10)
    view = base.T[::2]  # (5, 6), rows 2 columns of base apart, entries 10 apart
    assert not view.flags.c_contiguous
    assert _rows_sum(view) == view.sum()

    @njit(cache=False)
    def second_row_first(v):
        return row_of(v, 1)[0], row_of(v, 1)[5]

    assert second_row_first(view) == (view[1, 0], view[1, 5])
