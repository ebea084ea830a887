"""Stacked, optionally bidirectional recurrent layers as two pure functions: forward and BPTT.

``recurrent_forward(params, x, ...)`` runs every layer and direction over a time-major batch and
returns the outputs, the final states and a cache; ``recurrent_backward`` takes that cache and
the output gradients and accumulates every parameter gradient. The per-direction time loop is
a backend (``rnnkit.core.scan`` in NumPy, ``rnnkit.core.kernels`` fused with numba).

Layout inside: time-major ``(T, B, F)``. Layer k's input is the concatenation of both
directions' outputs of layer k-1, with inverted dropout between layers when training.
The input projection of all T steps is one GEMM, and so is each weight gradient.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from rnnkit.core.cells import CELLS
from rnnkit.core.init import param_suffix


@dataclass
class RecurrentSpec:
    """The static settings a recurrent stack needs to run."""
    kind: str
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    bias: bool = True
    nonlinearity: str = "tanh"

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @cached_property
    def options(self) -> dict:
        """The settings the cell takes, by name: {"nonlinearity": ...} for the RNN, else {}."""
        return {name: getattr(self, name) for name in CELLS[self.kind].OPTIONS}


@dataclass
class StackCache:
    inputs: list = field(default_factory=list)  # per (layer, dir): (T, B, F) input in processing order
    scans: list = field(default_factory=list)  # per (layer, dir): ScanCache
    dropout_masks: list = field(default_factory=list)  # per layer >= 1: (T, B, D*H) or None
    mask: np.ndarray | None = None  # (T, B, 1)


def _direction_arrays(arr, direction):
    """Time-flipped contiguous copy for the reverse direction."""
    return np.ascontiguousarray(arr[::-1]) if direction else arr


def recurrent_forward(spec: RecurrentSpec, params, x, state0, mask=None, *, backend,
                      dropout=0.0, rng=None):
    """Forward through all layers.

    x: (T, B, I) time-major; state0: (C, L*D, B, H) the initial state, one (L*D, B, H) block
    per name in the cell's CARRY (h, or h and c); mask: (T, B, 1) 0/1 or None.
    ``dropout`` > 0 applies inverted dropout to each layer's output but the last (training).
    Returns y (T, B, D*H), the final state (C, L*D, B, H) and the cache.
    """
    T, B, _ = x.shape
    H, D = spec.hidden_size, spec.num_directions
    cell = CELLS[spec.kind]
    cache = StackCache(mask=mask)
    state_n = np.empty_like(state0)  # (C, L*D, B, H)
    inp = x
    for layer in range(spec.num_layers):
        out = np.empty((T, B, D * H), x.dtype) if D == 2 else None  # (T, B, D*H)
        for d in range(D):
            s, k = param_suffix(layer, d), layer * D + d
            xd = _direction_arrays(inp, d)  # (T, B, F)
            md = _direction_arrays(mask, d) if mask is not None else None
            # all input projections as one 2-D GEMM (a 3-D matmul would make T small ones)
            gx = xd.reshape(T * B, -1) @ params["weight_ih" + s].T  # (T*B, G*H)
            gx = gx.reshape(T, B, -1)  # (T, B, G*H)
            b_hh = None
            if spec.bias:
                b_ih, b_hh = params["bias_ih" + s], params["bias_hh" + s]
                if not cell.GH_APART:  # the gates see gx + gh: one pass with both biases
                    b_ih, b_hh = b_ih + b_hh, None
                gx += b_ih
            sc = backend.scan_forward(spec.kind, gx, state0[:, k], params["weight_hh" + s], b_hh,
                                      md, **spec.options)
            hs = sc.states[0]  # (T+1, B, H)
            ys = hs[1:] if md is None else hs[1:] * md  # (T, B, H); zero over padding
            if D == 1:
                out = ys  # no copy: a view of the scan's buffer, which the cache keeps anyway
            else:
                out[:, :, d * H : (d + 1) * H] = ys[::-1] if d else ys
            state_n[:, k] = sc.states[:, T]
            cache.inputs.append(xd)
            cache.scans.append(sc)
        if layer < spec.num_layers - 1 and dropout > 0:
            keep = (rng.random(out.shape) >= dropout).astype(x.dtype) / (1.0 - dropout)
            out = out * keep  # not in place: out may be a view of the scan's cached states
            cache.dropout_masks.append(keep)
        elif layer < spec.num_layers - 1:
            cache.dropout_masks.append(None)
        inp = out
    return inp, state_n, cache


def recurrent_backward(spec: RecurrentSpec, params, cache: StackCache, dy, dstate_n, grads, *,
                       backend):
    """Backpropagation through time through all layers and directions.

    dy: (T, B, D*H) time-major; dstate_n: (C, L*D, B, H) gradient of the final state.
    Adds each parameter's gradient into ``grads[name]`` (in place, as PyTorch accumulates).
    Returns dx (T, B, I) and the gradient of the initial state (C, L*D, B, H).
    """
    T, B, _ = dy.shape
    H, D = spec.hidden_size, spec.num_directions
    G = CELLS[spec.kind].GATES
    dstate0 = np.empty_like(dstate_n)  # (C, L*D, B, H)
    dout = dy
    for layer in reversed(range(spec.num_layers)):
        din = None
        for d in range(D):
            s, k = param_suffix(layer, d), layer * D + d
            sc, xd = cache.scans[k], cache.inputs[k]
            dys = _direction_arrays(dout[:, :, d * H : (d + 1) * H], d)  # (T, B, H)
            dgx, dgh, dstate0[:, k] = backend.scan_backward(
                sc, np.ascontiguousarray(dys), dstate_n[:, k], params["weight_hh" + s])
            dgx2 = dgx.reshape(T * B, G * H)  # (T*B, G*H)
            dgh2 = dgh.reshape(T * B, G * H)
            # weight gradients: one GEMM each over all time steps
            grads["weight_ih" + s] += dgx2.T @ xd.reshape(T * B, -1)
            grads["weight_hh" + s] += dgh2.T @ sc.states[0, :T].reshape(T * B, H)
            if spec.bias:
                db_ih = dgx2.sum(axis=0)  # (G*H,)
                grads["bias_ih" + s] += db_ih
                grads["bias_hh" + s] += db_ih if dgh is dgx else dgh2.sum(axis=0)
            dxd = (dgx2 @ params["weight_ih" + s]).reshape(T, B, -1)  # (T, B, F)
            if d:
                dxd = dxd[::-1]
            din = dxd if din is None else din + dxd
        if layer > 0 and cache.dropout_masks[layer - 1] is not None:
            din = din * cache.dropout_masks[layer - 1]  # backprop through dropout
        dout = din
    return np.ascontiguousarray(dout), dstate0
