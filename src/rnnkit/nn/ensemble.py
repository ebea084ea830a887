"""An ensemble of classifiers that averages their predicted probabilities.

    log p(k | x) = log( (1/M) sum_m softmax(f_m(x))_k )

The members are trained one by one (each with its own seed); the ensemble is for prediction,
saving and loading: ``forward`` returns the log of the averaged probabilities (B, K), which
``argmax`` and cross-entropy read like logits. Averaging a few independently trained networks
removes most of their seed-to-seed spread (Fawaz et al. 2020, InceptionTime).
"""
from __future__ import annotations

import numpy as np

from rnnkit.nn.losses import log_softmax
from rnnkit.nn.module import Container, Module
from rnnkit.nn.registry import register_module


@register_module
class Ensemble(Container):
    """``Ensemble(model_0, model_1, ...)``: members named "0", "1", ... (parameters
    ``0.rnn.weight_ih_l0``, ...), each mapping the same inputs to logits (B, K)."""
    describe_children = True  # saved as its members' descriptions

    def __init__(self, *members: Module, **named: Module):
        super().__init__()
        children = {str(i): m for i, m in enumerate(members)} if members else dict(named)
        if not children:
            raise ValueError("an Ensemble needs at least one member")
        self.modules = children

    def __repr__(self):
        first = next(iter(self.modules.values()))
        return f"Ensemble({len(self.modules)} x {first!r})"

    def member_log_probs(self, *args, **kwargs) -> np.ndarray:
        """log softmax of every member's logits: (M, B, K)."""
        return np.stack([log_softmax(np.asarray(m.forward(*args, **kwargs), np.float64))
                         for m in self.modules.values()])

    def forward(self, *args, **kwargs):
        lp = self.member_log_probs(*args, **kwargs)  # (M, B, K)
        top = lp.max(axis=0)  # (B, K) log-mean-exp, stable
        return top + np.log(np.exp(lp - top).mean(axis=0))

    def backward(self, dout):
        raise RuntimeError("an Ensemble is for prediction: train its members one by one")

    __call__ = forward


@register_module
class MeanEnsemble(Ensemble):
    """``MeanEnsemble(model_0, model_1, ...)``: the mean of the members' outputs,
    ``y = (1/M) sum_m f_m(x)``, for regression (a forecaster's networks)."""

    def forward(self, *args, **kwargs):
        return np.mean([np.asarray(m.forward(*args, **kwargs), np.float64)
                        for m in self.modules.values()], axis=0)

    __call__ = forward
