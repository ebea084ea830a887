"""Element-wise activations and their derivatives, written in terms of the activation's output.

Every recurrent cell only needs the derivative at the point it already computed, so each
``d<name>`` takes ``y = f(a)`` rather than the pre-activation ``a``:

    tanh:    y = tanh(a),          dy/da = 1 - y^2
    sigmoid: y = 1 / (1 + e^-a),   dy/da = y (1 - y)
    relu:    y = max(a, 0),        dy/da = [y > 0]
"""
from __future__ import annotations

import numpy as np


def sigmoid(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-a)); overflow of exp(-a) for a << 0 gives exactly 0."""
    with np.errstate(over="ignore"):
        out = np.exp(np.negative(a, out=out), out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def dsigmoid(y: np.ndarray) -> np.ndarray:
    return y * (1.0 - y)


def tanh(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.tanh(a, out=out)


def dtanh(y: np.ndarray) -> np.ndarray:
    return 1.0 - y * y


def relu(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(a, 0.0, out=out)


def drelu(y: np.ndarray) -> np.ndarray:
    return (y > 0).astype(y.dtype)


ACTIVATIONS = {
    "tanh": (tanh, dtanh),
    "sigmoid": (sigmoid, dsigmoid),
    "relu": (relu, drelu),
}


def get_activation(name: str):
    """Return ``(f, df)`` for a nonlinearity name; ``df`` takes the output ``f(a)``."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"Unknown nonlinearity {name!r}; expected one of {sorted(ACTIVATIONS)}"
        ) from None
