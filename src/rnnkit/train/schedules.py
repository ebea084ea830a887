"""Learning-rate schedules that set ``optimizer.lr``, with ``torch.optim.lr_scheduler``'s
semantics: build after the optimizer, call ``step()`` once per epoch after training it
(``ReduceLROnPlateau.step(metric)`` takes the validation metric).

``StepLR`` and ``CosineAnnealingLR`` compute the rate in closed form from the epoch count,
``lr_at(epoch)``, so the value never depends on how the calls were interleaved.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

from rnnkit.train.improvement import check_mode, improved, worst
from rnnkit.validation import check_number, positive_int


class _EpochSchedule(ABC):
    """Base: ``lr = lr_at(last_epoch)``, set on the optimizer after each ``step()``.

    ``interval`` says when the Trainer calls ``step()``: after every epoch, or after every
    optimizer update ("step")."""
    interval = "epoch"

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0

    @abstractmethod
    def lr_at(self, epoch: int) -> float:
        """The learning rate after ``epoch`` epochs."""

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self) -> float:
        return self.lr_at(self.last_epoch)

    def state_dict(self) -> dict:
        return {"base_lr": self.base_lr, "last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.base_lr = float(state["base_lr"])
        self.last_epoch = int(state["last_epoch"])


class StepLR(_EpochSchedule):
    """``lr = base_lr * gamma ** (epoch // step_size)``, as ``torch.optim.lr_scheduler.StepLR``."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = positive_int(step_size, "step_size")
        self.gamma = check_number(gamma, "gamma", low=0, low_open=True)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(_EpochSchedule):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``, as
    ``torch.optim.lr_scheduler.CosineAnnealingLR`` (periodic past T_max, like torch's)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        self.T_max = positive_int(T_max, "T_max")
        self.eta_min = check_number(eta_min, "eta_min", low=0)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        cos = math.cos(math.pi * epoch / self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + cos) / 2


class WarmupCosineLR(_EpochSchedule):
    """Linear warm-up then cosine decay, stepped after every optimizer update
    (``interval = "step"``): the rate for update s + 1 (s = 0, 1, ...) is

        base_lr * (s + 1) / W                                          for s < W
        eta_min + (base_lr - eta_min) * (1 + cos(pi * (s - W) / (S - W))) / 2   for W <= s <= S

    with W = ``warmup_steps`` and S = ``total_steps`` (held at eta_min after S). Sizing
    training by updates rather than epochs keeps the schedule the same on 30 examples and on
    30,000 (Loshchilov & Hutter 2017 for the cosine, Goyal et al. 2017 for the warm-up).
    """
    interval = "step"

    def __init__(self, optimizer, total_steps: int, warmup_steps: int = 0, eta_min: float = 0.0):
        self.total_steps = positive_int(total_steps, "total_steps")
        self.warmup_steps = int(check_number(warmup_steps, "warmup_steps", low=0,
                                             high=total_steps, integer=True))
        self.eta_min = check_number(eta_min, "eta_min", low=0)
        super().__init__(optimizer)
        optimizer.lr = self.lr_at(0)

    def lr_at(self, epoch: int) -> float:
        W, S = self.warmup_steps, self.total_steps
        if epoch < W:
            return self.base_lr * (epoch + 1) / W
        progress = min(epoch - W, S - W) / max(S - W, 1)
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2


class ReduceLROnPlateau:
    """Multiply the rate by ``factor`` once the metric has not improved for more than
    ``patience`` epochs, as ``torch.optim.lr_scheduler.ReduceLROnPlateau``.

    Improvement (mode "min", threshold_mode "rel"): ``metric < best * (1 - threshold)``;
    "abs": ``metric < best - threshold``; mode "max" mirrors both. After a reduction,
    ``cooldown`` epochs pass before bad epochs count again; the rate never goes below
    ``min_lr``, and changes smaller than ``eps`` are skipped. A NaN metric raises
    (torch counts it as a bad epoch, which hides a diverged run).
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        check_mode(mode)
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if not 0 < factor < 1:
            raise ValueError(f"factor must lie in (0, 1), got {factor!r}")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got {patience!r}")
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor, self.patience = float(factor), patience
        self.threshold, self.cooldown = float(threshold), int(cooldown)
        self.min_lr, self.eps = float(min_lr), float(eps)
        self.best = worst(mode)
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def is_better(self, metric: float, best: float) -> bool:
        return improved(metric, best, self.mode, self.threshold, self.threshold_mode)

    def step(self, metric: float) -> None:
        metric = float(metric)
        if math.isnan(metric):
            raise ValueError("ReduceLROnPlateau.step got a NaN metric")
        self.last_epoch += 1
        if self.is_better(metric, self.best):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            old = float(self.optimizer.lr)
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def get_last_lr(self) -> float:
        return float(self.optimizer.lr)

    def state_dict(self) -> dict:
        return {"best": self.best, "num_bad_epochs": self.num_bad_epochs,
                "cooldown_counter": self.cooldown_counter, "last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best = float(state["best"])
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.cooldown_counter = int(state["cooldown_counter"])
        self.last_epoch = int(state["last_epoch"])
