"""A recurrent layer unrolled for inspection: every state and gate at every step, and the
gradient of a loss with respect to each step's state, from rnnkit's own backward.

    u = unroll(layer, x)                  states and gates, each (L*D, B, T, H)
    g = backprop_steps(layer, u, dy)      dL/dh_t (and dL/dc_t) for every t, (L*D, B, T, H)

The forward is the layer's own stack (``rnnkit.core.stack.recurrent_forward`` on the NumPy
time loop, whose buffers keep every carry and activation); the backward runs each cell's
``recur_backward`` one step at a time, as ``rnnkit.core.scan.scan_backward`` does, but keeps
the gradient that reaches every step's carry instead of only the first:

    dL/dh_t = dy_t + (dh_{t-1} of step t+1's backward)
    dL/dc_t = (dc_{t-1} of step t+1's backward) + dL/dh_t * o_t * (1 - tanh^2 c_t)

both total derivatives (h_t = o_t tanh(c_t) depends on c_t), as ``h_t.grad`` and ``c_t.grad``
of states built by stepping ``torch.nn.LSTMCell``.
Positions are natural time order for both directions (a reverse direction's step for
position t is its (T-t)-th). No dropout and no padding: the layer is read as in evaluation,
on sequences of one length. Reference: Werbos, "Backpropagation through time" (1990).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.core import scan
from rnnkit.core.activations import dtanh
from rnnkit.core.cells import CELLS
from rnnkit.core.init import param_suffix
from rnnkit.core.stack import StackCache, recurrent_forward
from rnnkit.nn.module import no_grad
from rnnkit.validation import check_input

# names of the H-wide columns of a step's activation buffer (``ACTS`` in rnnkit.core.cells)
ACT_NAMES = {"rnn": (), "lstm": ("i", "f", "g", "o", "tanh_c"), "gru": ("r", "z", "n", "h_n")}
GATE_NAMES = {"rnn": (), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


@dataclass
class Unrolled:
    """What :func:`unroll` keeps. Arrays are (L*D, B, T, H) with L*D indexed like h_n
    (layer k, direction d at k*D + d) and t in natural time order."""
    kind: str
    y: np.ndarray  # (B, T, D*H) the layer's output
    states: dict  # carry name ("h", "c") -> (L*D, B, T, H), the carry after position t
    acts: dict  # activation name (ACT_NAMES) -> (L*D, B, T, H)
    stack: StackCache  # the stack's buffers, which backprop_steps reads


@dataclass
class StepGradients:
    """What :func:`backprop_steps` returns."""
    dstates: dict  # carry name -> (L*D, B, T, H): dL/dh_t, dL/dc_t
    dgates: np.ndarray  # (L*D, B, T, G*H) dL/d(h_{t-1} W_hh^T + b_hh) at each step
    dstate0: np.ndarray  # (C, L*D, B, H) gradient of the initial carry
    dx: np.ndarray  # (B, T, I) gradient of the input


def _natural(a: np.ndarray, direction: int) -> np.ndarray:
    """A (T, B, ...) array in processing order -> (B, T, ...) in natural time order."""
    a = a[::-1] if direction else a
    return np.swapaxes(a, 0, 1)


def unroll(layer, x, state=None) -> Unrolled:
    """Run ``layer`` (an ``RNN``, ``LSTM`` or ``GRU``) over x (B, T, I), keeping every state
    and activation. ``state``: as for ``layer.forward``. The output y equals
    ``layer.forward(x, state)[0]`` (evaluation: no dropout)."""
    if layer.spec.proj_size or layer.spec.peephole or layer.spec.layer_norm:
        raise ValueError("unroll reads plain cells: proj_size, peephole and layer_norm are not "
                         "supported")
    x = check_input(x, layer.input_size, layer.dtype)
    if x.ndim == 2:
        x = x[None]  # (1, T, I)
    B, T, _ = x.shape
    spec, cell = layer.spec, CELLS[layer.kind]
    state0 = layer.initial_state(state, B)  # (C, L*D, B, H); learned h0 (c0) if not given
    y, _, stack = recurrent_forward(spec, layer.params, np.ascontiguousarray(x), state0, None,
                                    backend=scan)  # y (B, T, D*H)
    H, LD = spec.hidden_size, spec.num_layers * spec.num_directions
    states = {name: np.empty((LD, B, T, H), x.dtype) for name in cell.CARRY}
    acts = {name: np.empty((LD, B, T, H), x.dtype) for name in ACT_NAMES[layer.kind]}
    for k, sc in enumerate(stack.scans):
        d = k % spec.num_directions
        for c, name in enumerate(cell.CARRY):
            states[name][k] = _natural(sc.states[c, 1:], d)  # (B, T, H)
        for j, name in enumerate(ACT_NAMES[layer.kind]):
            acts[name][k] = _natural(sc.acts[:, :, j * H : (j + 1) * H], d)
    return Unrolled(layer.kind, y, states, acts, stack)


def backprop_steps(layer, unrolled: Unrolled, dy, dstate=None) -> StepGradients:
    """BPTT through the unrolled layer, step by step, for a loss with gradient dy (B, T, D*H)
    of the output and ``dstate`` (as for ``layer.backward``; None for zero) of the final state.

    dx and dstate0 equal ``layer.backward``'s; parameter gradients are not accumulated.
    """
    spec, cell = layer.spec, CELLS[layer.kind]
    stack = unrolled.stack
    B, T, _ = unrolled.y.shape
    H, D, G = spec.hidden_size, spec.num_directions, cell.GATES
    LD = spec.num_layers * D
    dy = np.asarray(dy, dtype=layer.dtype)
    if dy.shape != unrolled.y.shape:
        raise ValueError(f"Expected dy of shape {unrolled.y.shape}, got {dy.shape}")
    dstate_n = layer._split_state(dstate, B)  # (C, L*D, B, H)
    dstates = {name: np.empty((LD, B, T, H), layer.dtype) for name in cell.CARRY}
    dgates = np.empty((LD, B, T, G * H), layer.dtype)  # (L*D, B, T, G*H)
    dstate0 = np.empty_like(dstate_n)  # (C, L*D, B, H)
    dout = np.ascontiguousarray(dy.transpose(1, 0, 2))  # (T, B, D*H)
    for layer_idx in reversed(range(spec.num_layers)):
        din = None
        for d in range(D):
            k = layer_idx * D + d
            sc, s = stack.scans[k], param_suffix(layer_idx, d)
            dys = dout[:, :, d * H : (d + 1) * H]  # (T, B, H)
            dys = dys[::-1] if d else dys  # processing order
            dcarry = list(dstate_n[:, k])  # gradient reaching the carry after step t
            dcarries = np.empty((len(cell.CARRY), T, B, H), layer.dtype)  # (C, T, B, H)
            dgh = np.empty((T, B, G * H), layer.dtype)  # (T, B, G*H)
            dgx = np.empty_like(dgh)
            for t in reversed(range(T)):
                dnew = [dcarry[0] + dys[t], *dcarry[1:]]  # h_t is the output and carry[0]
                dcarries[:, t] = dnew
                dgx[t], dgh[t], dcarry = cell.recur_backward(
                    dnew, tuple(sc.states[:, t]), tuple(sc.states[:, t + 1]), sc.acts[t],
                    layer.params["weight_hh" + s], **sc.options)
            dstate0[:, k] = dcarry
            if layer.kind == "lstm":  # c_t also reaches L through h_t = o_t tanh(c_t)
                o, tc = sc.acts[:, :, 3 * H : 4 * H], sc.acts[:, :, 4 * H :]  # (T, B, H)
                dcarries[1] += dcarries[0] * o * dtanh(tc)
            for c, name in enumerate(cell.CARRY):
                dstates[name][k] = _natural(dcarries[c], d)
            dgates[k] = _natural(dgh, d)
            dxd = dgx.reshape(T * B, G * H) @ layer.params["weight_ih" + s]  # backprop x W_ih^T
            dxd = dxd.reshape(T, B, -1)  # (T, B, F)
            dxd = dxd[::-1] if d else dxd
            din = dxd if din is None else din + dxd
        dout = din  # (T, B, D*H) gradient of the layer below's output
    dx = np.ascontiguousarray(dout.transpose(1, 0, 2))  # (B, T, I)
    return StepGradients(dstates, dgates, dstate0, dx)


def recurrent_input(model, x) -> np.ndarray:
    """What a ``SequenceModel``'s recurrent layer reads for x: x after the model's embedding
    and patches, if it has them, (B, T', F); computed without keeping a cache."""
    m = model.modules
    with no_grad():
        h = m["embedding"].forward(x) if "embedding" in m else x
        return m["patch"].forward(h) if "patch" in m else h
