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


# --- checked_upstream: a container's children skip the scans of what it already checked ---
def test_checked_upstream_skips_the_scan_but_not_the_shape_checks():
    from rnnkit.validation import check_activation, check_gradient, check_input, checked_upstream

    bad = np.full((2, 3, 4), np.nan)
    with checked_upstream():
        check_activation(bad, "x")
        assert check_input(bad, 4, np.float64) is not None
        with pytest.raises(ValueError, match="Expected input feature size 5"):
            check_input(bad, 5, np.float64)
        with pytest.raises(ValueError, match=r"Expected dy of shape \(2, 3, 5\)"):
            check_gradient(bad, (2, 3, 5), np.float64, "dy")
        check_finite(np.zeros(3), "states and masks are still checked")
        with pytest.raises(ValueError, match="state contains NaN"):
            check_finite(bad, "state")
    with pytest.raises(ValueError, match=r"x contains NaN at index \(0, 0, 0\)"):
        check_activation(bad, "x")


def test_checked_upstream_nests_restores_after_errors_and_stays_in_its_thread():
    import threading

    from rnnkit.validation import check_activation, checked_upstream

    bad = np.array([np.inf])
    seen = []
    with checked_upstream():
        with checked_upstream():
            check_activation(bad, "x")
        check_activation(bad, "x")  # the outer context still holds

        def other_thread():
            try:
                check_activation(bad, "x")
            except ValueError as exc:
                seen.append(str(exc))
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert seen == ["x contains inf at index (0,)"]
    with pytest.raises(RuntimeError):
        with checked_upstream():
            raise RuntimeError("a child failed")
    with pytest.raises(ValueError, match="x contains inf"):
        check_activation(bad, "x")
