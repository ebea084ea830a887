"""check_finite names the first NaN or inf, whichever path (the quick numba pass for large
contiguous float arrays, the exact scan otherwise) sees it, and lets finite values through
even where their sums would overflow."""
import numpy as np
import pytest

from rnnkit.validation import _quick_finite, check_finite


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("where", [0, 5000, 1024 * 7 - 1, 1024 * 7 + 3])  # rows, and the tail
@pytest.mark.parametrize("bad,word", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf")])
def test_a_bad_value_anywhere_is_named(dtype, where, bad, word):
    x = np.ones(1024 * 7 + 10, dtype)
    x[where] = bad
    with pytest.raises(ValueError, match=rf"x contains {word} at index \({where},\)"):
        check_finite(x, "x")


def test_finite_values_pass_even_when_their_sums_overflow():
    x = np.full((8, 1024), 3e38, np.float32)  # each row sums to inf in float32
    check_finite(x, "x")
    assert _quick_finite(x) and _quick_finite(-x)  # settled by the quick pass
    y = x.copy()
    y[5, 1000] = np.nan
    assert not _quick_finite(y)
    check_finite(np.ones((64, 100, 128), np.float32), "x")
    check_finite(np.ones((50, 1000), np.float64)[:, ::3], "x")  # not contiguous: exact scan


def test_the_first_bad_value_of_a_3d_array_is_reported_by_index():
    x = np.zeros((4, 100, 64), np.float32)
    x[2, 7, 5] = np.nan
    x[3, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"NaN at index \(2, 7, 5\)"):
        check_finite(x, "x")
