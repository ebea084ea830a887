"""The one definition of "has the monitored value improved?", shared by early stopping,
checkpointing and ReduceLROnPlateau.

    mode "min", threshold_mode "abs":  value < best - threshold
    mode "min", threshold_mode "rel":  value < best * (1 - threshold)     (torch's rule)
    mode "max" mirrors both:           value > best + threshold,  value > best * (1 + threshold)

``best`` starts at +inf ("min") or -inf ("max"), which any finite value improves on; NaN
never improves.
"""
from __future__ import annotations

import math

MODES = ("min", "max")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    return mode


def worst(mode: str) -> float:
    """The starting ``best``: +inf for "min", -inf for "max"."""
    return math.inf if check_mode(mode) == "min" else -math.inf


def improved(value: float, best: float, mode: str = "min", threshold: float = 0.0,
             threshold_mode: str = "abs") -> bool:
    """True when ``value`` beats ``best`` by more than ``threshold`` (see the module doc)."""
    if threshold_mode == "rel":
        bound = best * (1 - threshold) if mode == "min" else best * (1 + threshold)
    else:
        bound = best - threshold if mode == "min" else best + threshold
    return value < bound if mode == "min" else value > bound
