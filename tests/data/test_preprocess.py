"""Missing values, standardisation on valid steps, and the stratified hold-out split."""
import numpy as np
import pytest

from rnnkit.data.preprocess import channel_stats, fill_missing, standardise, stratified_split
from rnnkit.errors import UsageError


def test_fill_missing_interpolates_and_trims():
    x = np.array([[[1.0], [np.nan], [3.0], [np.nan], [0.0]],
                  [[np.nan], [2.0], [4.0], [6.0], [8.0]]])  # (2, 5, 1)
    lengths = np.array([4, 5])
    filled, new_lengths, count = fill_missing(x, lengths, ["a", "b"])
    assert new_lengths.tolist() == [3, 5]  # the trailing gap of series a is cut
    np.testing.assert_allclose(filled[0, :3, 0], np.interp([0, 1, 2], [0, 2], [1, 3]))
    assert (filled[0, 3:] == 0).all()
    assert filled[1, 0, 0] == x[1, 1, 0]  # held at the first observed value
    assert count == 2 and np.isnan(x).sum() == 3  # the input is not changed
    x2 = np.full((1, 3, 2), np.nan)
    x2[0, :, 0] = 1.0
    with pytest.raises(UsageError, match="s1: channel 2 has no values"):
        fill_missing(x2, np.array([3]), ["s1"])


def test_channel_stats_use_valid_steps_only():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (4, 6, 2))
    lengths = np.array([6, 2, 4, 1])
    x[1, 2:] = 1e6  # padding must not count
    valid = np.concatenate([x[i, :n] for i, n in enumerate(lengths)])  # (sum n, C)
    mean, std = channel_stats(x, lengths)
    np.testing.assert_allclose(mean, valid.mean(axis=0))
    np.testing.assert_allclose(std, valid.std(axis=0))
    z = standardise(x, lengths, mean, std)
    assert z.dtype == np.float32 and (z[1, 2:] == 0).all()
    zv = np.concatenate([z[i, :n] for i, n in enumerate(lengths)])
    np.testing.assert_allclose(zv.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(zv.std(axis=0), 1, atol=1e-6)


def test_stratified_split_keeps_every_class():
    y = np.array([0] * 10 + [1] * 5 + [2] * 2 + [3])
    keep, held = stratified_split(y, 0.2, np.random.default_rng(0))
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(len(y)))
    for k, n in zip(*np.unique(y, return_counts=True)):
        n_held = int(np.sum(y[held] == k))
        assert n_held == (0 if n == 1 else max(1, round(0.2 * n)))
        assert np.sum(y[keep] == k) >= 1
    again = stratified_split(y, 0.2, np.random.default_rng(0))
    assert all((a == b).all() for a, b in zip((keep, held), again))
