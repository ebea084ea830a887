"""Losses with their gradients: mean squared error and softmax cross-entropy.

Each is a pure pair ``loss, cache = f(pred, target, ...)`` / ``dpred = f_backward(cache)``
and a small class around it (``loss = L.forward(pred, target)``, ``dpred = L.backward()``).
Both take an optional ``mask`` of weights, 1 for real steps and 0 for padding, so padded
sequence batches average over their real entries only. Semantics follow
``torch.nn.MSELoss`` and ``torch.nn.CrossEntropyLoss``, except that the class axis of
cross-entropy is last: logits (N, C) or (B, T, C).
"""
from __future__ import annotations

import numpy as np

from rnnkit.core.softmax import log_sum_exp_rows, row_max, softmax_minus_target_rows
from rnnkit.nn.module import Module
from rnnkit.validation import as_float_array, check_finite

REDUCTIONS = ("mean", "sum")


def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    return reduction


def _as_float(x, name):
    x = np.asarray(x)
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
    x = as_float_array(x, name, dtype)
    check_finite(x, name)
    return x


def _check_mask(mask, shape, dtype):
    """Weights of shape ``shape`` (a prefix of the prediction's shape), finite and >= 0."""
    mask = as_float_array(mask, "mask", dtype)
    if mask.shape != shape:
        raise ValueError(f"Expected mask of shape {shape}, got {mask.shape}")
    check_finite(mask, "mask")
    if np.any(mask < 0):
        raise ValueError("mask weights must be >= 0")
    return mask


def _normaliser(total_weight, reduction):
    if reduction == "sum":
        return 1.0
    if total_weight <= 0:
        raise ValueError("the mean is undefined: every entry has weight 0 "
                         "(all masked or equal to ignore_index)")
    return float(total_weight)


# --- mean squared error --------------------------------------------------------------------
def mse_loss(pred, target, mask=None, reduction="mean"):
    """``L = sum(w * (pred - target)^2) / Z`` with Z = sum of w over all elements ("mean")
    or 1 ("sum"); w = 1 without a mask.

    pred, target: same shape (...). mask: weights of shape pred.shape[:k] for some k (e.g.
    (B, T) for pred (B, T, F)), broadcast over the remaining axes.
    Returns the loss (float) and the cache for ``mse_loss_backward``.
    """
    _check_reduction(reduction)
    pred = _as_float(pred, "pred")
    target = _as_float(target, "target").astype(pred.dtype, copy=False)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {pred.shape} vs {target.shape}")
    diff = pred - target  # (...)
    if mask is None:
        w = np.ones((), pred.dtype)
    else:
        m = np.asarray(mask)
        mask = _check_mask(m, pred.shape[:m.ndim], pred.dtype)
        w = mask.reshape(mask.shape + (1,) * (pred.ndim - mask.ndim))  # broadcasts like pred
    z = _normaliser(float(np.broadcast_to(w, pred.shape).sum()), reduction)
    loss = float((w * diff * diff).sum() / z)
    return loss, (diff, w, z)


def mse_loss_backward(cache, dloss=1.0) -> np.ndarray:
    diff, w, z = cache
    return (2.0 * dloss / z) * w * diff  # undo sum(w * diff^2) / Z


# --- cross-entropy -------------------------------------------------------------------------
def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``x - logsumexp(x)``, shifted by the max so exp never overflows."""
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _check_target(target, shape, num_classes, ignore_index):
    target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    if target.shape != shape:
        raise ValueError(f"Expected target of shape {shape} (logits without the class axis), "
                         f"got {target.shape}")
    bad = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    if bad.any():
        raise IndexError(f"target {target[bad].flat[0]} is out of range for {num_classes} "
                         f"classes (0..{num_classes - 1}, or ignore_index={ignore_index})")
    return target


def _check_smoothing(label_smoothing) -> float:
    e = float(label_smoothing)
    if not 0.0 <= e <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return e


def cross_entropy(logits, target, mask=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """``L = sum_n w_n l_n / Z``, Z = sum_n w_n ("mean") or 1, with
    ``l_n = -(1 - e) log p_n[target_n] - (e / C) sum_k log p_n[k]``, p_n = softmax(logits_n)
    and e = ``label_smoothing`` (0: plain cross-entropy; as ``torch.nn.CrossEntropyLoss``).
    With lse_n = log sum_k exp(logits_n[k]), log p_n[k] = logits_n[k] - lse_n, so
    ``l_n = (1 - e) (lse_n - logits_n[target_n]) + e (lse_n - mean_k logits_n[k])``.

    logits: (N, C) or (B, T, C), class axis last. target: integers (N,) or (B, T) in
    0..C-1; entries equal to ``ignore_index`` get w = 0. mask: optional weights shaped like
    target (0 for padding). Returns the loss (float) and the cache for the backward: the
    logits and lse (N,), from which the backward recomputes the softmax.
    """
    _check_reduction(reduction)
    e = _check_smoothing(label_smoothing)
    logits = _as_float(logits, "logits")
    if logits.ndim not in (2, 3):
        raise ValueError(f"Expected logits to be 2D (N, C) or 3D (B, T, C), got {logits.ndim}D "
                         f"with shape {logits.shape}")
    C = logits.shape[-1]
    target = _check_target(target, logits.shape[:-1], C, ignore_index)
    x, t = np.ascontiguousarray(logits.reshape(-1, C)), target.ravel()  # (N, C), (N,)
    w = (t != ignore_index).astype(logits.dtype)  # (N,)
    if mask is not None:
        w = w * _check_mask(mask, target.shape, logits.dtype).ravel()
    t = np.where(t == ignore_index, 0, t)  # any valid class; its weight is 0
    lse, nll = row_max(x), np.empty(len(t), x.dtype)  # (N,) each
    log_sum_exp_rows(x, t, lse, nll)
    z = _normaliser(float(w.sum()), reduction)
    if e:
        nll = (1 - e) * nll + e * (lse - x.mean(axis=-1))  # (N,)
    loss = float((w * nll).sum() / z)
    return loss, (x, lse, t, w, z, logits.shape, e)


def cross_entropy_backward(cache, dloss=1.0) -> np.ndarray:
    """d L / d logits = (softmax - q) w / Z, q = (1 - e) onehot(target) + e / C (sums to 1)."""
    x, lse, t, w, z, shape, e = cache
    dx = np.empty_like(x)  # (N, C)
    one = x.dtype.type
    scale = ((dloss / z) * w).astype(x.dtype, copy=False)  # (N,) undo the weighted sum
    softmax_minus_target_rows(x, t, lse, scale, one(e / x.shape[-1]), one(1 - e), dx)
    return dx.reshape(shape)


# --- classes -------------------------------------------------------------------------------
class _Loss(Module):
    """A loss is a module without parameters: forward -> float, backward -> dpred."""

    def __init__(self, reduction="mean"):
        super().__init__({})
        self.reduction = _check_reduction(reduction)

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        """Gradient of the last forward's loss w.r.t. its prediction (times ``dloss``)."""
        return self._backward(self.saved(), dloss)


class MSELoss(_Loss):
    """Mean squared error, ``forward(pred, target, mask=None) -> float``; see ``mse_loss``."""

    def forward(self, pred, target, mask=None) -> float:
        loss, cache = mse_loss(pred, target, mask, self.reduction)
        self.save_for_backward(cache)
        return loss

    _backward = staticmethod(mse_loss_backward)
    __call__ = forward


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy on logits with integer targets; see ``cross_entropy``.

    ``forward(logits, target, mask=None) -> float``; logits (N, C) or (B, T, C).
    """

    def __init__(self, reduction="mean", ignore_index=-100, label_smoothing=0.0):
        super().__init__(reduction)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = _check_smoothing(label_smoothing)

    def forward(self, logits, target, mask=None) -> float:
        loss, cache = cross_entropy(logits, target, mask, self.ignore_index, self.reduction,
                                    self.label_smoothing)
        self.save_for_backward(cache)
        return loss

    _backward = staticmethod(cross_entropy_backward)
    __call__ = forward
