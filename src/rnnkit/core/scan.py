"""The time loop of one recurrent direction: forward over T steps and backpropagation through time.

This is the readable NumPy reference. ``rnnkit.core.kernels`` holds fused numba versions with the
same signatures and buffer layouts; :func:`get_backend` picks one. Everything here is
time-major, ``(T, B, ...)``, so that one step is a contiguous slice.

Variable lengths follow PyTorch's packed sequences: at a padded step (``mask[t, b] == 0``) the
state is carried unchanged and the output is zero. A reverse direction is run by the caller
on time-flipped input, where the padding comes first and the carried state is the initial one.

Buffers a forward scan returns (``ScanCache``):
    hs   (T+1, B, H)  hs[0] = h0, hs[t+1] = state after step t (carried over padding)
    cs   (T+1, B, H)  the same for the LSTM cell state, else None
    acts (T, B, K)    what the backward needs: LSTM [i, f, g, o, tanh(c)] (K = 5H),
                      GRU [r, z, n, W_hn h + b_hn] (K = 4H), RNN None (it uses hs)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.core.cells import gru as gru_cell
from rnnkit.core.cells import lstm as lstm_cell
from rnnkit.core.cells import rnn as rnn_cell


@dataclass
class ScanCache:
    kind: str
    hs: np.ndarray  # (T+1, B, H)
    cs: np.ndarray | None  # (T+1, B, H)
    acts: np.ndarray | None  # (T, B, K)
    mask: np.ndarray | None  # (T, B, 1), 1 where the step is valid
    nonlinearity: str = "tanh"


def scan_forward(kind, gx, h0, c0, w_hh, b_hh, mask=None, nonlinearity="tanh") -> ScanCache:
    """Run one direction over time.

    gx: (T, B, G*H) input projections x_t W_ih^T + b_ih (plus b_hh for RNN and LSTM);
    h0, c0: (B, H); w_hh: (G*H, H); b_hh: (G*H,) for the GRU, else None;
    mask: (T, B, 1) of 0/1 in gx's dtype, or None when every sequence has length T.
    """
    T, B, _ = gx.shape
    H = h0.shape[-1]
    hs = np.empty((T + 1, B, H), gx.dtype)  # (T+1, B, H)
    hs[0] = h0
    cs = acts = None
    if kind == "lstm":
        cs = np.empty((T + 1, B, H), gx.dtype)  # (T+1, B, H)
        cs[0] = c0
        acts = np.empty((T, B, 5 * H), gx.dtype)  # (T, B, 5H)
    elif kind == "gru":
        acts = np.empty((T, B, 4 * H), gx.dtype)  # (T, B, 4H)
    for t in range(T):
        if kind == "rnn":
            h, _ = rnn_cell.recur(gx[t], hs[t], w_hh, None, nonlinearity)
        elif kind == "lstm":
            h, c, (_, _, a, tc) = lstm_cell.recur(gx[t], hs[t], cs[t], w_hh, None)
            acts[t, :, : 4 * H] = a
            acts[t, :, 4 * H :] = tc
        else:
            h, (_, a) = gru_cell.recur(gx[t], hs[t], w_hh, b_hh)
            acts[t] = a
        if mask is not None:  # carry the state over padded steps
            h = mask[t] * h + (1 - mask[t]) * hs[t]
            if kind == "lstm":
                c = mask[t] * c + (1 - mask[t]) * cs[t]
        hs[t + 1] = h
        if kind == "lstm":
            cs[t + 1] = c
    return ScanCache(kind, hs, cs, acts, mask, nonlinearity)


def scan_backward(cache: ScanCache, dys, dhT, dcT, w_hh):
    """Backpropagation through time for one direction.

    dys: (T, B, H) gradient of the outputs hs[1:] * mask; dhT, dcT: (B, H) gradient of the
    final state (dcT None unless LSTM). Returns (dgx, dgh, dh0, dc0): gradients of the input
    projections gx (T, B, G*H), of the hidden projections h_{t-1} W_hh^T + b_hh (T, B, G*H; the
    same array as dgx except for the GRU), and of the initial state.
    """
    kind, hs, cs, acts, mask = cache.kind, cache.hs, cache.cs, cache.acts, cache.mask
    T, B, H = dys.shape
    G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    dgx = np.empty((T, B, G * H), dys.dtype)  # (T, B, G*H)
    dgh = np.empty_like(dgx) if kind == "gru" else dgx
    dh = dhT.copy()  # (B, H) gradient reaching h_t from later steps
    dc = dcT.copy() if kind == "lstm" else None
    for t in reversed(range(T)):
        if mask is not None:
            dh_skip = (1 - mask[t]) * dh  # padded step: state passed through unchanged
            dh = mask[t] * (dh + dys[t])  # the output there is zero and carries no gradient
            if kind == "lstm":
                dc_skip = (1 - mask[t]) * dc
                dc = mask[t] * dc
        else:
            dh = dh + dys[t]
        if kind == "rnn":
            da, _, dh_prev = rnn_cell.recur_backward(dh, (hs[t], hs[t + 1]), w_hh,
                                                     cache.nonlinearity)
            dgx[t] = da
        elif kind == "lstm":
            rc = (hs[t], cs[t], acts[t, :, : 4 * H], acts[t, :, 4 * H :])
            da, _, dh_prev, dc = lstm_cell.recur_backward(dh, dc, rc, w_hh)
            dgx[t] = da
        else:
            dgx[t], dgh[t], dh_prev = gru_cell.recur_backward(dh, (hs[t], acts[t]), w_hh)
        dh = dh_prev
        if mask is not None:
            dh = dh + dh_skip
            if kind == "lstm":
                dc = dc + dc_skip
    return dgx, dgh, dh, dc
