"""Test helpers: central finite differences, relative error, and running the same
computation in PyTorch (float64) to compare values and gradients."""
from __future__ import annotations

import numpy as np


def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` of a scalar f.

    ``x`` is perturbed IN PLACE, one entry at a time, and restored, so f may ignore its
    argument and read x through a module (``numerical_grad(lambda _: loss(), W)``).
    Use float64 arrays.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        f_plus = float(f(x))
        x[i] = old - eps
        f_minus = float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def rel_error(a, b) -> float:
    """max |a - b| / max(|a|, |b|, 1e-12): a scale-free distance for gradient checks."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    scale = max(np.abs(a).max(initial=0), np.abs(b).max(initial=0), 1e-12)
    return float(np.abs(a - b).max(initial=0) / scale)


def check_module_grads(module, x, *, forward_kwargs=None, check_input=True, tol=1e-7,
                       seed=0):
    """Finite-difference check of ``module.backward`` in float64.

    With L = sum(forward(x) * dy) for a random dy, compares dL/dx (if ``check_input``) and
    dL/d(every parameter) from backward against ``numerical_grad``.
    """
    kw = forward_kwargs or {}
    rng = np.random.default_rng(seed)
    y = module.forward(x, **kw)
    dy = rng.standard_normal(np.shape(y))

    def loss(_):
        return float(np.sum(module.forward(x, **kw) * dy))

    module.zero_grad()
    module.forward(x, **kw)
    dx = module.backward(dy)
    if check_input:
        assert rel_error(dx, numerical_grad(loss, x)) < tol, "input gradient"
    for name, p in module.params.items():
        err = rel_error(module.grads[name], numerical_grad(loss, p))
        assert err < tol, f"gradient of {name}: relative error {err:.2e}"


def torch_forward_backward(fn, arrays, dout=None):
    """Run ``fn(*tensors)`` in PyTorch float64 and backpropagate ``dout`` (1 for a scalar).

    Float arrays become leaf tensors that require grad; integer arrays pass as int64.
    Returns (output as numpy, [gradient as numpy, or None for integer inputs]).
    """
    import torch

    tensors = []
    for a in arrays:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            tensors.append(torch.tensor(a, dtype=torch.float64, requires_grad=True))
        else:
            tensors.append(torch.tensor(a, dtype=torch.int64))
    out = fn(*tensors)
    grad_out = torch.ones_like(out) if dout is None else torch.tensor(dout, dtype=out.dtype)
    out.backward(grad_out)
    grads = [None if t.grad is None and not t.requires_grad else
             (np.zeros(t.shape) if t.grad is None else t.grad.numpy()) for t in tensors]
    return out.detach().numpy(), grads
