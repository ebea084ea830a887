"""Ready-made sequence models: an optional embedding, a recurrent stack and a linear head.

    SequenceModel(cell="lstm", input_size=1, hidden_size=64, output_size=1, head="last")
        many-to-one: x (B, T, F) -> out (B, O), from each sequence's last valid step
    SequenceModel(cell="gru", vocab_size=80, embedding_dim=32, ..., head="all")
        many-to-many on token ids: x (B, T) ints -> out (B, T, O)

``forward(x, lengths=None, state=None, return_state=False)`` and ``backward(dout)`` as every
module; ``step(x_t, state)`` streams one step at a time for a head="all" model, keeping only
the current state. Parameter names are PyTorch's: ``embedding.weight``, ``rnn.weight_ih_l0``,
``fc.weight`` — those of a torch module with submodules ``embedding``, ``rnn`` and ``fc``.
"""
from __future__ import annotations

import numpy as np

from rnnkit.core.init import seed_sequence
from rnnkit.nn.embedding import Embedding
from rnnkit.nn.heads import LastStep
from rnnkit.nn.linear import Linear
from rnnkit.nn.module import Container, Module, no_grad
from rnnkit.nn.recurrent import LAYERS
from rnnkit.nn.registry import register_module


@register_module
class SequenceModel(Container):
    def __init__(self, cell="lstm", input_size=None, hidden_size=64, output_size=1, *,
                 num_layers=1, bidirectional=False, dropout=0.0, head="last", vocab_size=None,
                 embedding_dim=None, nonlinearity="tanh", dtype="float32", seed=None):
        if cell not in LAYERS:
            raise ValueError(f"Unknown cell {cell!r}; expected one of {sorted(LAYERS)}")
        if head not in ("last", "all"):
            raise ValueError(f"head must be 'last' or 'all', got {head!r}")
        if (vocab_size is None) == (input_size is None):
            raise ValueError("give either input_size (real-valued inputs) or vocab_size and "
                             "embedding_dim (token ids)")
        self.settings = dict(cell=cell, input_size=input_size, hidden_size=hidden_size,
                             output_size=output_size, num_layers=num_layers,
                             bidirectional=bidirectional, dropout=dropout, head=head,
                             vocab_size=vocab_size, embedding_dim=embedding_dim,
                             nonlinearity=nonlinearity, dtype=np.dtype(dtype).name, seed=seed)
        super().__init__()
        seeds = seed_sequence(seed).spawn(3)
        self.modules: dict[str, Module] = {}
        if vocab_size is not None:
            if embedding_dim is None:
                raise ValueError("embedding_dim is needed with vocab_size")
            self.modules["embedding"] = Embedding(vocab_size, embedding_dim, dtype=dtype,
                                                  seed=seeds[0])
            input_size = embedding_dim
        kw = dict(num_layers=num_layers, bidirectional=bidirectional, dropout=dropout,
                  dtype=dtype, seed=seeds[1])
        if cell == "rnn":
            kw["nonlinearity"] = nonlinearity
        self.modules["rnn"] = LAYERS[cell](input_size, hidden_size, **kw)
        if head == "last":
            # bidirectional: both directions' final states (forward at the end, reverse at t=0)
            self.modules["last"] = LastStep(hidden_size if bidirectional else None)
        D = 2 if bidirectional else 1
        self.modules["fc"] = Linear(D * hidden_size, output_size, dtype=dtype, seed=seeds[2])

    def config(self) -> dict:
        return dict(self.settings)

    def __repr__(self):
        inner = ", ".join(f"{k}={m!r}" for k, m in self.modules.items())
        return f"SequenceModel({inner})"

    @property
    def rnn(self):
        return self.modules["rnn"]


    def forward(self, x, lengths=None, state=None, return_state=False):
        """x: (B, T, F) floats or (B, T) token ids -> (B, O) for head="last", else (B, T, O)."""
        h = self.modules["embedding"].forward(x) if "embedding" in self.modules else x
        y, state_n = self.rnn.forward(h, state, lengths=lengths)  # (B, T, D*H)
        if "last" in self.modules:
            y = self.modules["last"].forward(y, lengths=lengths)  # (B, D*H)
        out = self.modules["fc"].forward(y)
        return (out, state_n) if return_state else out

    def backward(self, dout):
        """Returns the gradient of the real-valued input (None for token ids)."""
        d = self.modules["fc"].backward(dout)
        if "last" in self.modules:
            d = self.modules["last"].backward(d)
        d, _ = self.rnn.backward(d)
        if "embedding" in self.modules:
            return self.modules["embedding"].backward(d)
        return d

    __call__ = forward

    def step(self, x_t, state=None):
        """One step of streaming inference: x_t (B, F) or (B,) token ids -> (out_t (B, O),
        state). Keeps only the current state; for unidirectional models."""
        with no_grad():  # streaming keeps no cache in any child
            h = self.modules["embedding"].forward(x_t) if "embedding" in self.modules else x_t
            y, state = self.rnn.step(h, state)  # (B, H)
            return self.modules["fc"].forward(y), state
