"""The container ``Sequential``: a chain of modules with prefixed parameter names."""
from __future__ import annotations

import inspect

from rnnkit.nn.module import Container, Module
from rnnkit.nn.registry import register_module
from rnnkit.validation import checked_upstream


@register_module
class Sequential(Container):
    """Chain of modules, ``Sequential(m0, m1, ...)`` or named ``Sequential(rnn=..., fc=...)``.

    ``params`` and ``grads`` are read-only views built from the children on every access,
    under prefixed names (``"0.weight"``, ``"rnn.weight_ih_l0"``, ``"fc.bias"``); the values
    are the children's own arrays, so an in-place optimizer update reaches them.
    ``forward(x, lengths=None)`` passes ``lengths`` to the children whose forward takes it
    (recurrent layers, ``LastStep``). A child returning a tuple ``(y, state)`` (the recurrent
    layers) passes y on and its final state is dropped; in backward, a child returning
    ``(dx, dstate0)`` passes dx on. The first child scans the input for NaN and inf, the last
    one the output gradient; the others skip that scan of what the child before computed
    (``validation.checked_upstream``), so a NaN that a child of your own makes from finite
    values is reported by the loss, or by the trainer's gradient norm, instead.
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
        if not self.modules:
            return x  # as torch.nn.Sequential()
        (first, m), *rest = self.modules.items()
        x = self._forward_child(first, m, x, lengths)  # checks the input
        with checked_upstream():  # each later child reads the one before's output
            for name, m in rest:
                x = self._forward_child(name, m, x, lengths)
        return x

    def _forward_child(self, name, m, x, lengths):
        y = m.forward(x, lengths=lengths) if name in self._takes_lengths else m.forward(x)
        return y[0] if isinstance(y, tuple) else y  # (y, state) from a recurrent layer

    def backward(self, dout):
        if not self.modules:
            return dout
        last, *before = reversed(self.modules.values())
        dout = self._backward_child(last, dout)  # checks dout
        with checked_upstream():
            for m in before:
                dout = self._backward_child(m, dout)
        return dout

    @staticmethod
    def _backward_child(m, dout):
        d = m.backward(dout)
        return d[0] if isinstance(d, tuple) else d  # (dx, dstate0) from a recurrent layer

    __call__ = forward
