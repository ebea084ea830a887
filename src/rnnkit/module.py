"""The base every rnnkit module shares: parameters and gradients in dicts, train/eval mode.

A module's ``params`` maps names to arrays and ``grads`` maps the same names to arrays of the
same shapes. ``backward`` *adds* into ``grads`` (as PyTorch accumulates ``.grad``);
``zero_grad`` clears them. Optimizers update ``params`` in place, so the arrays a module holds
are the ones it computes with.
"""
from __future__ import annotations

from types import MappingProxyType

import numpy as np


class Module:
    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    training: bool = True

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
