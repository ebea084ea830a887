"""The base every rnnkit module shares: parameters and gradients in dicts, train/eval mode,
and the one rule for what a forward pass keeps.

A module's ``params`` maps names to arrays and ``grads`` maps the same names to arrays of the
same shapes. ``backward`` *adds* into ``grads`` (as PyTorch accumulates ``.grad``);
``zero_grad`` clears them. Optimizers update ``params`` in place, so the arrays a module holds
are the ones it computes with.

The cache rule: ``forward`` keeps what its ``backward`` needs (one cache per module, replaced
by the next forward and released by the backward that uses it), except under
:func:`no_grad`, where it keeps nothing: inference and evaluation run there.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from types import MappingProxyType

import numpy as np

from rnnkit.validation import as_float_array, check_activation

_local = threading.local()


def grad_enabled() -> bool:
    """False inside :func:`no_grad` (in this thread): forward passes keep no cache."""
    return getattr(_local, "grad_enabled", True)


@contextmanager
def no_grad():
    """``with no_grad(): y = model.forward(x)``: no module keeps a cache for a backward
    pass (as ``torch.no_grad``), so memory does not hold activations."""
    previous = grad_enabled()
    _local.grad_enabled = False
    try:
        yield
    finally:
        _local.grad_enabled = previous


class Module:
    """Base class. ``params`` (given here, or properties in a :class:`Container`) and
    ``grads`` of the same names and shapes; ``training``; one forward cache (see above)."""

    def __init__(self, params: dict[str, np.ndarray] | None = None):
        if params is not None:
            self.params = params
            self.grads = {k: np.zeros_like(v) for k, v in params.items()}
        self.training = True
        self._cache = None

    def save_for_backward(self, cache) -> None:
        """Keep ``cache`` for the next backward, unless under :func:`no_grad`."""
        self._cache = cache if grad_enabled() else None

    def saved(self):
        """The cache of the last forward, released: a backward uses it once."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() needs a forward() first, "
                               "outside no_grad() (the cache is used once)")
        cache, self._cache = self._cache, None
        return cache

    def train(self, mode: bool = True):
        """Training mode (dropout active); returns self."""
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self) -> None:
        for g in self.grads.values():
            g.fill(0)

    def num_parameters(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of the parameters, keyed by name."""
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state: dict) -> None:
        """Copy arrays into the parameters in place; names and shapes must match exactly."""
        missing = sorted(set(self.params) - set(state))
        unexpected = sorted(set(state) - set(self.params))
        if missing or unexpected:
            raise KeyError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
        for name, value in state.items():
            value = np.asarray(value)
            if value.shape != self.params[name].shape:
                raise ValueError(
                    f"{name}: expected shape {self.params[name].shape}, got {value.shape}"
                )
            self.params[name][...] = value


class Container(Module):
    """A module made of named children in ``self.modules`` (a dict, in forward order).

    ``params`` and ``grads`` are read-only views built from the children on every access,
    under prefixed names (``"rnn.weight_ih_l0"``, ``"fc.bias"``); the values are the children's
    own arrays, so an in-place optimizer update reaches them, and assigning to the view
    raises instead of silently not training.
    """
    modules: dict[str, Module]

    @property
    def params(self):
        return MappingProxyType({f"{name}.{k}": v for name, m in self.modules.items()
                                 for k, v in m.params.items()})

    @property
    def grads(self):
        return MappingProxyType({f"{name}.{k}": v for name, m in self.modules.items()
                                 for k, v in m.grads.items()})

    def train(self, mode: bool = True):
        self.training = bool(mode)
        for m in self.modules.values():
            m.train(mode)
        return self

    @staticmethod
    def checked(array, name: str, dtype):
        """``array`` as a float array of ``dtype``, finite (``check_activation``: unless a
        container around this one checked it): a container's own input or output gradient,
        checked once, before its children run inside ``validation.checked_upstream``."""
        array = as_float_array(array, name, dtype)
        check_activation(array, name)
        return array
