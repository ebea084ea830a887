"""The PyTorch engine for the fit loop (``--engine torch``): the same Trainer, steps in torch.

:class:`TorchEngine` implements ``rnnkit.train.engine``'s interface: the rnnkit model is
converted with :func:`rnnkit.to_torch`, each step runs the task's inputs through the twin
module, the loss, ``backward``, gradient clipping and ``torch.optim.Adam``; the Trainer keeps
the loop, callbacks (early stopping with the best weights), the time limit, the NaN guard and
the history. ``finish`` copies the trained weights back into the rnnkit model, which the
caller then evaluates and saves as usual.

Started by ``torchrun --nproc_per_node N`` (``WORLD_SIZE`` > 1 in the environment), it
trains with DistributedDataParallel: backend gloo on the CPU, NCCL where GPUs exist. Every
process draws the same seeded permutation of the samples each epoch (the Trainer's) and
takes every N-th row of each ``--batch-size`` batch of it (:meth:`TorchEngine.shard`), so
``--batch-size`` stays the global batch; gradients are averaged across processes, and every
process computes the same validation loss on the whole validation set, so all agree on early
stopping. Only rank 0 writes files (``rnnkit.cli.common.is_main_process``).
"""
from __future__ import annotations

import math
import os

import numpy as np

from rnnkit.interop.torch_convert import import_torch, to_torch
from rnnkit.nn.losses import CrossEntropyLoss, MSELoss


_flushed = False  # flush_subnormals was called and restore_subnormals not since


def flush_subnormals() -> None:
    """torch's own remedy for subnormal floats, ``torch.set_flush_denormal(True)``: a
    gradient that vanishes over many steps (a many-to-one model over a long sequence) passes
    through subnormal numbers, each operation on which costs ~100 cycles; rnnkit's kernels set
    such values to zero themselves (``rnnkit.core.vanishing``). The mode (MXCSR's FTZ and DAZ
    on x86) belongs to a thread, and a new thread takes its creator's: set before torch's first
    parallel operation it reaches the OpenMP threads torch then starts, set later only the
    calling thread. LSTM (16,200,64,256) with a last-step head, torch's training update:
    495-557 ms without, 217-225 ms with the mode on the calling thread only, 22.9 ms set
    first (benchmarks/README.md, session 16). Called by ``--engine torch`` and ``rnnkit
    bench``; values below 1.2e-38 (float32) become zero. :func:`restore_subnormals` gives the
    calling thread its default back when the command ends (``rnnkit.cli.main``)."""
    global _flushed
    import_torch().set_flush_denormal(True)
    _flushed = True


def flushing() -> bool:
    """Whether :func:`flush_subnormals` was called and :func:`restore_subnormals` not since."""
    return _flushed


def restore_subnormals() -> None:
    """The calling thread's floating-point mode back to torch's default, if
    :func:`flush_subnormals` changed it (a command run in-process, as the tests do); threads
    started meanwhile keep theirs."""
    global _flushed
    if _flushed:
        import_torch().set_flush_denormal(False)
        _flushed = False


def world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) when not distributed."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _setup(torch, seed):
    rank, size = world()
    device = torch.device("cpu")
    if size > 1:
        import torch.distributed as dist

        use_cuda = torch.cuda.is_available()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo")
        if use_cuda:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    torch.manual_seed(seed)
    return rank, size, device


def _loss_fn(torch, loss):
    F = torch.nn.functional
    if isinstance(loss, MSELoss):
        return lambda out, y: F.mse_loss(out, y)
    if isinstance(loss, CrossEntropyLoss):
        def ce(out, y):
            return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1),
                                   ignore_index=loss.ignore_index,
                                   label_smoothing=loss.label_smoothing)
        return ce
    raise TypeError(f"--engine torch does not know the loss {type(loss).__name__}")


def torch_optimizer(torch, params, settings):
    """The torch.optim optimizer with the class and hyperparameters of the rnnkit optimizer
    ``settings`` (Adam, AdamW or SGD)."""
    name = type(settings).__name__
    if name in ("Adam", "AdamW"):
        return getattr(torch.optim, name)(params, lr=settings.lr, betas=settings.betas,
                                          eps=settings.eps, weight_decay=settings.weight_decay,
                                          amsgrad=settings.amsgrad)
    if name == "SGD":
        return torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum,
                               dampening=settings.dampening, nesterov=settings.nesterov,
                               weight_decay=settings.weight_decay)
    raise TypeError(f"--engine torch does not know the optimizer {name} (Adam, AdamW, SGD)")


class TorchEngine:
    """Steps of ``task`` on ``to_torch(model)`` with gradient clipping and the torch twin of
    the rnnkit ``optimizer``, whose ``lr`` it reads before every update (so the Trainer's
    schedules apply unchanged)."""

    def __init__(self, model, loss, task, *, optimizer, clip_norm=None, seed: int = 0):
        torch = self.torch = import_torch()
        self.model, self.task, self.clip_norm = model, task, clip_norm
        self.rank, self.size, self.device = _setup(torch, seed)
        self.net = to_torch(model).to(self.device)
        self.dtype = next(self.net.parameters()).dtype
        self.ddp = self.net
        if self.size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device] if self.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.net, device_ids=ids)
        self.criterion = _loss_fn(torch, loss)
        self.settings = optimizer  # the rnnkit optimizer: hyperparameters and the current lr
        self.optimizer = torch_optimizer(torch, self.ddp.parameters(), optimizer)
        self._loss = None

    def _tensor(self, a):
        a = np.asarray(a)
        dtype = self.torch.int64 if a.dtype.kind in "iu" else self.dtype
        return self.torch.as_tensor(a, dtype=dtype, device=self.device)

    def forward(self, batch, carry, train: bool):
        torch = self.torch
        self.ddp.train(train)
        args, kwargs, y = self.task.inputs(batch)  # how the task feeds a model
        args = [self._tensor(a) for a in args]
        with torch.set_grad_enabled(train):
            if self.task.carries_state:
                out, carry = self.ddp(*args, state=carry, return_state=True)
                carry = tuple(s.detach() for s in carry) if isinstance(carry, tuple) \
                    else carry.detach()  # carried forward, no gradient back
            else:
                out = self.ddp(*args, **kwargs)
            loss = self.criterion(out, self._tensor(y))
        self._loss = loss if train else None
        return float(loss.detach()), out.detach().cpu().numpy(), carry

    def update(self) -> float:
        self.optimizer.zero_grad()
        self._loss.backward()
        self._loss = None
        params = list(self.ddp.parameters())
        max_norm = self.clip_norm if self.clip_norm is not None else float("inf")
        norm = float(self.torch.nn.utils.clip_grad_norm_(params, max_norm))
        if math.isfinite(norm):  # a NaN or inf gradient must never reach the weights
            for group in self.optimizer.param_groups:
                group["lr"] = self.settings.lr  # set by the Trainer's schedule, if any
            self.optimizer.step()
        return norm

    def shard(self, batch, train: bool):
        """In training, this process's rows of the global batch (every process must take part
        in every step: a batch smaller than the world is padded by repeating rows)."""
        if self.size == 1 or not train:
            return batch
        n = len(batch["x"])
        idx = np.arange(max(n, self.size)) % n
        return {k: (None if v is None else v[idx[self.rank::self.size]])
                for k, v in batch.items()}

    def any_process(self, flag: bool) -> bool:
        if self.size == 1:
            return bool(flag)
        import torch.distributed as dist

        t = self.torch.tensor([int(flag)], device=self.device)  # NCCL reduces GPU tensors
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def state_dict(self) -> dict:
        return {k: v.detach().cpu().numpy().copy() for k, v in self.net.state_dict().items()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict({k: self.torch.from_numpy(np.array(v)) for k, v in
                                  state.items()})

    def finish(self) -> None:
        """The trained (or best, after early stopping) weights into the rnnkit model."""
        self.model.load_state_dict(self.state_dict())
