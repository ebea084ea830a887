"""A model-agnostic fit loop: seeded mini-batches, clipping, schedules, validation, callbacks,
progress bar, NaN guard, time limit, and checkpoints from which a run resumes bit for bit.

The trainer knows nothing about the model: how a batch becomes a loss is a *task*
(``rnnkit.train.tasks``: supervised, truncated BPTT, teacher forcing), and who computes a
step is an *engine* (``rnnkit.train.engine``): rnnkit's NumPy code by default, or PyTorch
(``rnnkit.interop.torch_engine``) through the same loop, callbacks and history.
"""
from __future__ import annotations

import copy
import math
import sys
import time

import numpy as np

from rnnkit.errors import TrainingError
from rnnkit.io.checkpoint import restore_checkpoint, save_checkpoint
from rnnkit.train.batches import as_data
from rnnkit.train.callbacks import Callback
from rnnkit.train.engine import NumpyEngine
from rnnkit.train.schedules import ReduceLROnPlateau
from rnnkit.train.tasks import SupervisedTask


class Trainer:
    """Fits ``model`` with ``loss`` and ``optimizer``.

    Settings: ``task`` (default :class:`SupervisedTask`), ``clip_norm`` (global gradient
    norm), ``schedule`` (stepped once per epoch, or after every update when its ``interval``
    is "step"; ReduceLROnPlateau gets the validation
    loss), ``callbacks``, ``metrics`` ({name: fn(out, y) -> float}), ``progress``
    (True/False/"auto" = only on a terminal), ``seed`` (shuffling), ``max_minutes``,
    ``engine`` (default a :class:`NumpyEngine` of the model, task, optimizer and clip_norm).
    """

    def __init__(self, model, loss, optimizer, *, task=None, clip_norm=None, schedule=None,
                 callbacks: tuple[Callback, ...] = (), metrics=None, progress="auto", seed=0,
                 max_minutes=None, log=None, engine=None):
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.task = task if task is not None else SupervisedTask(loss)
        self.clip_norm, self.schedule, self.callbacks = clip_norm, schedule, list(callbacks)
        self.engine = engine if engine is not None else \
            NumpyEngine(model, self.task, optimizer, clip_norm)
        self.metrics = dict(metrics or {})
        self.progress, self.max_minutes = progress, max_minutes
        self.log = log if log is not None else (lambda msg: print(msg, file=sys.stderr))
        self.rng = np.random.default_rng(seed)
        self.epoch, self.step = 0, 0
        self.history: dict[str, list] = {}
        self.stop_training, self.stop_reason = False, None

    def _guard(self, what: str, value: float, bar, kept: str = "the weights are those of "
               "the last good step") -> None:
        """The NaN guard: stop with a TrainingError when ``value`` is not finite in any
        process (an engine never applies a non-finite gradient)."""
        if self.engine.any_process(not math.isfinite(value)):
            bar.close()
            raise TrainingError(
                f"{what} became {value} at epoch {self.epoch + 1}, step {self.step + 1}; "
                f"training stopped (try a lower learning rate or clip_norm); {kept}, and "
                "checkpoints already written are kept")

    def _weight_sum(self) -> float:
        """The sum of every weight in float64: not finite exactly when a weight is not (a
        finite gradient times a huge learning rate can still overflow a weight)."""
        return float(sum(np.sum(p, dtype=np.float64) for p in self.model.params.values()))

    def _forward(self, batch, carry, train: bool, bar):
        """The engine's forward; a NaN or inf that arises inside the network (not in the
        data) is the training diverging, reported as a TrainingError."""
        try:
            return self.engine.forward(batch, carry, train)
        except ValueError as exc:
            x = np.asarray(batch["x"])
            if ("NaN" in str(exc) or "inf" in str(exc)) and x.dtype.kind == "f" and \
                    np.all(np.isfinite(x)):
                self._guard(f"a value inside the network ({exc})", math.nan, bar)
            raise

    def _schedule_interval(self):
        """When the schedule steps: "epoch" (the default), "step" (after each update), None."""
        return None if self.schedule is None else getattr(self.schedule, "interval", "epoch")

    # --- one pass over the data -----------------------------------------------------------
    def _run_epoch(self, data, batch_size, shuffle, train: bool, desc: str, deadline):
        from tqdm.auto import tqdm

        show = sys.stderr.isatty() if self.progress == "auto" else bool(self.progress)
        bar = tqdm(total=data.num_batches(batch_size), desc=desc, disable=not show,
                   file=sys.stderr, leave=False, dynamic_ncols=True)
        totals = {name: 0.0 for name in ["loss", *self.metrics]}
        count = 0
        rng = self.rng if (train and shuffle) else None
        carry = None  # what the task passes from batch to batch (truncated BPTT's state)
        for batch in data.batches(batch_size, rng):
            batch = self.engine.shard(batch, train)
            loss, out, carry = self._forward(batch, carry, train, bar)
            self._guard(f"the {'training' if train else 'validation'} loss", loss, bar)
            if train:
                self._guard("the gradient norm", self.engine.update(), bar)
                self._guard("the sum of the weights", self._weight_sum(), bar,
                            kept="the weights are no longer usable")
                self.step += 1
                if self._schedule_interval() == "step":
                    self.schedule.step()
            n = len(batch["x"])
            totals["loss"] += loss * n
            for name, fn in self.metrics.items():
                totals[name] += fn(out, batch["y"]) * n
            count += n
            bar.update(1)
            bar.set_postfix(loss=f"{totals['loss'] / count:.4g}")
            if train and deadline is not None and \
                    self.engine.any_process(time.monotonic() > deadline):
                self.stop_training = True
                self.stop_reason = f"time limit of {self.max_minutes} minutes reached"
                break
        bar.close()
        return {name: total / count for name, total in totals.items()}

    def evaluate(self, data, batch_size=256) -> dict:
        """Loss and metrics on ``data`` in eval mode (no dropout, no updates)."""
        return self._run_epoch(as_data(data), batch_size, False, False, "eval", None)

    # --- the loop -------------------------------------------------------------------------
    def fit(self, data, val=None, *, epochs=10, batch_size=32, shuffle=True,
            validation_split=0.0, resume=None, verbose=True) -> dict:
        """Train for ``epochs`` epochs (counting epochs already done when resuming from the
        checkpoint ``resume``). Returns the history {"loss": [...], "val_loss": [...], ...}."""
        data = as_data(data)
        if val is None and validation_split:
            data, val = data.split(validation_split)
        val = as_data(val) if val is not None else None
        if resume is not None:
            self.restore(resume)
        deadline = None if self.max_minutes is None else \
            time.monotonic() + 60.0 * self.max_minutes
        self.stop_training, self.stop_reason = False, None
        for cb in self.callbacks:
            cb.on_train_begin(self)
        while self.epoch < epochs and not self.stop_training:
            desc = f"epoch {self.epoch + 1}/{epochs}"
            logs = self._run_epoch(data, batch_size, shuffle, True, desc, deadline)
            if val is not None:
                vlogs = self._run_epoch(val, max(batch_size, 256), False, False, "val", None)
                logs.update({f"val_{k}": v for k, v in vlogs.items()})
            if self._schedule_interval() == "epoch":
                if isinstance(self.schedule, ReduceLROnPlateau):
                    self.schedule.step(logs.get("val_loss", logs["loss"]))
                else:
                    self.schedule.step()
            for k, v in logs.items():
                self.history.setdefault(k, []).append(float(v))
            self.epoch += 1
            for cb in self.callbacks:
                cb.on_epoch_end(self, self.epoch - 1, logs)
            if verbose:
                self.log(f"{desc}  " + "  ".join(f"{k} {v:.6g}" for k, v in logs.items()))
        for cb in self.callbacks:
            cb.on_train_end(self)
        self.engine.finish()
        if self.stop_reason and verbose:
            self.log(self.stop_reason)
        return self.history

    # --- checkpoints ----------------------------------------------------------------------
    def _check_state(self, training: dict, arrays: dict) -> None:
        """Raise (KeyError, TypeError, ValueError) unless ``training`` would restore into
        this trainer; changes nothing."""
        int(training["epoch"]), int(training["step"])
        {k: list(v) for k, v in training["history"].items()}
        np.random.default_rng().bit_generator.state = training["shuffle_rng"]
        if self.schedule is not None and training.get("schedule") is not None:
            copy.copy(self.schedule).load_state_dict(training["schedule"])
        for i, (cb, state) in enumerate(zip(self.callbacks, training.get("callbacks", []))):
            prefix = f"cb{i}/"
            copy.copy(cb).load_state_dict(state, {k[len(prefix):]: v for k, v in arrays.items()
                                                  if k.startswith(prefix)})

    def save_checkpoint(self, path) -> None:
        """Everything needed to continue this run exactly: see :meth:`restore`. With another
        engine than NumPy's, the weights are first copied back into the model (``finish``);
        that engine's own optimizer buffers are not in the file."""
        self.engine.finish()  # the model holds the engine's current weights
        arrays: dict = {}
        for i, cb in enumerate(self.callbacks):
            arrays.update({f"cb{i}/{k}": v for k, v in cb.state_arrays().items()})
        training = {
            "epoch": self.epoch, "step": self.step, "history": self.history,
            "shuffle_rng": self.rng.bit_generator.state,
            "schedule": None if self.schedule is None else self.schedule.state_dict(),
            "callbacks": [cb.state_dict() for cb in self.callbacks],
        }
        save_checkpoint(path, self.model, self.optimizer, training, arrays)

    def restore(self, path) -> None:
        """Load model, optimizer, RNGs, schedule, callbacks, epoch and history from ``path``.
        Everything is checked first (the schedule's and callbacks' states on copies of
        them): a CheckpointError leaves the trainer, the model and the optimizer as they
        were."""
        training = restore_checkpoint(path, self.model, self.optimizer,
                                      check=self._check_state)
        arrays = training.pop("arrays")
        self.epoch, self.step = int(training["epoch"]), int(training["step"])
        self.history = {k: list(v) for k, v in training["history"].items()}
        self.rng.bit_generator.state = training["shuffle_rng"]
        if self.schedule is not None and training.get("schedule") is not None:
            self.schedule.load_state_dict(training["schedule"])
        for i, (cb, state) in enumerate(zip(self.callbacks, training.get("callbacks", []))):
            prefix = f"cb{i}/"
            cb.load_state_dict(state, {k[len(prefix):]: v for k, v in arrays.items()
                                       if k.startswith(prefix)})
