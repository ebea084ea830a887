"""Drawing tokens from a model's logits (temperature, top-k) and streaming generation with a
model's ``step``, keeping only the current recurrent state.

    p = sampling_distribution(logits, temperature=0.8, top_k=10)  # (..., V): what is drawn from
    ids = sample(logits, rng, temperature=0.8, top_k=10)          # (...,) ints, one per row
    for token in generate(model, prime_ids, 300, rng=rng):        # one id at a time
        ...

With logits z (..., V), temperature T > 0 and the set K of the k largest logits of a row,

    p_i = exp(z_i / T) / sum_{j in K} exp(z_j / T)   for i in K,   p_i = 0 otherwise.

T = 1 without top-k is softmax(z); T -> 0 or k = 1 is the argmax (greedy decoding); T > 1
flattens the distribution. ``sample`` uses the Gumbel-max trick: argmax_i (z_i / T + g_i) with
g_i ~ Gumbel(0, 1) i.i.d. is distributed as p (masked entries are -inf and never win).

References: Gumbel (1954) and Maddison, Tarlow & Minka (2014), "A* Sampling", for the
Gumbel-max trick; Fan, Lewis & Dauphin (2018), "Hierarchical Neural Story Generation", for
top-k sampling; Karpathy's min-char-rnn / char-rnn for sampling a character model step by step.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np


def check_sampling(temperature: float, top_k: int | None) -> None:
    """ValueError unless temperature is a positive finite number and top_k is None or >= 1."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature}")
    if top_k is not None and (int(top_k) != top_k or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k}")


def scaled_logits(logits, temperature: float = 1.0, top_k: int | None = None,
                  exclude=()) -> np.ndarray:
    """``(z - max z) / T`` in float64, with -inf outside the ``top_k`` largest entries of each
    row and at the ids in ``exclude`` (removed before the top k are chosen).

    logits (..., V) -> (..., V). ``top_k >= V`` keeps every entry.
    """
    check_sampling(temperature, top_k)
    z = np.array(logits, dtype=np.float64)  # (..., V), a copy
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"logits must have a non-empty last (vocabulary) axis, got {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("logits must be finite")
    V = z.shape[-1]
    if len(exclude):
        z[..., list(exclude)] = -np.inf
        if np.isneginf(z).all(axis=-1).any():
            raise ValueError("exclude removes every token")
    if top_k is not None and top_k < V:
        # all but the k largest of each row (ties: the lower id ranks first) cannot be drawn
        rest = np.argsort(-z, axis=-1, kind="stable")[..., top_k:]  # (..., V - k)
        np.put_along_axis(z, rest, -np.inf, axis=-1)
    z -= z.max(axis=-1, keepdims=True)  # the best entry is 0: no overflow for tiny T
    return z / temperature


def sampling_distribution(logits, temperature: float = 1.0, top_k: int | None = None,
                          exclude=()) -> np.ndarray:
    """The distribution ``sample`` draws from: softmax of :func:`scaled_logits`, (..., V)."""
    z = scaled_logits(logits, temperature, top_k, exclude)  # (..., V)
    e = np.exp(z)  # exp(-inf) = 0 outside the top k
    return e / e.sum(axis=-1, keepdims=True)


def sample(logits, rng: np.random.Generator, temperature: float = 1.0,
           top_k: int | None = None, exclude=()) -> np.ndarray:
    """One token id per row of ``logits`` (..., V) -> (...,) int64, drawn from
    :func:`sampling_distribution` by the Gumbel-max trick with ``rng``."""
    z = scaled_logits(logits, temperature, top_k, exclude)  # (..., V)
    g = rng.gumbel(size=z.shape)  # (..., V) i.i.d. Gumbel(0, 1)
    return np.argmax(z + g, axis=-1).astype(np.int64)


def generate(model, prime, length: int, *, rng: np.random.Generator,
             temperature: float = 1.0, top_k: int | None = None,
             exclude=()) -> Iterator[int]:
    """Feed the ids ``prime`` to ``model.step`` one at a time, then draw ``length`` ids, each
    fed back as the next input; yields the drawn ids as they come.

    ``model.step(x_t (1,) ids, state) -> (logits (1, V), state)``, as
    :meth:`rnnkit.nn.models.SequenceModel.step`. Only the current state is kept, so memory does
    not grow with ``length``. The same ``rng`` state gives the same ids.
    """
    check_sampling(temperature, top_k)
    prime = [int(t) for t in prime]
    if not prime:
        raise ValueError("prime must hold at least one token id (the model needs an input)")
    if int(length) != length or length < 1:
        raise ValueError(f"length must be a positive integer, got {length}")
    return _generate(model, prime, int(length), rng, temperature, top_k, tuple(exclude))


def _generate(model, prime, length, rng, temperature, top_k, exclude):
    state = None
    for token in prime:
        logits, state = model.step(np.array([token]), state)  # (1, V)
    for i in range(length):
        token = int(sample(logits[0], rng, temperature, top_k, exclude))
        yield token
        if i + 1 < length:
            logits, state = model.step(np.array([token]), state)  # (1, V)
