"""Preparing labelled series for a network: missing values, per-channel standardisation on
the training part only, a stratified hold-out split, and the order of class labels.

Series are right-padded arrays x (N, T, C) with valid lengths (N,); steps past a length are
padding. Missing values are NaN.
"""
from __future__ import annotations

import numpy as np

from rnnkit.errors import UsageError
from rnnkit.validation import valid_steps


def fill_missing(x, lengths, where):
    """Missing values (NaN) of right-padded series x (N, T, C): those after the last
    observed step of every channel shorten the series, the others are interpolated linearly
    in time (held at the first/last observed value at the ends). Returns (x, lengths, count
    filled), new arrays; ``where[i]`` names series i in errors."""
    x, lengths = x.copy(), lengths.copy()
    filled = 0
    for i in np.flatnonzero(np.isnan(x).any(axis=(1, 2))):
        seen = ~np.isnan(x[i, : lengths[i]])  # (T_i, C)
        if not seen.any(axis=0).all():
            c = int(np.argmin(seen.any(axis=0)))
            raise UsageError(f"{where[i]}: channel {c + 1} has no values")
        lengths[i] = int(np.flatnonzero(seen.any(axis=1))[-1]) + 1  # drop trailing gaps
        t = np.arange(lengths[i])
        for c in range(x.shape[2]):
            obs = seen[: lengths[i], c]
            filled += int((~obs).sum())
            x[i, : lengths[i], c] = np.interp(t, t[obs], x[i, t[obs], c])
        x[i, lengths[i]:] = 0.0
    return x, lengths, filled



def channel_stats(x, lengths):
    """Mean and standard deviation (C,) of each channel over the valid steps of x (N, T, C);
    a constant channel gets std 1."""
    m = valid_steps(lengths, x.shape[1])[..., None]  # (N, T, 1)
    count = m.sum()
    mean = (x * m).sum(axis=(0, 1)) / count  # (C,)
    std = np.sqrt((((x - mean) * m) ** 2).sum(axis=(0, 1)) / count)  # (C,)
    return mean, np.where(std > 1e-12, std, 1.0)


def standardise(x, lengths, mean, std):
    """``z = (x - mean) / std`` per channel, 0 after each series' length; float32."""
    z = (x - mean) / std  # (N, T, C)
    z[~valid_steps(lengths, x.shape[1])] = 0.0
    return z.astype(np.float32)


def stratified_split(y, fraction, rng):
    """(keep, held_out) index arrays: about ``fraction`` of each class held out, at least one
    of every class with two or more examples, never the last one of a class."""
    keep, held = [], []
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        n = min(max(int(round(fraction * len(idx))), 1), len(idx) - 1)
        held.append(idx[:n])
        keep.append(idx[n:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def class_order(labels):
    """Sorted distinct labels: numerically when all are numbers, else as text."""
    def key(s):
        try:
            return (0, float(s), s)
        except ValueError:
            return (1, 0.0, s)
    return sorted(set(labels), key=key)
