"""The cross-entropy's row kernels (rnnkit.core.softmax); the loss itself is tested in
tests/nn/test_losses.py against torch, finite differences and float64."""
import numpy as np
import pytest

from rnnkit.core.softmax import row_max

rng = np.random.default_rng(0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_max_equals_numpy_for_every_sign_and_size(dtype):
    """row_max compares the floats' bits as integers: negatives, zeros of both signs,
    subnormals and the largest finite values must order as the floats do."""
    info = np.finfo(dtype)
    special = np.array([0.0, -0.0, info.max, -info.max, info.tiny, -info.tiny,
                        info.smallest_subnormal, -info.smallest_subnormal, 1.0, -1.0], dtype)
    rows = [rng.standard_normal(96), -rng.uniform(1, 2, 96), np.full(5, -0.0), np.zeros(3),
            np.array([-0.0, 0.0]), np.array([-3.0]), rng.choice(special, 40), special,
            -np.abs(rng.choice(special, 17)), rng.standard_normal(33) * 1e30]
    for row in rows:
        x = np.asarray(row, dtype)[None].repeat(3, axis=0)  # (3, C)
        got = row_max(x)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, x.max(axis=1))
        assert (np.signbit(got) == np.signbit(x.max(axis=1))).all() or not got.any()
