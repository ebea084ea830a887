"""Stacked, optionally bidirectional recurrent layers as two pure functions: forward and BPTT.

``recurrent_forward(params, x, ...)`` runs every layer and direction over a batch-first batch and
returns the outputs, the final states and a cache; ``recurrent_backward`` takes that cache and
the output gradients and accumulates every parameter gradient. The per-direction time loop is
a backend (``rnnkit.core.scan`` in NumPy, ``rnnkit.core.kernels`` fused with numba).

Layout: batch-first ``(B, T, F)``, as the user's arrays, so that no layer transposes its
input, output or their gradients (4 passes over memory of a training step, 0.3 ms each at
(64, 100, 128, 128)); the time loops keep their own buffers time-major (``rnnkit.core.scan``).
Layer k's input is the concatenation of both directions' outputs of layer k-1, with inverted
dropout between layers when training. The input projection of all T steps is one GEMM, and so
is each weight gradient (``rnnkit.core.weight_grads``).

The variants (``rnnkit.nn.recurrent``): recurrent dropout masks are drawn here and applied by
the time loop; peepholes and the normalisation of the hidden projection and cell state run
in the cells (``peephole=``, ``norm=``), that of the input projection here; the LSTM's
projection runs the time loop on the unprojected state (:func:`_projected_scan`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from rnnkit.core.cells import CELLS
from rnnkit.core.gemm import dot, input_projection
from rnnkit.core.init import NORMED, param_suffix
from rnnkit.core.norm import layer_norm, layer_norm_grads
from rnnkit.core.scan import bias_sums
from rnnkit.core.weight_grads import (_joined_weight_grads, _recurrent_weight_grad,
                                      joins_weight_grads)


@dataclass
class RecurrentSpec:
    """The static settings a recurrent stack needs to run."""
    kind: str
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    bias: bool = True
    nonlinearity: str = "tanh"
    proj_size: int = 0  # LSTM only: h_t = (o * tanh(c_t)) W_hr^T of size proj_size (0: none)
    peephole: bool = False  # LSTM only: diagonal peepholes weight_peephole_l{k} (3H,)
    layer_norm: bool = False  # LSTM, GRU: normalised projections (and LSTM cell state)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """The width of h, and of each direction's output: proj_size if set, else hidden_size."""
        return self.proj_size or self.hidden_size

    @cached_property
    def options(self) -> dict:
        """The settings the cell takes, by name: {"nonlinearity": ...} for the RNN, else {}."""
        return {name: getattr(self, name) for name in CELLS[self.kind].OPTIONS}

    def cell_keywords(self, params, suffix) -> dict:
        """What the cell's recur takes for one layer and direction: the settings, and the
        peephole weights (3H,) when the LSTM has them."""
        keywords = dict(self.options)
        if self.peephole:
            keywords["peephole"] = params["weight_peephole" + suffix]
        if self.layer_norm:  # the gains and biases of LN(h W_hh^T) and the LSTM's LN(c_t)
            keywords["norm"] = {part: (params[f"ln_weight_{part}{suffix}"],
                                       params[f"ln_bias_{part}{suffix}"])
                                for part in NORMED[self.kind][1:]}
        return keywords


@dataclass
class Projection:
    """What the backward of an LSTM with proj_size needs besides the scan (one direction)."""
    h0: np.ndarray  # (B, P) the initial h
    first: np.ndarray | int  # (B,) each sequence's first valid step in processing order, or 0
    w_rec: np.ndarray  # (4H, H) W_hh W_hr, the recurrent weight seen by m_{t-1}


@dataclass
class StackCache:
    inputs: list = field(default_factory=list)  # per (layer, dir): (B, T, F) input in processing order
    scans: list = field(default_factory=list)  # per (layer, dir): ScanCache
    dropout_masks: list = field(default_factory=list)  # per layer >= 1: (B, T, D*H) or None
    mask: np.ndarray | None = None  # (B, T, 1)
    projections: list = field(default_factory=list)  # per (layer, dir): Projection (proj_size)
    raw_inputs: list = field(default_factory=list)  # per (layer, dir): (B, T, G*H) x W_ih^T
    # before its normalisation (layer_norm)


def _direction_arrays(arr, direction):
    """Time-flipped contiguous copy of a (B, T, ...) array for the reverse direction."""
    return np.ascontiguousarray(arr[:, ::-1]) if direction else arr


def _empty_like_state(state):
    """Room for a state shaped like ``state``: one (C, L*D, B, H) array, or a tuple of
    (L*D, B, W) arrays when the carried arrays differ in width (an LSTM with proj_size)."""
    if isinstance(state, np.ndarray):
        return np.empty_like(state)
    return tuple(np.empty_like(a) for a in state)


def _projected_scan(spec, params, s, gx, carry0, b_hh, md, backend, keep):
    """One direction of an LSTM with projection, h_t = m_t W_hr^T, m_t = o_t * tanh(c_t).

    The scan carries (m, c), both H wide, with the recurrent weight W_hh W_hr (4H, H), since
    h_{t-1} W_hh^T = m_{t-1} (W_hh W_hr)^T; it starts from m = 0, and h0 W_hh^T (h0 is P
    wide) is added to the input projection of each sequence's first valid step instead.
    """
    w_hh, w_hr = params["weight_hh" + s], params["weight_hr" + s]  # (4H, P), (P, H)
    h0, c0 = carry0  # (B, P), (B, H)
    B = h0.shape[0]
    first = 0 if md is None else md[:, :, 0].argmax(axis=1)  # (B,) first valid step
    gx[np.arange(B), first] += h0 @ w_hh.T  # (B, 4H) where m_{t-1} = 0 stands for h0
    w_rec = w_hh @ w_hr  # (4H, H)
    sc = backend.scan_forward(spec.kind, gx, (np.zeros_like(c0), c0), w_rec, b_hh, md,
                              keep=keep, **spec.cell_keywords(params, s))
    return sc, Projection(h0, first, w_rec)


def recurrent_forward(spec: RecurrentSpec, params, x, state0, mask=None, *, backend,
                      dropout=0.0, rng=None, recurrent_dropout=0.0, keep=True):
    """Forward through all layers.

    x: (B, T, I) batch-first; state0: (C, L*D, B, H) the initial state, one (L*D, B, H) block
    per name in the cell's CARRY (h, or h and c), or with proj_size the pair (h (L*D, B, P),
    c (L*D, B, H)); mask: (B, T, 1) 0/1 or None.
    ``dropout`` > 0 applies inverted dropout to each layer's output but the last (training);
    ``recurrent_dropout`` > 0 draws one (B, H) inverted dropout mask per layer and direction
    for h_{t-1} in the hidden projection, the same at every step (training).
    Returns y (B, T, D*H) (D*P with proj_size), the final state shaped like state0, and the
    cache; with ``keep=False`` (inference) the cache is None and the time loops keep no
    activations for a backward.
    """
    B, T, _ = x.shape
    H, D, W = spec.hidden_size, spec.num_directions, spec.output_size
    cell = CELLS[spec.kind]
    cache = StackCache(mask=mask)  # without keep, it holds no layer's arrays past that layer
    state_n = _empty_like_state(state0)
    inp = x
    for layer in range(spec.num_layers):
        out = np.empty((B, T, D * W), x.dtype) if D == 2 else None  # (B, T, D*W)
        for d in range(D):
            s, k = param_suffix(layer, d), layer * D + d
            xd = _direction_arrays(inp, d)  # (B, T, F)
            md = _direction_arrays(mask, d) if mask is not None else None
            w_ih, gx = params["weight_ih" + s], None  # gx None: the scan projects x itself
            if spec.layer_norm or spec.proj_size:  # these change x W_ih^T before the scan
                # all input projections as one 2-D GEMM (a 3-D matmul makes T small ones)
                gx = input_projection(xd.reshape(B * T, -1), w_ih).reshape(B, T, -1)
            if spec.layer_norm:  # LN(x W_ih^T), over the G*H entries of each step
                if keep:
                    cache.raw_inputs.append(gx)
                gx = layer_norm(gx, params["ln_weight_ih" + s], params["ln_bias_ih" + s])[0]
            b_ih = b_hh = None
            if spec.bias:
                b_ih, b_hh = params["bias_ih" + s], params["bias_hh" + s]
                # the GRU keeps both apart: b_ih goes to the time loop (the kernels add it at
                # each step, not in a pass over gx), b_hh inside its reset gate
                if spec.layer_norm and not cell.GH_APART:  # the NumPy loop: one pass over gx
                    gx += b_ih + b_hh
                    b_ih = b_hh = None
                elif not cell.GH_APART:  # the gates see gx + gh: both added at each step
                    b_ih, b_hh = None, b_ih + b_hh
            carry0 = [a[k] for a in state0]  # C arrays (B, H) (h is (B, P) with proj_size)
            if spec.proj_size:
                sc, proj = _projected_scan(spec, params, s, gx, carry0, b_hh, md, backend,
                                           keep)
                cache.projections.append(proj)
                w_hr = params["weight_hr" + s]  # (P, H)
                ys = (sc.y.reshape(B * T, H) @ w_hr.T).reshape(B, T, W)  # (B, T, P)
                h_last = sc.final(0) @ w_hr.T  # (B, P)
            else:
                drop = None
                if recurrent_dropout > 0:  # one mask per sequence for all steps
                    drop = ((rng.random((B, H)) >= recurrent_dropout).astype(x.dtype)
                            / (1.0 - recurrent_dropout))  # (B, H)
                sc = backend.scan_forward(spec.kind, gx, carry0, params["weight_hh" + s], b_hh,
                                          md, drop, keep=keep, b_ih=b_ih,
                                          x=None if gx is not None else xd, w_ih=w_ih,
                                          **spec.cell_keywords(params, s))
                ys, h_last = sc.y, sc.final(0)  # (B, T, H), (B, H)
            if md is not None:
                ys = ys * md  # (B, T, W); zero over padding
            if D == 1:
                out = ys  # no copy: the scan's own output, which the cache keeps anyway
                if keep and ys is sc.y:  # the backward reads h_t from it: read-only, as
                    out = ys.view()  # torch refuses to change a tensor saved for backward
                    out.flags.writeable = False
            else:
                out[:, :, d * W : (d + 1) * W] = ys[:, ::-1] if d else ys
            state_n[0][k] = h_last
            for c in range(1, len(cell.CARRY)):
                state_n[c][k] = sc.final(c)
            if keep:
                cache.inputs.append(xd)
                cache.scans.append(sc)
        if layer < spec.num_layers - 1 and dropout > 0:
            kept = (rng.random(out.shape) >= dropout).astype(x.dtype) / (1.0 - dropout)
            out = out * kept  # not in place: out may be a view of the scan's cached states
            cache.dropout_masks.append(kept)
        elif layer < spec.num_layers - 1:
            cache.dropout_masks.append(None)
        inp = out
    return inp, state_n, cache if keep else None


def _projected_scan_backward(params, s, sc, proj, dys, dcarry_n, grads, backend):
    """Backward of :func:`_projected_scan` and of h_t = m_t W_hr^T (outputs and final h).

    dys: (B, T, P) gradient of the outputs; dcarry_n: (dh_n (B, P), dc_n (B, H)). Adds into
    grads["weight_hr" + s] and grads["weight_hh" + s]; returns (dgx, dgh, (dh0, dc0)).
    """
    w_hh, w_hr = params["weight_hh" + s], params["weight_hr" + s]  # (4H, P), (P, H)
    m = sc.y  # (B, T, H) m_t = o_t * tanh(c_t) for t = 1 .. T; m_0 = 0
    B, T, P = dys.shape
    H = m.shape[-1]
    dh_n, dc_n = dcarry_n
    dys_valid = dys if sc.mask is None else dys * sc.mask  # the padded outputs are zeros
    # backprop through y_t = m_t W_hr^T and h_n = m_T W_hr^T
    grads["weight_hr" + s] += dys_valid.reshape(B * T, P).T @ m.reshape(B * T, H)
    grads["weight_hr" + s] += dh_n.T @ sc.final(0)
    dgx, dgh, dcarry0, _ = backend.scan_backward(sc, np.ascontiguousarray(dys @ w_hr),
                                                 (dh_n @ w_hr, dc_n), proj.w_rec)
    # backprop through W_rec = W_hh W_hr, seen by m_{t-1}
    dw_rec = _recurrent_weight_grad(dgh, m, sc.states[0, 0])  # (4H, H)
    grads["weight_hh" + s] += dw_rec @ w_hr.T
    grads["weight_hr" + s] += w_hh.T @ dw_rec
    # backprop through h0 W_hh^T, added at each sequence's first valid step
    dg_first = dgx[np.arange(B), proj.first]  # (B, 4H)
    grads["weight_hh" + s] += dg_first.T @ proj.h0
    return dgx, dgh, (dg_first @ w_hh, dcarry0[1])


def _normed_scan_backward(spec, params, s, sc, dgx, dgh, grads):
    """The gains' and biases' gradients of LN(h W_hh^T) and the LSTM's LN(c_t), one direction.

    dgx, dgh: the scan's gradients (an LSTM's dgx ends with H columns for LN(c_t)). Returns
    (dgx, dgh, dgh_raw), each (B, T, G*H): dgx, dgh without those columns, and the gradient
    of h_{t-1} W_hh^T before its normalisation.
    """
    cell, H = CELLS[spec.kind], spec.hidden_size
    GH = cell.GATES * H
    if spec.kind == "lstm":  # backprop through tanh(LN(c_t)) into the gain and bias of LN(c)
        c = sc.states[1, 1:].transpose(1, 0, 2)  # (B, T, H) c_t, batch-first as dgx
        _, dgain, dbias = layer_norm_grads(dgx[..., GH:], c,
                                           params["ln_weight_c" + s], params["ln_bias_c" + s])
        grads["ln_weight_c" + s] += dgain
        grads["ln_bias_c" + s] += dbias
        dgx = dgh = dgx[..., :GH]  # the same array, as the cell's
    raw = sc.acts[..., cell.ACTS * H :].transpose(1, 0, 2)  # (B, T, G*H) h_{t-1} W_hh^T
    dgh_raw, dgain, dbias = layer_norm_grads(dgh, raw, params["ln_weight_hh" + s],
                                             params["ln_bias_hh" + s])
    grads["ln_weight_hh" + s] += dgain
    grads["ln_bias_hh" + s] += dbias
    return dgx, dgh, dgh_raw


def recurrent_backward(spec: RecurrentSpec, params, cache: StackCache, dy, dstate_n, grads, *,
                       backend, input_grad=True):
    """Backpropagation through time through all layers and directions.

    dy: (B, T, D*H) batch-first (D*P with proj_size); dstate_n: the gradient of the final
    state, shaped like it. Adds each parameter's gradient into ``grads[name]`` (in place, as
    PyTorch accumulates). Returns dx (B, T, I) and the gradient of the initial state, shaped
    like it. ``input_grad=False`` skips dx = dG W_ih of the first layer (None is returned),
    as torch does for an input that does not require a gradient (at I = H one of six
    equal products).
    """
    B, T, _ = dy.shape
    H, D, W = spec.hidden_size, spec.num_directions, spec.output_size
    G = CELLS[spec.kind].GATES
    dstate0 = _empty_like_state(dstate_n)
    dout = dy
    for layer in reversed(range(spec.num_layers)):
        din = None
        for d in range(D):
            s, k = param_suffix(layer, d), layer * D + d
            sc, xd = cache.scans[k], cache.inputs[k]
            dys = _direction_arrays(dout[:, :, d * W : (d + 1) * W], d)  # (B, T, W)
            dcarry_n = [a[k] for a in dstate_n]
            dx_wanted = layer > 0 or input_grad
            dxd = None  # dx = dG W_ih, from the scan where it computes it (not through LN)
            sums = None  # (2, G*H) the biases' gradients, from the scan where it adds them
            ih_done = False  # dW_ih added with dW_hh (joins_weight_grads)
            if spec.proj_size:
                dgx, dgh, dcarry0 = _projected_scan_backward(
                    params, s, sc, cache.projections[k], dys, dcarry_n, grads, backend)
            else:
                w_ih = params["weight_ih" + s] if dx_wanted and not spec.layer_norm else None
                if spec.bias and not spec.layer_norm:  # the scan adds up dgx and dgh
                    sums = np.empty((2, G * H), dy.dtype)  # (2, G*H)
                dgx, dgh, dcarry0, dxd = backend.scan_backward(
                    sc, np.ascontiguousarray(dys), dcarry_n, params["weight_hh" + s], w_ih,
                    sums=sums)
                dgh_raw = dgh  # the gradient of h_{t-1} W_hh^T
                if spec.layer_norm:
                    dgx, dgh, dgh_raw = _normed_scan_backward(spec, params, s, sc, dgx, dgh,
                                                              grads)
                y, h0 = sc.y, sc.states[0, 0]  # (B, T, H) h_1 .. h_T, (B, H)
                if sc.drop is not None:  # the projection saw h_{t-1} * drop
                    y, h0 = y * sc.drop[:, None], h0 * sc.drop
                if dgh_raw is dgx and joins_weight_grads(xd.shape[2], H):
                    _joined_weight_grads(dgx, xd, y, h0, grads["weight_ih" + s],
                                         grads["weight_hh" + s])
                    ih_done = True
                else:
                    grads["weight_hh" + s] += _recurrent_weight_grad(dgh_raw, y, h0)
            for c, a in enumerate(dcarry0):
                dstate0[c][k] = a
            if spec.peephole:  # i, f saw c_{t-1} and o saw c_t
                cs = sc.states[1].transpose(1, 0, 2)  # (B, T+1, H), batch-first as dgx
                grads["weight_peephole" + s] += CELLS["lstm"].peephole_grad(dgx, cs[:, :T],
                                                                            cs[:, 1:])
            dgx2 = dgx.reshape(B * T, G * H)  # (B*T, G*H)
            if spec.bias:
                sums = bias_sums(dgx, dgh) if sums is None else sums  # (2, G*H)
                grads["bias_ih" + s] += sums[0]
                grads["bias_hh" + s] += sums[1]
            if spec.layer_norm:  # backprop through LN(x W_ih^T)
                draw, dgain, dbias = layer_norm_grads(dgx, cache.raw_inputs[k],
                                                      params["ln_weight_ih" + s],
                                                      params["ln_bias_ih" + s])
                grads["ln_weight_ih" + s] += dgain
                grads["ln_bias_ih" + s] += dbias
                dgx2 = draw.reshape(B * T, G * H)
            if not ih_done:  # weight gradients: one GEMM each over all time steps
                grads["weight_ih" + s] += dot(dgx2, xd.reshape(B * T, -1), a_transposed=True)
            if not dx_wanted:
                continue  # nobody needs dx
            if dxd is None:
                dxd = dot(dgx2, params["weight_ih" + s]).reshape(B, T, -1)  # (B, T, F)
            if d:
                dxd = dxd[:, ::-1]
            din = dxd if din is None else din + dxd
        if layer > 0 and cache.dropout_masks[layer - 1] is not None:
            din = din * cache.dropout_masks[layer - 1]  # backprop through dropout
        dout = din
    return (None if dout is None else np.ascontiguousarray(dout)), dstate0
