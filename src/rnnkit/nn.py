"""Feed-forward building blocks around the recurrent layers: ``Linear``, ``Embedding``,
``Dropout``, the many-to-one head ``LastStep`` and the container ``Sequential``.

Each has PyTorch's parameter names and default initialisation (``torch.nn.Linear``,
``torch.nn.Embedding``), a pure forward/backward pair beside it, and the module interface
of ``rnnkit.module``: ``out = m.forward(x)`` keeps what backward needs, ``dx = m.backward(dout)``
adds into ``m.grads`` and releases the cache. A per-step head needs nothing special:
``Linear`` maps the last axis of any (..., in_features) array, e.g. (B, T, H) -> (B, T, O).
"""
from __future__ import annotations

import inspect

import numpy as np

from .init import seed_sequence
from .module import Container, Module
from .validation import DTYPES, as_float_array, check_finite, check_lengths, positive_int


def float_dtype(dtype):
    dtype = np.dtype(dtype).type
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    return dtype


def take_cache(module):
    if module._cache is None:
        raise RuntimeError("backward() needs a forward() first (the cache is used once)")
    cache, module._cache = module._cache, None
    return cache


def check_dout(dout, shape, dtype, name="dout"):
    dout = as_float_array(dout, name, dtype)
    if dout.shape != shape:
        raise ValueError(f"Expected {name} of shape {shape} (the forward output), "
                         f"got {dout.shape}")
    return dout


# --- Linear --------------------------------------------------------------------------------
def init_linear(in_features, out_features, bias=True, dtype=np.float32, rng=None) -> dict:
    """PyTorch's default: kaiming_uniform(a=sqrt(5)) for the weight, which is
    U(-1/sqrt(in), 1/sqrt(in)), and the same bound for the bias; weight drawn first."""
    rng = np.random.default_rng(rng)
    k = 1.0 / np.sqrt(in_features)
    params = {"weight": rng.uniform(-k, k, size=(out_features, in_features)).astype(dtype)}
    if bias:
        params["bias"] = rng.uniform(-k, k, size=(out_features,)).astype(dtype)
    return params


def linear_forward(params: dict, x: np.ndarray):
    """``y = x W^T + b``; x (..., I) -> y (..., O). The cache is x."""
    y = x @ params["weight"].T  # (..., O)
    if "bias" in params:
        y = y + params["bias"]
    return y, x


def linear_backward(params: dict, x: np.ndarray, dy: np.ndarray, grads: dict) -> np.ndarray:
    """Adds dW = dy^T x and db = sum(dy) over the leading axes into ``grads``; returns dx."""
    W = params["weight"]  # (O, I)
    x2, dy2 = x.reshape(-1, W.shape[1]), dy.reshape(-1, W.shape[0])  # (N, I), (N, O)
    grads["weight"] += dy2.T @ x2  # undo y = x W^T
    if "bias" in grads:
        grads["bias"] += dy2.sum(axis=0)  # undo the broadcast of b
    return dy @ W  # (..., I)


class Linear(Module):
    """Affine map of the last axis, ``y = x W^T + b``, as ``torch.nn.Linear``.

    Parameters: ``weight`` (out_features, in_features), ``bias`` (out_features,), both
    ~ U(-1/sqrt(in_features), 1/sqrt(in_features)) from ``seed``.
    Shapes: x (..., in_features) -> y (..., out_features), any leading shape.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, seed=None):
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        self.dtype = float_dtype(dtype)
        self.seed = seed
        rng = np.random.default_rng(seed_sequence(seed))
        self.params = init_linear(self.in_features, self.out_features, bias, self.dtype, rng)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.training = True
        self._cache = None

    def config(self) -> dict:
        return dict(in_features=self.in_features, out_features=self.out_features,
                    bias="bias" in self.params, dtype=np.dtype(self.dtype).name)

    def __repr__(self):
        bias = "" if "bias" in self.params else ", bias=False"
        return f"Linear({self.in_features}, {self.out_features}{bias})"

    def forward(self, x):
        x = as_float_array(x, "input", self.dtype)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"Expected input of shape (..., {self.in_features}) (in_features "
                             f"on the last axis), got shape {x.shape}")
        check_finite(x, "input")
        y, x_cache = linear_forward(self.params, x)
        self._cache = (x_cache, y.shape)
        return y

    def backward(self, dy):
        x, y_shape = take_cache(self)
        dy = check_dout(dy, y_shape, self.dtype, "dy")
        return linear_backward(self.params, x, dy, self.grads)

    __call__ = forward


# --- Embedding -----------------------------------------------------------------------------
def check_indices(indices, num: int, name: str = "indices") -> np.ndarray:
    """Integer array with every entry in 0..num-1 (TypeError / IndexError otherwise)."""
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx[(idx < 0) | (idx >= num)].flat[0]
        raise IndexError(f"{name} must lie in 0..{num - 1}, got {bad}")
    return idx


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
        self.params = {"weight": weight}
        self.grads = {"weight": np.zeros_like(weight)}
        self.training = True
        self._cache = None

    def config(self) -> dict:
        return dict(num_embeddings=self.num_embeddings, embedding_dim=self.embedding_dim,
                    padding_idx=self.padding_idx, dtype=np.dtype(self.dtype).name)

    def __repr__(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{pad})"

    def forward(self, indices):
        idx = check_indices(indices, self.num_embeddings)
        y = self.params["weight"][idx]  # S + (E,)
        self._cache = (idx, y.shape)
        return y

    def backward(self, dy):
        idx, y_shape = take_cache(self)
        dy = check_dout(dy, y_shape, self.dtype, "dy")
        flat, dy2 = idx.ravel(), dy.reshape(-1, self.embedding_dim)  # (N,), (N, E)
        if self.padding_idx is not None:
            keep = flat != self.padding_idx  # the padding row gets no gradient
            flat, dy2 = flat[keep], dy2[keep]
        np.add.at(self.grads["weight"], flat, dy2)  # undo the gather; repeats accumulate
        return None

    __call__ = forward


# --- Dropout -------------------------------------------------------------------------------
def dropout_forward(x: np.ndarray, p: float, rng: np.random.Generator):
    """Inverted dropout: ``y = x * m``, m = keep / (1 - p), keep ~ Bernoulli(1 - p).
    Returns y and the mask m (shape of x; all zero when p = 1)."""
    keep = rng.random(x.shape) >= p  # (...) like x
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    mask = keep.astype(x.dtype) * x.dtype.type(scale)
    return x * mask, mask


def dropout_backward(mask: np.ndarray, dy: np.ndarray) -> np.ndarray:
    return dy * mask  # undo y = x * m


class Dropout(Module):
    """Zeroes each element with probability ``p`` and scales the rest by 1/(1-p), in training
    mode only (``eval()`` makes it the identity), as ``torch.nn.Dropout``. Masks come from a
    generator seeded with ``seed``. Shapes: any -> same."""

    def __init__(self, p=0.5, seed=None):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability p must be a number in [0, 1], got {p!r}")
        self.p = float(p)
        self.seed = seed
        self.rng = np.random.default_rng(seed_sequence(seed))
        self.params, self.grads = {}, {}
        self.training = True
        self._cache = None

    def config(self) -> dict:
        return dict(p=self.p)

    def __repr__(self):
        return f"Dropout(p={self.p})"

    def forward(self, x):
        x = np.asarray(x)
        if x.dtype not in DTYPES:
            x = as_float_array(x, "input", np.float64)
        mask = None
        if self.training and self.p > 0:
            x, mask = dropout_forward(x, self.p, self.rng)
        self._cache = (mask, x.shape, x.dtype)
        return x

    def backward(self, dy):
        mask, shape, dtype = take_cache(self)
        dy = check_dout(dy, shape, dtype, "dy")
        return dy if mask is None else dropout_backward(mask, dy)

    __call__ = forward


# --- heads and containers ------------------------------------------------------------------
class LastStep(Module):
    """Many-to-one head: ``out[b] = y[b, lengths[b] - 1]`` (or ``y[:, -1]`` without lengths).

    For a bidirectional layer give ``reverse_features=H``: the last H features come from the
    reverse direction, whose last step is t = 0, so they are read there ("both ends"):
    ``out[b] = [y[b, lengths[b] - 1, :F-H], y[b, 0, F-H:]]`` — the two directions' final states.
    Shapes: y (B, T, F) -> out (B, F); backward scatters dout (B, F) into zeros (B, T, F).
    """

    def __init__(self, reverse_features=None):
        self.reverse_features = None if reverse_features is None else \
            positive_int(reverse_features, "reverse_features")
        self.params, self.grads = {}, {}
        self.training = True
        self._cache = None

    def config(self) -> dict:
        return {} if self.reverse_features is None else {"reverse_features": self.reverse_features}

    def __repr__(self):
        rf = self.reverse_features
        return "LastStep()" if rf is None else f"LastStep(reverse_features={rf})"

    def forward(self, y, lengths=None):
        y = np.asarray(y)
        if y.ndim != 3:
            raise ValueError(f"Expected y to be 3D (B, T, F), got {y.ndim}D with shape {y.shape}")
        B, T, F = y.shape
        split = F - (self.reverse_features or 0)
        if split < 0:
            raise ValueError(f"reverse_features={self.reverse_features} exceeds the {F} features")
        last = np.full(B, T - 1) if lengths is None else check_lengths(lengths, B, T) - 1  # (B,)
        self._cache = (last, split, y.shape, y.dtype)
        out = y[np.arange(B), last]  # (B, F)
        out[:, split:] = y[:, 0, split:]  # the reverse direction ends at t = 0
        return out

    def backward(self, dout):
        last, split, (B, T, F), dtype = take_cache(self)
        dout = check_dout(dout, (B, F), dtype)
        dy = np.zeros((B, T, F), dtype)  # (B, T, F)
        dy[np.arange(B), last, :split] = dout[:, :split]  # undo the picks: only the chosen
        dy[:, 0, split:] = dout[:, split:]  # steps get gradient
        return dy

    __call__ = forward


class Sequential(Container):
    """Chain of modules, ``Sequential(m0, m1, ...)`` or named ``Sequential(rnn=..., fc=...)``.

    ``params`` and ``grads`` are read-only views built from the children on every access,
    under prefixed names (``"0.weight"``, ``"rnn.weight_ih_l0"``, ``"fc.bias"``); the values
    are the children's own arrays, so an in-place optimizer update reaches them.
    ``forward(x, lengths=None)`` passes ``lengths`` to the children whose forward takes it
    (recurrent layers, ``LastStep``). A child returning a tuple ``(y, state)`` (the recurrent
    layers) passes y on and its final state is dropped; in backward, a child returning
    ``(dx, dstate0)`` passes dx on.
    """

    def __init__(self, *modules, **named):
        if modules and named:
            raise ValueError("Sequential takes modules either by position or by name, not both")
        children = {str(i): m for i, m in enumerate(modules)} if modules else dict(named)
        for name, m in children.items():
            if "." in name:
                raise ValueError(f"child name {name!r} must not contain '.'")
            if not isinstance(m, Module):
                raise TypeError(f"child {name!r} is a {type(m).__name__}, not an rnnkit Module")
        ids = [id(m) for m in children.values()]
        if len(set(ids)) != len(ids):
            raise ValueError("the same module appears twice; its parameters would be "
                             "updated twice per step")
        self.modules = children
        self._takes_lengths = {name for name, m in children.items()
                               if "lengths" in inspect.signature(m.forward).parameters}
        self.training = True

    def __repr__(self):
        lines = [f"  ({name}): {m!r}" for name, m in self.modules.items()]
        return "Sequential(\n" + "\n".join(lines) + "\n)"

    def __getitem__(self, key):
        return list(self.modules.values())[key] if isinstance(key, int) else self.modules[key]

    def __len__(self):
        return len(self.modules)


    def forward(self, x, lengths=None):
        if lengths is not None and not self._takes_lengths:
            raise ValueError("lengths given, but no child's forward takes lengths")
        for name, m in self.modules.items():
            x = m.forward(x, lengths=lengths) if name in self._takes_lengths else m.forward(x)
            if isinstance(x, tuple):
                x = x[0]  # (y, state) from a recurrent layer
        return x

    def backward(self, dout):
        for m in reversed(self.modules.values()):
            dout = m.backward(dout)
            if isinstance(dout, tuple):
                dout = dout[0]  # (dx, dstate0) from a recurrent layer
        return dout

    __call__ = forward
