"""Ready-made sequence models: a front end, a recurrent stack, a read-out and a linear head.

    SequenceModel(cell="lstm", input_size=1, hidden_size=64, output_size=1, head="last")
        many-to-one: x (B, T, F) -> out (B, O), from each sequence's last valid step
    SequenceModel(cell="gru", input_size=3, patch_size=8, head="pool", bidirectional=True, ...)
        a long series in patches of 8 steps (``PatchEmbedding`` to hidden_size features), then
        the mean and max of the recurrent outputs over the valid steps: x (B, T, F) -> (B, O)
    SequenceModel(cell="gru", input_size=1, conv_channels=64, patch_size=8, head="pool", ...)
        the series through a ``Conv1d`` of 64 filters of ``conv_kernel`` steps and a ReLU first
        (same length), then patches of its 64 features (``patch_mode="max"``: the maximum of
        each feature over a patch, ``PatchMaxPool``, instead of a learned map)
    SequenceModel(cell="gru", input_size=1, diff_scale=[2.5], patch_size=8, ...)
        reads each channel beside its first difference times diff_scale (``Difference``:
        x (B, T, F) -> (B, T, 2F)), before the convolution or patches if any
    SequenceModel(cell="gru", vocab_size=80, embedding_dim=32, ..., head="all")
        many-to-many on token ids: x (B, T) ints -> out (B, T, O)

``forward(x, lengths=None, state=None, return_state=False)`` and ``backward(dout)`` as every
module (``backward(dout, need_input_grad=True)`` to get the input's gradient too);
``step(x_t, state)`` streams one step at a time for a head="all" model, keeping only the
current state. ``proj_size``, ``peephole``, ``layer_norm``, ``learn_initial_state`` and
``recurrent_dropout`` are the recurrent layer's variants (``rnnkit.nn.recurrent``), off by
default; with proj_size the read-out sees D*proj_size features. Parameter names are
PyTorch's: ``embedding.weight``, ``rnn.weight_ih_l0``, ``fc.weight`` — those of a torch module
with submodules ``embedding``, ``rnn`` and ``fc`` (``conv.weight`` and ``patch.weight`` are
``torch.nn.Conv1d``'s).
"""
from __future__ import annotations

import numpy as np

from rnnkit.core.init import seed_sequence
from rnnkit.nn.conv import Conv1d
from rnnkit.nn.difference import Difference
from rnnkit.nn.embedding import Embedding
from rnnkit.nn.heads import LastStep
from rnnkit.nn.linear import Linear
from rnnkit.nn.module import Container, Module, no_grad
from rnnkit.nn.patch import PatchEmbedding, PatchMaxPool, patch_lengths
from rnnkit.nn.pooling import MeanMaxPool
from rnnkit.nn.recurrent import LAYERS, VARIANTS
from rnnkit.nn.registry import register_module
from rnnkit.validation import checked_upstream


@register_module
class SequenceModel(Container):
    def __init__(self, cell="lstm", input_size=None, hidden_size=64, output_size=1, *,
                 num_layers=1, bidirectional=False, dropout=0.0, head="last", vocab_size=None,
                 embedding_dim=None, nonlinearity="tanh", dtype="float32", seed=None,
                 patch_size=None, proj_size=0, peephole=False, layer_norm=False,
                 learn_initial_state=False, recurrent_dropout=0.0, conv_channels=None,
                 conv_kernel=7, patch_mode="linear", diff_scale=None):
        if cell not in LAYERS:
            raise ValueError(f"Unknown cell {cell!r}; expected one of {sorted(LAYERS)}")
        if head not in ("last", "pool", "all"):
            raise ValueError(f"head must be 'last', 'pool' or 'all', got {head!r}")
        if (vocab_size is None) == (input_size is None):
            raise ValueError("give either input_size (real-valued inputs) or vocab_size and "
                             "embedding_dim (token ids)")
        if patch_size is not None and input_size is None:
            raise ValueError("patch_size applies to real-valued inputs (input_size)")
        if patch_mode not in ("linear", "max"):
            raise ValueError(f"patch_mode must be 'linear' or 'max', got {patch_mode!r}")
        if conv_channels is not None and input_size is None:
            raise ValueError("conv_channels applies to real-valued inputs (input_size)")
        if diff_scale is not None and input_size is None:
            raise ValueError("diff_scale applies to real-valued inputs (input_size)")
        self.settings = dict(cell=cell, input_size=input_size, hidden_size=hidden_size,
                             output_size=output_size, num_layers=num_layers,
                             bidirectional=bidirectional, dropout=dropout, head=head,
                             vocab_size=vocab_size, embedding_dim=embedding_dim,
                             nonlinearity=nonlinearity, dtype=np.dtype(dtype).name, seed=seed)
        if patch_size is not None:
            self.settings["patch_size"] = patch_size
        if patch_mode != "linear":
            self.settings["patch_mode"] = patch_mode
        if conv_channels is not None:
            self.settings.update(conv_channels=conv_channels, conv_kernel=conv_kernel)
        if diff_scale is not None:
            diff_scale = [float(v) for v in np.broadcast_to(diff_scale, (int(input_size),))]
            self.settings["diff_scale"] = diff_scale
        variants = {name: value for name, value in [("proj_size", proj_size),
                                                     ("peephole", peephole),
                                                     ("layer_norm", layer_norm),
                                                     ("learn_initial_state", learn_initial_state),
                                                     ("recurrent_dropout", recurrent_dropout)]
                    if value != VARIANTS[name]}  # the recurrent layer's; only those set
        self.settings.update(variants)
        super().__init__()
        seeds = seed_sequence(seed).spawn(5)  # children 0-2 as before patches, 3 as before conv
        self.modules: dict[str, Module] = {}
        if vocab_size is not None:
            if embedding_dim is None:
                raise ValueError("embedding_dim is needed with vocab_size")
            self.modules["embedding"] = Embedding(vocab_size, embedding_dim, dtype=dtype,
                                                  seed=seeds[0])
            input_size = embedding_dim
        if diff_scale is not None:
            self.modules["diff"] = Difference(input_size, diff_scale, dtype=dtype)
            input_size = 2 * input_size
        if conv_channels is not None:
            self.modules["conv"] = Conv1d(input_size, conv_channels, conv_kernel, dtype=dtype,
                                          seed=seeds[4])
            input_size = conv_channels
        if patch_size is not None and patch_mode == "max":
            self.modules["patch"] = PatchMaxPool(patch_size)  # keeps the features
        elif patch_size is not None:
            self.modules["patch"] = PatchEmbedding(input_size, hidden_size, patch_size,
                                                   dtype=dtype, seed=seeds[3])
            input_size = hidden_size
        kw = dict(num_layers=num_layers, bidirectional=bidirectional, dropout=dropout,
                  dtype=dtype, seed=seeds[1])
        if cell == "rnn":
            kw["nonlinearity"] = nonlinearity
        self.modules["rnn"] = LAYERS[cell](input_size, hidden_size, **kw, **variants)
        width = self.rnn.output_size  # hidden_size, or proj_size
        if head == "last":
            # bidirectional: both directions' final states (forward at the end, reverse at t=0)
            self.modules["last"] = LastStep(width if bidirectional else None)
        elif head == "pool":
            self.modules["pool"] = MeanMaxPool()
        features = (2 if bidirectional else 1) * width * (2 if head == "pool" else 1)
        self.modules["fc"] = Linear(features, output_size, dtype=dtype, seed=seeds[2])

    def config(self) -> dict:
        return dict(self.settings)

    def __repr__(self):
        inner = ", ".join(f"{k}={m!r}" for k, m in self.modules.items())
        return f"SequenceModel({inner})"

    @property
    def rnn(self):
        return self.modules["rnn"]


    def forward(self, x, lengths=None, state=None, return_state=False):
        """x: (B, T, F) floats or (B, T) token ids -> (B, O) for head "last" or "pool", else
        (B, T', O) with T' = T, or ceil(T / patch_size) with patches."""
        if "embedding" not in self.modules:  # token ids: the embedding checks them
            x = self.checked(x, "input", self.rnn.dtype)
        with checked_upstream():  # each child's input is the one before's output
            out, state_n = self._forward(x, lengths, state)
        return (out, state_n) if return_state else out

    def _forward(self, x, lengths, state):
        m = self.modules
        h = m["embedding"].forward(x) if "embedding" in m else x
        if "diff" in m:
            h = m["diff"].forward(h, lengths=lengths)  # (B, T, 2F): the series and its slopes
        if "conv" in m:
            h = m["conv"].forward(h, lengths=lengths)  # (B, T, conv_channels), 0 when padded
        if "patch" in m:
            h = m["patch"].forward(h)  # (B, T', H)
            lengths = None if lengths is None else patch_lengths(lengths, m["patch"].patch_size)
        y, state_n = self.rnn.forward(h, state, lengths=lengths)  # (B, T', D*H)
        for name in ("last", "pool"):
            if name in m:
                y = m[name].forward(y, lengths=lengths)  # (B, D*H) or (B, 2*D*H)
        return m["fc"].forward(y), state_n

    def backward(self, dout, need_input_grad=False):
        """Adds every parameter's gradient. Returns the gradient of the real-valued input if
        ``need_input_grad`` (None for token ids), else None: the input is data, as a torch
        tensor that does not require grad, and a recurrent layer reading it directly skips
        computing dx (an embedding or patch front end needs its dx for their weights)."""
        dout = self.checked(dout, "dout", self.rnn.dtype)
        with checked_upstream():
            return self._backward(dout, need_input_grad)

    def _backward(self, dout, need_input_grad):
        m = self.modules
        d = m["fc"].backward(dout)
        for name in ("last", "pool"):
            if name in m:
                d = m[name].backward(d)
        front_end = "patch" in m or "embedding" in m or "conv" in m
        if need_input_grad and "diff" in m:
            front_end = True  # Difference has no parameters: its dx only when asked
        d, _ = self.rnn.backward(d, need_input_grad=need_input_grad or front_end)
        if "patch" in m:
            d = m["patch"].backward(d)
        if "conv" in m:
            d = m["conv"].backward(d)
        if "diff" in m and d is not None:
            d = m["diff"].backward(d)
        if "embedding" in m:
            return m["embedding"].backward(d)
        return d if need_input_grad else None

    __call__ = forward

    def step(self, x_t, state=None):
        """One step of streaming inference: x_t (B, F) or (B,) token ids -> (out_t (B, O),
        state). Keeps only the current state; for unidirectional models read step by step
        (not with patches, a convolution, differences or a pooled read-out)."""
        if any(name in self.modules for name in ("patch", "pool", "conv", "diff")):
            raise ValueError("step() reads one time step; a model with patches, a convolution, "
                             "differences or a pooled read-out needs the whole sequence")
        with no_grad():  # streaming keeps no cache in any child
            h = self.modules["embedding"].forward(x_t) if "embedding" in self.modules else x_t
            y, state = self.rnn.step(h, state)  # (B, H)
            return self.modules["fc"].forward(y), state
