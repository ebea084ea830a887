"""Augmentation: shapes, padding kept at zero, seeded, and each transform does what it says."""
import numpy as np

from rnnkit.data.augment import augment_series, jitter, scaling, window_slice


def batch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 20, 2)).astype(np.float32)
    lengths = np.array([20, 12, 5, 1])
    x[np.arange(20)[None, :] >= lengths[:, None]] = 0.0
    return x, lengths


def test_padding_stays_zero_and_seed_repeats():
    x, lengths = batch()
    for fn in (jitter, scaling, window_slice, augment_series):
        a = fn(x, lengths, np.random.default_rng(1))
        b = fn(x, lengths, np.random.default_rng(1))
        assert a.shape == x.shape and a.dtype == x.dtype, fn.__name__
        np.testing.assert_array_equal(a, b)
        assert not a[np.arange(20)[None, :] >= lengths[:, None]].any(), fn.__name__


def test_each_transform():
    x, lengths = batch()
    rng = np.random.default_rng(2)
    noise = jitter(x, lengths, rng, sigma=0.5) - x  # relative to each series' own spread
    assert 0.4 < noise[0].std() / x[0].std() < 0.6
    quiet = x.copy()
    quiet[0] *= 1e-3  # a quiet series gets quiet noise and keeps its shape
    assert 0.4 < (jitter(quiet, lengths, rng, sigma=0.5) - quiet)[0].std() / quiet[0].std() < 0.6
    s = scaling(x, lengths, rng, sigma=0.2)[0, :, 0] / x[0, :, 0]
    np.testing.assert_allclose(s, s[0], rtol=1e-5)  # one factor per series and channel
    ramp = np.arange(10, dtype=np.float64)[None, :, None]  # a line stays a line
    out = window_slice(ramp, np.array([10]), rng, ratio=0.5)[0, :, 0]
    np.testing.assert_allclose(np.diff(out), np.diff(out)[0])
    assert out[-1] - out[0] == 4.0  # a window of 5 steps stretched over 10
    np.testing.assert_array_equal(window_slice(x, lengths, rng, ratio=1.0), x)
