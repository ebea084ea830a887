"""The engine interface between the fit loop and the arithmetic: rnnkit's own NumPy engine.

The :class:`rnnkit.train.trainer.Trainer` owns the loop (batches, epochs, validation,
callbacks, early stopping, the time limit, the NaN guard, history, checkpoints); an engine
owns one step. Any object with these methods can drive the same loop:

    forward(batch, carry, train) -> (loss: float, out: ndarray, carry)
        the task's forward pass; in training mode it keeps what update() needs
    update() -> float               backward, gradient clipping and the optimizer step, unless
                                    the gradient is not finite; returns the gradient norm
    shard(batch, train) -> batch    this process's part of a batch (all of it on one process)
    any_process(flag) -> bool       True if flag is true in any process (one process: flag)
    state_dict() / load_state_dict(state)   the weights, for keeping the best epoch
    finish() -> None                leave the trained weights in the rnnkit model

``rnnkit.interop.torch_engine.TorchEngine`` runs the same steps in PyTorch, on one process or
under DistributedDataParallel.
"""
from __future__ import annotations

import math

from rnnkit.nn.module import no_grad
from rnnkit.train.optim import clip_grad_norm, grad_norm


class NumpyEngine:
    """Steps with rnnkit's model, task and optimizer (which updates the parameters in place)."""

    def __init__(self, model, task, optimizer, clip_norm=None):
        self.model, self.task, self.optimizer, self.clip_norm = model, task, optimizer, clip_norm

    def forward(self, batch, carry, train: bool):
        self.model.train(train)
        if not train:
            with no_grad():  # evaluation keeps no cache
                return self.task.forward(self.model, batch, carry)
        self.model.zero_grad()
        return self.task.forward(self.model, batch, carry)

    def update(self) -> float:
        self.task.backward(self.model)
        norm = clip_grad_norm(self.model.grads, self.clip_norm) if self.clip_norm is not None \
            else grad_norm(self.model.grads)
        if math.isfinite(norm):  # a NaN or inf gradient must never reach the weights
            self.optimizer.step()
        return norm

    def shard(self, batch, train: bool):
        return batch

    def any_process(self, flag: bool) -> bool:
        return flag

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)

    def finish(self) -> None:
        pass
