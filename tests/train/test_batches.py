"""ArrayData's mini-batches: shuffled by the generator, cut to their longest series."""
import numpy as np

from rnnkit.train.batches import ArrayData, AugmentedData


def padded(lengths, T=10, F=2):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((len(lengths), T, F))
    x[np.arange(T)[None, :] >= np.asarray(lengths)[:, None]] = 0.0  # zero padding
    return x


def test_batches_are_cut_to_their_longest_series():
    lengths = np.array([3, 7, 2, 5, 4, 6])
    x, y = padded(lengths), np.arange(6)
    batches = list(ArrayData(x, y, lengths).batches(2))
    assert [b["x"].shape for b in batches] == [(2, 7, 2), (2, 5, 2), (2, 6, 2)]
    for k, b in enumerate(batches):
        idx = np.arange(2 * k, 2 * k + 2)
        np.testing.assert_array_equal(b["x"], x[idx, : lengths[idx].max()])
        np.testing.assert_array_equal(b["y"], y[idx])  # one label per series: as is
        np.testing.assert_array_equal(b["lengths"], lengths[idx])
    shuffled = list(ArrayData(x, y, lengths).batches(4, np.random.default_rng(1)))
    for b in shuffled:
        assert b["x"].shape[1] == b["lengths"].max()
        np.testing.assert_array_equal(b["x"], x[b["y"], : b["lengths"].max()])


def test_per_step_targets_are_cut_with_the_inputs_and_no_lengths_cut_nothing():
    lengths = np.array([2, 4, 3])
    x, y = padded(lengths, T=6), np.arange(18).reshape(3, 6)  # y (B, T): a label per step
    (b,) = ArrayData(x, y, lengths).batches(3)
    assert b["x"].shape == (3, 4, 2) and b["y"].shape == (3, 4)
    np.testing.assert_array_equal(b["y"], y[:, :4])
    (b,) = ArrayData(x, y).batches(3)  # no lengths: every step is real
    assert b["x"].shape == (3, 6, 2) and b["lengths"] is None
    tokens = np.arange(12).reshape(3, 4)  # token ids (B, T) are cut the same way
    (b,) = ArrayData(tokens, np.zeros(3, int), np.array([1, 2, 2])).batches(3)
    np.testing.assert_array_equal(b["x"], tokens[:, :2])


def test_augmented_batches_keep_the_cut():
    lengths = np.array([3, 8, 5, 2])
    data = AugmentedData(ArrayData(padded(lengths), np.arange(4), lengths),
                         lambda x, lengths, rng: x + 1.0, seed=0)
    assert [b["x"].shape[1] for b in data.batches(2)] == [8, 5]
