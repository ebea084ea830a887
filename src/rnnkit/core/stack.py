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

import numpy as np

from rnnkit.core.init import GATES, param_suffix


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


@dataclass
class StackCache:
    inputs: list = field(default_factory=list)  # per (layer, dir): (T, B, F) input in processing order
    scans: list = field(default_factory=list)  # per (layer, dir): ScanCache
    dropout_masks: list = field(default_factory=list)  # per layer >= 1: (T, B, D*H) or None
    mask: np.ndarray | None = None  # (T, B, 1)


def _direction_arrays(arr, direction):
    """Time-flipped contiguous copy for the reverse direction."""
    return np.ascontiguousarray(arr[::-1]) if direction else arr


def recurrent_forward(spec: RecurrentSpec, params, x, h0, c0=None, mask=None, *, backend,
                      dropout=0.0, rng=None):
    """Forward through all layers.

    x: (T, B, I) time-major; h0, c0: (L*D, B, H); mask: (T, B, 1) 0/1 or None.
    ``dropout`` > 0 applies inverted dropout to each layer's output but the last (training).
    Returns y (T, B, D*H), h_n (L*D, B, H), c_n (L*D, B, H) or None, and the cache.
    """
    T, B, _ = x.shape
    H, D = spec.hidden_size, spec.num_directions
    cache = StackCache(mask=mask)
    h_n = np.empty((spec.num_layers * D, B, H), x.dtype)  # (L*D, B, H)
    c_n = np.empty_like(h_n) if spec.kind == "lstm" else None
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
                if spec.kind == "gru":  # b_hn sits inside the reset gate
                    gx += params["bias_ih" + s]
                    b_hh = params["bias_hh" + s]
                else:  # one pass over gx with both biases
                    gx += params["bias_ih" + s] + params["bias_hh" + s]
            sc = backend.scan_forward(spec.kind, gx, h0[k], None if c0 is None else c0[k],
                                      params["weight_hh" + s], b_hh, md, spec.nonlinearity)
            ys = sc.hs[1:] if md is None else sc.hs[1:] * md  # (T, B, H); zero over padding
            if D == 1:
                out = ys  # no copy: a view of the scan's buffer, which the cache keeps anyway
            else:
                out[:, :, d * H : (d + 1) * H] = ys[::-1] if d else ys
            h_n[k] = sc.hs[T]
            if c_n is not None:
                c_n[k] = sc.cs[T]
            cache.inputs.append(xd)
            cache.scans.append(sc)
        if layer < spec.num_layers - 1 and dropout > 0:
            keep = (rng.random(out.shape) >= dropout).astype(x.dtype) / (1.0 - dropout)
            out = out * keep  # not in place: out may be a view of the scan's cached states
            cache.dropout_masks.append(keep)
        elif layer < spec.num_layers - 1:
            cache.dropout_masks.append(None)
        inp = out
    return inp, h_n, c_n, cache


def recurrent_backward(spec: RecurrentSpec, params, cache: StackCache, dy, dh_n, dc_n, grads, *,
                       backend):
    """Backpropagation through time through all layers and directions.

    dy: (T, B, D*H) time-major; dh_n, dc_n: (L*D, B, H) (dc_n None unless LSTM).
    Adds each parameter's gradient into ``grads[name]`` (in place, as PyTorch accumulates).
    Returns dx (T, B, I), dh0 (L*D, B, H), dc0 (L*D, B, H) or None.
    """
    T, B, _ = dy.shape
    H, D = spec.hidden_size, spec.num_directions
    G = GATES[spec.kind]
    dh0 = np.empty_like(dh_n)  # (L*D, B, H)
    dc0 = np.empty_like(dc_n) if dc_n is not None else None
    dout = dy
    for layer in reversed(range(spec.num_layers)):
        din = None
        for d in range(D):
            s, k = param_suffix(layer, d), layer * D + d
            sc, xd = cache.scans[k], cache.inputs[k]
            dys = _direction_arrays(dout[:, :, d * H : (d + 1) * H], d)  # (T, B, H)
            dgx, dgh, dh0[k], dck = backend.scan_backward(
                sc, np.ascontiguousarray(dys), dh_n[k], None if dc_n is None else dc_n[k],
                params["weight_hh" + s])
            if dc0 is not None:
                dc0[k] = dck
            dgx2 = dgx.reshape(T * B, G * H)  # (T*B, G*H)
            dgh2 = dgh.reshape(T * B, G * H)
            # weight gradients: one GEMM each over all time steps
            grads["weight_ih" + s] += dgx2.T @ xd.reshape(T * B, -1)
            grads["weight_hh" + s] += dgh2.T @ sc.hs[:T].reshape(T * B, H)
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
    return np.ascontiguousarray(dout), dh0, dc0
