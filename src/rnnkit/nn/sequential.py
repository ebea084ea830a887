"""The container ``Sequential``: a chain of modules with prefixed parameter names."""
from __future__ import annotations

import inspect

from rnnkit.nn.module import Container, Module
from rnnkit.nn.registry import register_module


@register_module
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

    describe_children = True  # saved as its children's descriptions (rnnkit.nn.registry)

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
        super().__init__()
        self.modules = children
        self._takes_lengths = {name for name, m in children.items()
                               if "lengths" in inspect.signature(m.forward).parameters}

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
