"""Learning-rate schedules: the lr sequences of torch.optim.lr_scheduler, epoch by epoch."""
import math

import numpy as np
import pytest
import torch

from rnnkit.train.optim import SGD
from rnnkit.train.schedules import CosineAnnealingLR, ReduceLROnPlateau, StepLR


def make_optimizers(lr=0.1):
    ours = SGD({"w": np.zeros(2)}, {"w": np.zeros(2)}, lr=lr)
    ref = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=lr)
    return ours, ref


def check_against_torch(ours_cls, torch_cls, metrics=None, epochs=30, **options):
    """Both schedules stepped once per epoch (after the optimizer) give the same lr."""
    ours_opt, ref_opt = make_optimizers()
    ours, ref = ours_cls(ours_opt, **options), torch_cls(ref_opt, **options)
    lrs, ref_lrs = [ours_opt.lr], [ref_opt.param_groups[0]["lr"]]
    for epoch in range(epochs):
        ours_opt.step()
        ref_opt.step()
        if metrics is None:
            ours.step()
            ref.step()
        else:
            ours.step(metrics[epoch])
            ref.step(metrics[epoch])
        assert ours.get_last_lr() == ours_opt.lr
        lrs.append(ours_opt.lr)
        ref_lrs.append(ref_opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, ref_lrs, rtol=1e-12, atol=1e-15)
    return lrs


@pytest.mark.parametrize("step_size, gamma", [(1, 0.5), (3, 0.1), (7, 0.9)])
def test_step_lr_matches_torch(step_size, gamma):
    lrs = check_against_torch(StepLR, torch.optim.lr_scheduler.StepLR, step_size=step_size,
                              gamma=gamma)
    assert lrs[step_size] == pytest.approx(0.1 * gamma)


@pytest.mark.parametrize("T_max, eta_min", [(1, 0.0), (10, 0.0), (7, 1e-3)])
def test_cosine_matches_torch_including_past_t_max(T_max, eta_min):
    lrs = check_against_torch(CosineAnnealingLR, torch.optim.lr_scheduler.CosineAnnealingLR,
                              epochs=3 * T_max + 2, T_max=T_max, eta_min=eta_min)
    assert lrs[T_max] == pytest.approx(eta_min, abs=1e-15)


METRICS = [1.0, 0.9, 0.9, 0.9, 0.95, 0.899, 0.8999, 0.9, 0.7, 0.7, 0.7, 0.7, 0.7, 0.71,
           0.72, 0.69999, 0.7, 0.7, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]


@pytest.mark.parametrize("options", [
    {}, {"patience": 0}, {"patience": 2, "threshold": 0.05, "threshold_mode": "abs"},
    {"patience": 1, "cooldown": 2, "factor": 0.5}, {"patience": 0, "min_lr": 0.02},
    {"patience": 1, "eps": 0.05, "factor": 0.8},
])
def test_plateau_min_matches_torch(options):
    check_against_torch(ReduceLROnPlateau, torch.optim.lr_scheduler.ReduceLROnPlateau,
                        METRICS, epochs=len(METRICS), **options)


@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
def test_plateau_max_matches_torch(threshold_mode):
    accuracy = [1 - m for m in METRICS]
    check_against_torch(ReduceLROnPlateau, torch.optim.lr_scheduler.ReduceLROnPlateau,
                        accuracy, epochs=len(accuracy), mode="max", patience=1,
                        threshold_mode=threshold_mode, threshold=0.01)


@pytest.mark.parametrize("make", [
    lambda opt: StepLR(opt, 2, 0.5), lambda opt: CosineAnnealingLR(opt, 5),
    lambda opt: ReduceLROnPlateau(opt, patience=1),
])
def test_state_dict_round_trip(make):
    opt_a, _ = make_optimizers()
    a = make(opt_a)
    step = (lambda s, i: s.step(1.0)) if isinstance(a, ReduceLROnPlateau) else \
        (lambda s, i: s.step())
    for i in range(3):
        step(a, i)
    opt_b, _ = make_optimizers()
    b = make(opt_b)
    b.load_state_dict(a.state_dict())
    opt_b.lr = opt_a.lr  # the optimizer's own state dict carries its lr
    for i in range(4):
        step(a, i)
        step(b, i)
        assert opt_a.lr == opt_b.lr


def test_schedule_errors():
    opt, _ = make_optimizers()
    with pytest.raises(ValueError, match="step_size must be a positive integer, got 0"):
        StepLR(opt, 0)
    with pytest.raises(ValueError, match="T_max must be a positive integer"):
        CosineAnnealingLR(opt, 2.5)
    with pytest.raises(ValueError, match=r"factor must lie in \(0, 1\), got 1.0"):
        ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        ReduceLROnPlateau(opt, mode="lowest")
    with pytest.raises(ValueError, match="NaN metric"):
        ReduceLROnPlateau(opt).step(math.nan)


def test_warmup_cosine_follows_its_formula_and_steps_per_update():
    import rnnkit
    from rnnkit.train.schedules import WarmupCosineLR

    model = rnnkit.Linear(2, 1, seed=0)
    opt = rnnkit.SGD(model, lr=0.1)
    sched = WarmupCosineLR(opt, total_steps=10, warmup_steps=4)
    rates = [opt.lr]
    for _ in range(12):
        sched.step()
        rates.append(opt.lr)
    expect = [0.1 * (s + 1) / 4 if s < 4 else 0.05 * (1 + math.cos(math.pi * min(s - 4, 6) / 6))
              for s in range(13)]
    np.testing.assert_allclose(rates, expect)
    # the Trainer steps a per-update schedule after every update: 3 epochs x 2 batches
    x, y = np.zeros((8, 3, 2), np.float32), np.zeros((8, 1), np.float32)
    seq = rnnkit.Sequential(rnnkit.GRU(2, 2, seed=0), rnnkit.LastStep(), rnnkit.Linear(2, 1))
    opt = rnnkit.SGD(seq, lr=0.1)
    sched = WarmupCosineLR(opt, total_steps=6, warmup_steps=2)
    rnnkit.Trainer(seq, rnnkit.MSELoss(), opt, schedule=sched, progress=False).fit(
        (x, y), epochs=3, batch_size=4, verbose=False)
    assert sched.last_epoch == 6 and opt.lr == pytest.approx(0.0)
