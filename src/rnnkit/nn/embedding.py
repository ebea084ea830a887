"""The lookup table ``Embedding`` as ``torch.nn.Embedding``."""
from __future__ import annotations

import numpy as np
from numba import njit

from rnnkit.core.init import seed_sequence
from rnnkit.nn.module import Module
from rnnkit.nn.registry import register_module
from rnnkit.validation import check_gradient, check_indices, float_dtype, positive_int


@njit(cache=True, nogil=True)
def _scatter_add(out, rows, values):
    """out[rows[i]] += values[i] for i in order: ``np.add.at(out, rows, values)`` for out
    (V, E), rows (N,), values (N, E), the same additions in the same order (so the same
    bits), without add.at's per-element dispatch: 0.7 ms for textgen's (3200, 32), this
    ~0.01 ms."""
    for i in range(rows.size):
        target, source = out[rows[i]], values[i]
        for j in range(source.size):
            target[j] += source[j]


@register_module
class Embedding(Module):
    """Lookup table, ``y[...] = weight[indices[...]]``, as ``torch.nn.Embedding``.

    Parameter ``weight`` (num_embeddings, embedding_dim) ~ N(0, 1) from ``seed``; the row
    ``padding_idx`` (negative counts from the end) starts at zero and receives no gradient.
    Shapes: integer indices of any shape S -> y of shape S + (embedding_dim,).
    ``backward`` returns None: indices have no gradient.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=np.float32,
                 seed=None):
        self.num_embeddings = positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = positive_int(embedding_dim, "embedding_dim")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx must lie in -{num_embeddings}.."
                                 f"{num_embeddings - 1}, got {padding_idx}")
            padding_idx = int(padding_idx) % num_embeddings
        self.padding_idx = padding_idx
        self.dtype = float_dtype(dtype)
        self.seed = seed
        rng = np.random.default_rng(seed_sequence(seed))
        weight = rng.standard_normal((self.num_embeddings, self.embedding_dim)).astype(self.dtype)
        if padding_idx is not None:
            weight[padding_idx] = 0
        super().__init__({"weight": weight})

    def config(self) -> dict:
        return dict(num_embeddings=self.num_embeddings, embedding_dim=self.embedding_dim,
                    padding_idx=self.padding_idx, dtype=np.dtype(self.dtype).name)

    def __repr__(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{pad})"

    def forward(self, indices):
        idx = check_indices(indices, self.num_embeddings)
        y = self.params["weight"][idx]  # S + (E,)
        self.save_for_backward((idx, y.shape))
        return y

    def backward(self, dy):
        idx, y_shape = self.saved()
        dy = check_gradient(dy, y_shape, self.dtype, "dy")
        flat, dy2 = idx.ravel(), dy.reshape(-1, self.embedding_dim)  # (N,), (N, E)
        if self.padding_idx is not None:
            keep = flat != self.padding_idx  # the padding row gets no gradient
            flat, dy2 = flat[keep], dy2[keep]
        _scatter_add(self.grads["weight"], np.ascontiguousarray(flat, dtype=np.intp),
                     np.ascontiguousarray(dy2))  # undo the gather; repeats accumulate
        return None

    __call__ = forward
