"""Training an rnnkit model with PyTorch, on one process or many (``--engine torch``).

The model is converted with :func:`rnnkit.to_torch`, trained with ``torch.optim.Adam``, early
stopping and gradient clipping as the NumPy fit loop does, and the weights are copied back
into the rnnkit model, which the caller then evaluates and saves as usual.

Started by ``torchrun --nproc_per_node N`` (``WORLD_SIZE`` > 1 in the environment), it
trains with DistributedDataParallel: backend gloo on the CPU, NCCL where GPUs exist. Every
process draws the same seeded permutation of the samples each epoch and takes every N-th row
of each ``--batch-size`` batch of it, so ``--batch-size`` stays the global batch and the run
follows a one-process run closely; gradients are averaged across processes, and
every process computes the same validation loss on the whole validation set, so all agree
on early stopping. Only rank 0 writes files (see ``rnnkit.apps.common.is_main_process``).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .losses import CrossEntropyLoss, MSELoss
from .torch_interop import import_torch


@dataclass
class TorchRun:
    """What a torch-engine run reports, like the NumPy Trainer's attributes."""
    history: dict = field(default_factory=lambda: {"loss": [], "val_loss": []})
    epoch: int = 0
    stop_reason: str | None = None
    world_size: int = 1


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
                                   ignore_index=loss.ignore_index)
        return ce
    raise TypeError(f"--engine torch does not know the loss {type(loss).__name__}")


def _tensor(torch, a, device, dtype):
    a = np.asarray(a)
    if a.dtype.kind in "iu":
        return torch.as_tensor(a, dtype=torch.int64, device=device)
    return torch.as_tensor(a, dtype=dtype, device=device)


def fit_torch(model, loss, train, val, opts, *, task=None, clip_norm=1.0, log=print):
    """Train ``model`` (an rnnkit model that :func:`to_torch` supports) with PyTorch.

    ``train``/``val``: :class:`rnnkit.batches.ArrayData` (supervised) or ``StreamData`` with a
    :class:`rnnkit.trainer.TBPTTTask` (truncated BPTT). Returns the history
    a :class:`TorchRun` (history, epochs run, why it stopped); the best weights end up in
    ``model``.
    """
    torch = import_torch()
    from .torch_interop import to_torch
    from .trainer import SupervisedTask, TBPTTTask

    from .batches import as_data

    train = as_data(train)
    val = as_data(val) if val is not None else None
    rank, size, device = _setup(torch, opts.seed)
    net = to_torch(model).to(device)
    dtype = next(net.parameters()).dtype
    ddp = net
    if size > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None)
    criterion = _loss_fn(torch, loss)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=opts.lr)
    stream = isinstance(task, TBPTTTask)
    task = task if task is not None else SupervisedTask(loss)
    rng = np.random.default_rng(opts.seed)
    result = TorchRun(world_size=size)
    history = result.history
    best, best_state, wait = math.inf, None, 0

    def batches(data, shuffle):
        if stream:  # each process takes its share of the parallel streams
            for b in data.batches():
                yield {k: (v[rank::size] if v is not None else None) for k, v in b.items()}
            return
        order = rng.permutation(len(data)) if shuffle else np.arange(len(data))
        step = opts.batch_size  # the global batch: each process takes 1/size of it
        for start in range(0, len(data), step):
            idx = order[start : start + step]
            if shuffle:  # every process must take part in every step: pad a short last batch
                if len(idx) < size:
                    idx = np.concatenate([idx, order[: size - len(idx)]])
                idx = idx[rank::size]
            yield {"x": data.x[idx], "y": data.y[idx],
                   "lengths": None if data.lengths is None else data.lengths[idx]}

    def run(data, train_mode):
        ddp.train(train_mode)
        total, count, state = 0.0, 0, None
        for b in batches(data, train_mode):
            args, kwargs, y = task.inputs(b)  # how the task feeds the model
            args = [_tensor(torch, a, device, dtype) for a in args]
            y = _tensor(torch, y, device, dtype)
            with torch.set_grad_enabled(train_mode):
                if stream:
                    out, state = ddp(*args, state=state, return_state=True)
                    state = tuple(s.detach() for s in state) if isinstance(state, tuple) \
                        else state.detach()  # carried forward, no gradient back
                else:
                    out = ddp(*args, **kwargs)
                value = criterion(out, y)
            if train_mode:
                optimizer.zero_grad()
                value.backward()
                if clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(ddp.parameters(), clip_norm)
                optimizer.step()
            total += float(value.detach()) * len(b["x"])
            count += len(b["x"])
        return total / max(count, 1)

    deadline = None if opts.max_minutes is None else time.monotonic() + 60 * opts.max_minutes
    for epoch in range(opts.epochs):
        train_loss = run(train, True)
        val_loss = run(val, False) if val is not None else train_loss
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            from .trainer import TrainingError

            raise TrainingError(f"the loss became {train_loss} at epoch {epoch + 1} "
                                "(engine torch)")
        history["loss"].append(train_loss)
        history["val_loss"].append(val_loss)
        result.epoch = epoch + 1
        if rank == 0:
            log(f"epoch {epoch + 1}/{opts.epochs}  loss {train_loss:.6g}  val_loss "
                f"{val_loss:.6g}  [torch, {size} process{'es' if size > 1 else ''}]")
        if val_loss < best:
            best, wait = val_loss, 0
            best_state = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
        else:
            wait += 1
            if wait >= opts.patience:
                result.stop_reason = (f"early stopping: val_loss has not improved for "
                                      f"{opts.patience} epochs")
                if rank == 0:
                    log(result.stop_reason)
                break
        if deadline is not None and _any_process(torch, size, device, time.monotonic() > deadline):
            result.stop_reason = f"time limit of {opts.max_minutes} minutes reached"
            if rank == 0:
                log(result.stop_reason)
            break
    model.load_state_dict(best_state)
    model.eval()
    return result


def _any_process(torch, size, device, flag: bool) -> bool:
    """True if ``flag`` is true in any process: every process must stop at the same epoch."""
    if size == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([int(flag)], device=device)  # NCCL reduces only tensors on the GPU
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
