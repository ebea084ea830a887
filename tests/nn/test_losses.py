"""MSELoss and CrossEntropyLoss: finite differences, PyTorch parity, masks, error messages."""
import numpy as np
import pytest
import torch.nn.functional as F

from helpers import numerical_grad, rel_error, torch_forward_backward
from rnnkit.nn.losses import (
    CrossEntropyLoss,
    MSELoss,
    cross_entropy,
    cross_entropy_backward,
    log_softmax,
    mse_loss,
    mse_loss_backward,
)

rng = np.random.default_rng(0)


def check_loss(loss_cls, pred, target, torch_fn, mask=None, fd_tol=1e-7, **options):
    """The class's loss and gradient equal torch_fn's (float64) and finite differences."""
    loss = loss_cls(**options)
    value = loss.forward(pred, target, mask)
    grad = loss.backward()
    ref, (ref_grad, *_) = torch_forward_backward(torch_fn, [pred, target])
    assert abs(value - float(ref)) <= 1e-12 * max(1.0, abs(value))
    assert rel_error(grad, ref_grad) < 1e-10
    numeric = numerical_grad(lambda p: loss_cls(**options).forward(p, target, mask), pred)
    assert rel_error(grad, numeric) < fd_tol


# --- MSE -----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1,), (6,), (1, 1, 1), (2, 3, 4)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_matches_torch(shape, reduction):
    pred, target = rng.standard_normal(shape), rng.standard_normal(shape)
    check_loss(MSELoss, pred, target, lambda p, t: F.mse_loss(p, t, reduction=reduction),
               reduction=reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_mask_averages_over_real_steps(reduction):
    pred, target = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4, 2))
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=float)  # (B, T)
    keep = mask.astype(bool)

    def on_real_steps(p, t):  # torch on the unpadded entries only
        return F.mse_loss(p[keep], t[keep], reduction=reduction)

    check_loss(MSELoss, pred, target, on_real_steps, mask=mask, reduction=reduction)


def test_mse_pure_pair_and_dloss_scaling():
    pred, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    w = rng.uniform(0, 2, size=4)  # real-valued weights per row
    loss, cache = mse_loss(pred, target, w)
    expected = (w[:, None] * (pred - target) ** 2).sum() / (3 * w.sum())
    assert abs(loss - expected) < 1e-14
    grad = mse_loss_backward(cache, dloss=2.5)
    numeric = numerical_grad(lambda p: mse_loss(p, target, w)[0], pred)
    assert rel_error(grad, 2.5 * numeric) < 1e-7


def test_mse_errors():
    loss = MSELoss()
    with pytest.raises(ValueError, match=r"shapes differ: \(2, 3\) vs \(3, 2\)"):
        loss.forward(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="pred contains NaN at index"):
        loss.forward(np.array([0.0, np.nan]), np.zeros(2))
    with pytest.raises(ValueError, match=r"Expected mask of shape \(2,\)"):
        loss.forward(np.zeros((2, 3)), np.zeros((2, 3)), mask=np.ones(3))
    with pytest.raises(ValueError, match="mask weights must be >= 0"):
        loss.forward(np.zeros((2, 3)), np.zeros((2, 3)), mask=np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="every entry has weight 0"):
        loss.forward(np.zeros((2, 3)), np.zeros((2, 3)), mask=np.zeros(2))
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum', got 'none'"):
        MSELoss(reduction="none")
    with pytest.raises(RuntimeError, match="needs a forward"):
        MSELoss().backward()


# --- cross-entropy -------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 3), (7, 5), (1, 1, 4), (3, 4, 6)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_matches_torch(shape, reduction):
    logits = 3 * rng.standard_normal(shape)
    target = rng.integers(0, shape[-1], size=shape[:-1])
    target.flat[-1] = -100 if target.size > 1 else target.flat[-1]  # an ignored entry

    def torch_ce(x, t):  # torch wants the class axis second: (B, C, T)
        x = x.permute(0, 2, 1) if x.ndim == 3 else x
        return F.cross_entropy(x, t, reduction=reduction)

    check_loss(CrossEntropyLoss, logits, target, torch_ce, reduction=reduction)


@pytest.mark.parametrize("smoothing", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_label_smoothing_matches_torch(smoothing, reduction):
    logits = 2 * rng.standard_normal((3, 4, 5))
    target = rng.integers(0, 5, size=(3, 4))
    target[0, 1] = -100  # ignored entries stay out of the smoothed loss too, as in torch
    check_loss(CrossEntropyLoss, logits, target,
               lambda x, t: F.cross_entropy(x.permute(0, 2, 1), t, reduction=reduction,
                                            label_smoothing=smoothing),
               reduction=reduction, label_smoothing=smoothing)
    # against the definition: cross-entropy with the target q = (1 - e) onehot + e / C
    x, t = logits[1], target[1]
    q = np.full((4, 5), smoothing / 5) + (1 - smoothing) * np.eye(5)[t]
    expected = -(q * log_softmax(x)).sum() / (4 if reduction == "mean" else 1)
    assert abs(cross_entropy(x, t, reduction=reduction, label_smoothing=smoothing)[0]
               - expected) < 1e-12
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        CrossEntropyLoss(label_smoothing=1.5)


def test_cross_entropy_mask_equals_ignoring_padding():
    logits = rng.standard_normal((3, 4, 5))
    target = rng.integers(0, 5, size=(3, 4))
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    padded = np.where(mask == 1, target, -100)
    check_loss(CrossEntropyLoss, logits, target,
               lambda x, t: F.cross_entropy(x.permute(0, 2, 1), t.new_tensor(padded)),
               mask=mask)
    target[0, 0] = 3  # another ignore_index, combined with the mask
    check_loss(CrossEntropyLoss, logits, target,
               lambda x, t: F.cross_entropy(x.permute(0, 2, 1), t.new_tensor(
                   np.where(mask == 1, target, 3)), ignore_index=3),
               mask=mask, ignore_index=3)


def test_cross_entropy_weights_and_dloss():
    logits, target = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    w = np.array([0.5, 2.0, 0.0, 1.0])
    loss, cache = cross_entropy(logits, target, w)
    expected = -(w * log_softmax(logits)[np.arange(4), target]).sum() / w.sum()
    assert abs(loss - expected) < 1e-14
    numeric = numerical_grad(lambda x: cross_entropy(x, target, w)[0], logits)
    assert rel_error(cross_entropy_backward(cache, dloss=0.3), 0.3 * numeric) < 1e-7


def test_cross_entropy_is_stable_for_saturated_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4 - 1]])
    target = np.array([1, 2])
    # loss ~ 1e4, so differences of it lose ~1e4 * 1e-16 / 1e-6 = 1e-6 to rounding
    check_loss(CrossEntropyLoss, logits, target, lambda x, t: F.cross_entropy(x, t),
               fd_tol=1e-5)
    loss = CrossEntropyLoss()
    assert np.isfinite(loss.forward(np.float32(1e4) * np.ones((2, 3), np.float32),
                                    np.array([0, 1])))
    assert loss.backward().dtype == np.float32


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_float32_agrees_with_float64(smoothing):
    """The float32 path (its own exp, vectorised sums) against the float64 one (libm), on
    textgen-like logits (B, T, 96) with a mask and an ignored entry: loss and gradient."""
    logits = (4 * rng.standard_normal((4, 30, 96))).astype(np.float32)
    target = rng.integers(0, 96, (4, 30))
    target[0, 3] = -100
    mask = (rng.uniform(size=(4, 30)) > 0.2).astype(np.float32)
    out = {}
    for dtype in (np.float32, np.float64):
        loss = CrossEntropyLoss(label_smoothing=smoothing)
        value = loss.forward(logits.astype(dtype), target, mask)
        out[dtype] = value, loss.backward()
    (v32, g32), (v64, g64) = out[np.float32], out[np.float64]
    assert g32.dtype == np.float32 and g32.shape == logits.shape
    assert abs(v32 - v64) <= 1e-6 * abs(v64)
    assert np.abs(g32 - g64).max() <= 1e-6 * np.abs(g64).max()
    assert not g32[0, 3].any() and not g32[mask == 0].any()  # no gradient where weight is 0


def test_cross_entropy_of_a_strided_view_equals_its_copy():
    logits = rng.standard_normal((5, 7, 20))[:, ::2, ::2]  # (5, 4, 10), not contiguous
    target = rng.integers(0, 10, (5, 4))
    a, b = CrossEntropyLoss(), CrossEntropyLoss()
    assert a.forward(logits, target) == b.forward(np.ascontiguousarray(logits), target)
    np.testing.assert_array_equal(a.backward(), b.backward())


def test_cross_entropy_errors():
    loss = CrossEntropyLoss()
    with pytest.raises(ValueError, match=r"Expected target of shape \(2, 3\).*got \(2,\)"):
        loss.forward(np.zeros((2, 3, 4)), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match=r"Expected logits to be 2D \(N, C\) or 3D"):
        loss.forward(np.zeros(4), np.zeros((), dtype=int))
    with pytest.raises(IndexError, match=r"target 5 is out of range for 5 classes \(0\.\.4"):
        loss.forward(np.zeros((2, 5)), np.array([1, 5]))
    with pytest.raises(IndexError, match="target -2 is out of range"):
        loss.forward(np.zeros((2, 5)), np.array([-2, 0]))
    with pytest.raises(TypeError, match="integer class indices, got dtype float64"):
        loss.forward(np.zeros((2, 5)), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="logits contains inf"):
        loss.forward(np.array([[0.0, np.inf]]), np.array([0]))
    with pytest.raises(ValueError, match="every entry has weight 0"):
        loss.forward(np.zeros((2, 5)), np.array([-100, -100]))
    assert CrossEntropyLoss(reduction="sum").forward(np.zeros((2, 5)),
                                                     np.array([-100, -100])) == 0.0
