"""Optimizers and gradient clipping against torch.optim, step by step in float64."""
import math

import numpy as np
import pytest
import torch

from helpers import rel_error
from rnnkit.nn import LastStep, Linear, Sequential
from rnnkit.nn.losses import CrossEntropyLoss
from rnnkit.nn.recurrent import GRU
from rnnkit.train.optim import SGD, Adagrad, Adam, AdamW, RMSprop, clip_grad_norm, clip_grad_value

SHAPES = {"weight": (3, 4), "bias": (3,), "scale": (1,)}


def random_params(seed=0):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    return params, {k: np.zeros(s) for k, s in SHAPES.items()}


def check_against_torch(ours_cls, torch_cls, steps=8, **options):
    """Same random gradients into both; parameters agree after every step, including after
    the learning rate changes mid-run (as a schedule would change it)."""
    params, grads = random_params()
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ours = ours_cls(params, grads, **options)
    ref = torch_cls(list(tensors.values()), **options)
    rng = np.random.default_rng(1)
    for step in range(steps):
        if step == steps // 2:
            ours.lr = ref.param_groups[0]["lr"] = ours.lr * 0.5
        for k in params:
            grads[k][...] = rng.standard_normal(SHAPES[k])
            tensors[k].grad = torch.tensor(grads[k])
        ours.step()
        ref.step()
        for k, t in tensors.items():
            assert rel_error(params[k], t.detach().numpy()) < 1e-12, (step, k)


@pytest.mark.parametrize("options", [
    {}, {"momentum": 0.9}, {"momentum": 0.9, "dampening": 0.3}, {"momentum": 0.9, "nesterov": True},
    {"weight_decay": 0.1}, {"momentum": 0.5, "nesterov": True, "weight_decay": 0.1},
])
def test_sgd_matches_torch(options):
    check_against_torch(SGD, torch.optim.SGD, lr=0.1, **options)


@pytest.mark.parametrize("options", [
    {}, {"lr_decay": 0.1}, {"weight_decay": 0.1}, {"initial_accumulator_value": 0.5},
])
def test_adagrad_matches_torch(options):
    check_against_torch(Adagrad, torch.optim.Adagrad, lr=0.1, **options)


@pytest.mark.parametrize("options", [
    {}, {"momentum": 0.9}, {"centered": True}, {"alpha": 0.9, "eps": 1e-3},
    {"centered": True, "momentum": 0.9, "weight_decay": 0.1},
])
def test_rmsprop_matches_torch(options):
    check_against_torch(RMSprop, torch.optim.RMSprop, lr=0.01, **options)


@pytest.mark.parametrize("options", [
    {}, {"weight_decay": 0.1}, {"amsgrad": True}, {"amsgrad": True, "weight_decay": 0.1},
    {"betas": (0.5, 0.9), "eps": 1e-3},
])
@pytest.mark.parametrize("ours, theirs", [(Adam, torch.optim.Adam), (AdamW, torch.optim.AdamW)])
def test_adam_and_adamw_match_torch(ours, theirs, options):
    check_against_torch(ours, theirs, lr=0.01, **options)


def test_adamw_default_weight_decay_matches_torch():
    check_against_torch(AdamW, torch.optim.AdamW, steps=5)


@pytest.mark.parametrize("cls, options", [
    (SGD, {"momentum": 0.9}), (Adagrad, {}), (RMSprop, {"centered": True, "momentum": 0.5}),
    (Adam, {"amsgrad": True}), (AdamW, {}),
])
def test_state_dict_round_trip_resumes_exactly(cls, options):
    params, grads = random_params()
    a = cls(params, grads, lr=0.05, **options)
    rng = np.random.default_rng(2)
    gradient_seq = [{k: rng.standard_normal(s) for k, s in SHAPES.items()} for _ in range(6)]
    for g in gradient_seq[:3]:
        for k in grads:
            grads[k][...] = g[k]
        a.step()
    saved = a.state_dict()
    copies = {k: v.copy() for k, v in params.items()}
    copy_grads = {k: np.zeros_like(v) for k, v in params.items()}
    b = cls(copies, copy_grads, lr=1.0)  # the lr comes back from the state dict too
    b.load_state_dict(saved)
    assert b.lr == 0.05
    for g in gradient_seq[3:]:
        for k in grads:
            grads[k][...] = copy_grads[k][...] = g[k]
        a.step()
        b.step()
    for k in params:
        np.testing.assert_array_equal(params[k], copies[k])
    for k, buffers in saved["state"].items():  # a copy: later steps did not change it
        for name, value in buffers.items():
            if isinstance(value, np.ndarray):
                assert not np.array_equal(value, a.state[k][name])


def test_updates_in_place_with_a_module_and_keep_float32():
    layer = Linear(3, 2, seed=0)  # float32
    weight = layer.params["weight"]
    before = weight.copy()
    opt = Adam(layer, lr=0.1)
    layer.grads["weight"][...] = 1.0
    opt.step()
    assert layer.params["weight"] is weight and weight.dtype == np.float32
    assert np.all(weight < before)
    opt.zero_grad()
    assert not layer.grads["weight"].any()


@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    _, grads = random_params()
    rng = np.random.default_rng(3)
    for g in grads.values():
        g[...] = rng.standard_normal(g.shape)
    tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in
               grads.values()]
    for t, g in zip(tensors, grads.values()):
        t.grad = torch.tensor(g)
    total = clip_grad_norm(grads, max_norm)
    ref_total = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    assert abs(total - float(ref_total)) < 1e-12 * total
    for t, g in zip(tensors, grads.values()):
        assert rel_error(g, t.grad.numpy()) < 1e-12
    after = np.sqrt(sum((g ** 2).sum() for g in grads.values()))
    assert np.isclose(after, min(total, max_norm), rtol=1e-5)


def test_clip_grad_value_matches_torch_and_accepts_a_module():
    layer = Linear(4, 3, dtype=np.float64, seed=0)
    layer.grads["weight"][...] = np.random.default_rng(0).standard_normal((3, 4))
    ref = torch.tensor(layer.grads["weight"])
    t = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
    t.grad = ref.clone()
    clip_grad_value(layer, 0.3)
    torch.nn.utils.clip_grad_value_([t], 0.3)
    np.testing.assert_array_equal(layer.grads["weight"], t.grad.numpy())


def test_optimizer_errors():
    params, grads = random_params()
    with pytest.raises(ValueError, match="lr must be a number >= 0, got -1"):
        SGD(params, grads, lr=-1)
    with pytest.raises(ValueError, match="nesterov momentum needs momentum > 0"):
        SGD(params, grads, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"beta2 must be a number >= 0 and < 1, got 1.0"):
        Adam(params, grads, betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="pass a Module, or its params and grads dicts"):
        SGD(params, lr=0.1)
    with pytest.raises(KeyError, match="different names"):
        SGD(params, {"weight": grads["weight"]}, lr=0.1)
    with pytest.raises(ValueError, match=r"bias: param and grad must be arrays of the same "
                                         r"shape, got \(3,\) and \(4,\)"):
        SGD(params, {**grads, "bias": np.zeros(4)}, lr=0.1)
    opt = Adam(params, grads)
    opt.step()
    state = opt.state_dict()
    state["state"]["weight"]["exp_avg"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"weight.exp_avg: expected shape \(3, 4\)"):
        opt.load_state_dict(state)
    with pytest.raises(KeyError, match="unknown parameters"):
        opt.load_state_dict({"state": {"nope": {}}, "hyperparams": {}})
    with pytest.raises(ValueError, match="max_norm must be a number >= 0"):
        clip_grad_norm(grads, -1.0)


def test_the_stack_learns_the_sign_of_a_sum():
    """GRU -> LastStep -> Linear, cross-entropy, clipping and Adam fit a task that needs
    memory: is the sum of the (variable-length) sequence positive?"""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6, 1))
    lengths = rng.integers(1, 7, size=64)
    steps_mask = np.arange(6)[None, :] < lengths[:, None]  # (B, T)
    labels = ((x[..., 0] * steps_mask).sum(axis=1) > 0).astype(int)
    model = Sequential(rnn=GRU(1, 8, dtype=np.float64, seed=0), last=LastStep(),
                       fc=Linear(8, 2, dtype=np.float64, seed=1))
    loss_fn, opt = CrossEntropyLoss(), Adam(model, lr=0.03)
    for _ in range(60):
        model.zero_grad()
        loss = loss_fn.forward(model.forward(x, lengths=lengths), labels)
        model.backward(loss_fn.backward())
        clip_grad_norm(model, 1.0)
        opt.step()
    accuracy = (model.forward(x, lengths=lengths).argmax(axis=1) == labels).mean()
    assert loss < 0.05 and accuracy > 0.95  # from 0.65 at the start


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls, options", [(Adam, {}), (Adam, {"weight_decay": 0.1}),
                                          (AdamW, {})])
def test_adam_one_pass_kernel_equals_numpy_to_the_bit(dtype, cls, options):
    """Adam's update runs as one numba pass over contiguous float arrays; it must give the
    same bits as NumPy's operations (the formula in the docstring, step by step)."""
    rng = np.random.default_rng(0)
    p = rng.standard_normal((7, 33)).astype(dtype)
    params, grads = {"w": p}, {"w": np.zeros_like(p)}
    opt = cls(params, grads, lr=0.01, **options)
    ref, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    (b1, b2), wd, eps = opt.betas, opt.weight_decay, opt.eps
    for t in range(1, 5):
        g = rng.standard_normal(p.shape).astype(dtype)
        grads["w"][...] = g
        opt.step()
        if wd and cls is AdamW:
            ref *= 1 - opt.lr * wd
        elif wd:
            g = g + wd * ref
        m += (1 - b1) * (g - m)
        v *= b2
        v += (1 - b2) * g * g
        ref -= opt.lr / (1 - b1 ** t) * m / (np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)
        np.testing.assert_array_equal(params["w"], ref)
        assert params["w"].dtype == dtype
