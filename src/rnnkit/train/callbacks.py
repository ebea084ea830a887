"""Callbacks for :class:`rnnkit.train.trainer.Trainer`: what varies between runs of the fit loop.

A callback sees the trainer at the start, after each epoch (with that epoch's logs, e.g.
``{"loss": .., "val_loss": ..}``) and at the end; it may set ``trainer.stop_training``.
Each keeps its own state in ``state_dict()`` so a resumed run continues exactly.
"""
from __future__ import annotations


from rnnkit.train.improvement import check_mode, improved, worst


class Callback:
    def on_train_begin(self, trainer) -> None:
        pass

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        pass

    def on_train_end(self, trainer) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict, arrays: dict) -> None:
        pass

    def state_arrays(self) -> dict:
        """Arrays to keep in a checkpoint (e.g. the best weights)."""
        return {}


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs, and
    (``restore_best_weights``) put back the weights of the best epoch, as Keras does."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="min",
                 restore_best_weights=True):
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.mode, self.restore_best_weights = check_mode(mode), restore_best_weights
        self.best, self.best_epoch, self.wait = worst(mode), -1, 0
        self.best_weights: dict | None = None

    def on_epoch_end(self, trainer, epoch, logs):
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping monitors {self.monitor!r}, but the epoch logs have "
                           f"only {sorted(logs)}")
        value = logs[self.monitor]
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best_weights:
                self.best_weights = trainer.engine.state_dict()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_training = True
                trainer.stop_reason = (f"early stopping: {self.monitor} has not improved for "
                                       f"{self.patience} epochs (best {self.best:.6g} at epoch "
                                       f"{self.best_epoch + 1})")

    def on_train_end(self, trainer):
        if self.restore_best_weights and self.best_weights is not None:
            trainer.engine.load_state_dict(self.best_weights)

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state, arrays):
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        best = {k[len("best/"):]: v for k, v in arrays.items() if k.startswith("best/")}
        self.best_weights = best or None

    def state_arrays(self):
        return {f"best/{k}": v for k, v in (self.best_weights or {}).items()}


class ModelCheckpoint(Callback):
    """After every epoch, write a resumable training checkpoint to ``path`` (atomically).

    With ``save_best_only``, write only when ``monitor`` improves. A run whose loss turns NaN
    never reaches this callback for that epoch, so the file on disk stays the last good one.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="min"):
        self.path, self.monitor, self.save_best_only = path, monitor, save_best_only
        self.mode = check_mode(mode)
        self.best = worst(mode)

    def on_epoch_end(self, trainer, epoch, logs):
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                raise KeyError(f"ModelCheckpoint monitors {self.monitor!r}, but the epoch logs "
                               f"have only {sorted(logs)}")
            if not improved(value, self.best, self.mode):
                return
            self.best = float(value)
        trainer.save_checkpoint(self.path)

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state, arrays):
        self.best = state["best"]
