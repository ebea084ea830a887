"""Tasks: how the fit loop turns a batch into a loss and gradients, for each kind of training.

A task's ``forward(model, batch, carry) -> (loss, out, carry)`` runs the model and the loss;
``backward(model)`` backpropagates the last loss. ``carry`` is what passes from one batch to
the next within an epoch: None for independent batches, the recurrent state for truncated
BPTT. The trainer holds it and starts each epoch with ``None``: a task keeps no state.
``inputs(batch)`` says how a batch is fed to the model, so that another engine (PyTorch,
``rnnkit.interop.torch_engine``) feeds its own model the same way.
"""
from __future__ import annotations

from rnnkit.nn.seq2seq import shift_right


class SupervisedTask:
    """``out = model.forward(x[, lengths])``; ``loss = loss_fn.forward(out, y)``; backward."""
    carries_state = False

    def __init__(self, loss_fn):
        self.loss_fn = loss_fn

    def inputs(self, batch):
        """(args, kwargs, target): how a batch is fed to the model (also used by the torch
        engine, ``rnnkit.interop.torch_engine``)."""
        lengths = batch.get("lengths")
        return (batch["x"],), ({} if lengths is None else {"lengths": lengths}), batch["y"]

    def forward(self, model, batch, carry=None):
        """(loss, model output, carry): the carry passes through unchanged (None)."""
        args, kwargs, target = self.inputs(batch)
        out = model.forward(*args, **kwargs)
        return self.loss_fn.forward(out, target), out, carry

    def backward(self, model) -> None:
        model.backward(self.loss_fn.backward())


class TBPTTTask(SupervisedTask):
    """Truncated BPTT over :class:`rnnkit.train.batches.StreamData` windows: the model's final state
    of one window is the initial state of the next (carried forward, no gradient back).
    The model's forward must accept ``state=`` and ``return_state=True``."""

    carries_state = True  # the carry is the model's recurrent state

    def forward(self, model, batch, carry=None):
        """carry: the final state of the previous window (None at an epoch's start)."""
        out, state = model.forward(batch["x"], state=carry, return_state=True)
        return self.loss_fn.forward(out, batch["y"]), out, state


class TeacherForcingTask(SupervisedTask):
    """Trainer task for :class:`Seq2Seq`: batch x = sources (B, Ts) right-padded with 0,
    lengths = their lengths, y = labels (B, Tt) = target + <eos>, padded with 0 (the loss's
    ignore_index). The decoder input is ``shift_right(y, bos)``. Each batch is trimmed to its
    own longest source and label sequence."""

    def __init__(self, loss_fn, bos: int):
        super().__init__(loss_fn)
        self.bos = bos

    def inputs(self, batch):
        lengths = batch["lengths"]
        src = batch["x"][:, :lengths.max()]  # (B, Ts)
        y = batch["y"]
        y = y[:, :int((y != 0).sum(axis=1).max())]  # (B, Tt)
        return (src, lengths, shift_right(y, self.bos)), {}, y
