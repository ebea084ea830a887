"""Data for the fit loop: arrays of samples in seeded mini-batches, and token streams for
truncated backpropagation through time.

A batch is a dict: ``{"x": (B, T, F) or (B, T) ints, "y": targets, "lengths": (B,) or None}``.
"""
from __future__ import annotations

import numpy as np


class ArrayData:
    """Samples ``x[i]``, targets ``y[i]`` and optional valid lengths, indexed together."""

    def __init__(self, x, y, lengths=None):
        x, y = np.asarray(x), np.asarray(y)
        if len(x) == 0:
            raise ValueError("no samples: x is empty")
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        if lengths is not None:
            lengths = np.asarray(lengths)
            if lengths.shape != (len(x),):
                raise ValueError(f"lengths must have shape ({len(x)},), got {lengths.shape}")
        self.x, self.y, self.lengths = x, y, lengths

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, idx) -> "ArrayData":
        return ArrayData(self.x[idx], self.y[idx],
                         None if self.lengths is None else self.lengths[idx])

    def split(self, fraction: float) -> tuple["ArrayData", "ArrayData"]:
        """(first part, last ``fraction``), in order, as Keras' validation_split."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"validation fraction must lie in (0, 1), got {fraction}")
        n_val = int(round(len(self) * fraction))
        if n_val < 1 or n_val >= len(self):
            raise ValueError(f"validation fraction {fraction} of {len(self)} samples leaves "
                             "an empty part")
        cut = len(self) - n_val
        return self.subset(slice(0, cut)), self.subset(slice(cut, None))

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def batches(self, batch_size: int, rng: np.random.Generator | None = None):
        """Mini-batches, shuffled by ``rng`` when given, else in order. With lengths, each
        batch is cut to its longest valid series (x (B, T_b, ...) with T_b = max lengths,
        and y too where it has the same time axis): the steps after T_b are padding in every
        series of the batch, and a recurrent layer would still run them."""
        order = rng.permutation(len(self)) if rng is not None else np.arange(len(self))
        per_step = self.y.ndim >= 2 and self.y.shape[:2] == self.x.shape[:2]
        for start in range(0, len(self), batch_size):
            idx = order[start : start + batch_size]
            x, y = self.x[idx], self.y[idx]
            lengths = None if self.lengths is None else self.lengths[idx]
            if lengths is not None and x.ndim >= 2:
                steps = max(int(lengths.max()), 1)
                x = x[:, :steps]
                y = y[:, :steps] if per_step else y
            yield {"x": x, "y": y, "lengths": lengths}


class StreamData:
    """One long token sequence cut into ``batch_size`` parallel streams, read in windows of
    ``seq_len`` steps (truncated BPTT): window k of stream b continues window k-1 of stream b,
    so the model's state carries over from one batch to the next.

    tokens (N,) ints -> batches {"x": (B, seq_len), "y": (B, seq_len) next tokens}.
    """

    def __init__(self, tokens, batch_size: int, seq_len: int):
        tokens = np.asarray(tokens)
        if tokens.ndim != 1:
            raise ValueError(f"tokens must be 1D, got shape {tokens.shape}")
        per_stream = (len(tokens) - 1) // batch_size
        if per_stream < 1:
            raise ValueError(f"{len(tokens)} tokens are too few for {batch_size} streams")
        n = per_stream * batch_size
        self.x = tokens[:n].reshape(batch_size, per_stream)  # (B, N/B)
        self.y = tokens[1 : n + 1].reshape(batch_size, per_stream)
        self.seq_len = seq_len
        self.batch_size = batch_size

    def __len__(self) -> int:
        return self.x.size

    def num_batches(self, batch_size=None) -> int:
        return -(-self.x.shape[1] // self.seq_len)

    def batches(self, batch_size=None, rng=None):
        """Windows in order (never shuffled: the state must follow the stream)."""
        for start in range(0, self.x.shape[1], self.seq_len):
            sl = slice(start, start + self.seq_len)
            yield {"x": self.x[:, sl], "y": self.y[:, sl], "lengths": None}


def as_data(data):
    """An ArrayData or StreamData as is; a tuple (x, y[, lengths]) as ArrayData."""
    if isinstance(data, tuple):
        return ArrayData(*data)
    if not hasattr(data, "batches"):
        raise TypeError("data must be an ArrayData, a StreamData or a tuple (x, y[, lengths])")
    return data


class AugmentedData:
    """Training batches of ``data`` passed through ``augment(x, lengths, rng) -> x`` (e.g.
    :func:`rnnkit.data.augment.augment_series`), drawing from its own seeded generator; a
    fresh variation of every batch in every epoch. Use it for the training part only."""

    def __init__(self, data: ArrayData, augment, seed=None):
        self.data, self.augment = data, augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.data)

    def num_batches(self, batch_size: int) -> int:
        return self.data.num_batches(batch_size)

    def batches(self, batch_size: int, rng: np.random.Generator | None = None):
        for batch in self.data.batches(batch_size, rng):
            x = batch["x"]
            lengths = batch["lengths"] if batch["lengths"] is not None else \
                np.full(len(x), x.shape[1])
            yield dict(batch, x=self.augment(x, lengths, self.rng))
