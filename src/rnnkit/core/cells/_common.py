"""Helpers shared by the cells: the input projection of one step and its weight gradients."""
from __future__ import annotations

import numpy as np


def project(params: dict, x: np.ndarray) -> np.ndarray:
    """gx = x W_ih^T + b_ih.   x: (B, I) -> (B, G*H)"""
    gx = x @ params["weight_ih"].T
    if params.get("bias_ih") is not None:
        gx += params["bias_ih"]
    return gx


def project_backward(params: dict, x, h_prev, dgx, dgh, grads: dict) -> np.ndarray:
    """Weight and bias gradients of one step from the pre-activation gradients; returns dx.

    dgx: (B, G*H) gradient of x W_ih^T + b_ih;  dgh: (B, G*H) gradient of h W_hh^T + b_hh.
    """
    grads["weight_ih"] = dgx.T @ x  # (G*H, I)
    grads["weight_hh"] = dgh.T @ h_prev  # (G*H, H)
    if params.get("bias_ih") is not None:
        grads["bias_ih"] = dgx.sum(axis=0)
        grads["bias_hh"] = dgh.sum(axis=0)
    return dgx @ params["weight_ih"]  # (B, I)


def hidden_projection(h_prev: np.ndarray, w_hh: np.ndarray, b_hh) -> np.ndarray:
    """gh = h W_hh^T + b_hh.   h: (B, H) -> (B, G*H)"""
    gh = h_prev @ w_hh.T
    if b_hh is not None:
        gh += b_hh
    return gh
