"""Backpropagation through time as a worked example: a tiny network (2 inputs, 3 hidden units,
3 steps) whose forward and backward are written out step by step, every number beside its
equation, and checked against central finite differences on the spot.

The numbers start from seed 002's worked example (a Chinese RNN tutorial, section 4.3):
W_xh, W_hh, W_yh and the inputs x_1..x_3 below, no biases, h_0 = 0. The seed printed
W_xh x_1 = (0.07, 0.19, 0.31), h_1 = (0.07, 0.19, 0.30) and y_1 = (0.37, 0.11); the right
values are (0.05, 0.11, 0.17), (0.0500, 0.1096, 0.1684) and (0.2742, 0.0774), and the lines
say so where the seed went wrong. The seed gives no targets and stops at the forward pass;
here each step's target is its own input (d_t = x_t, two outputs for two inputs) and

    y_t = W_yh h_t,      L = 1/2 sum_t ||y_t - d_t||^2.

For the LSTM and GRU every gate's block of W_ih and W_hh is the seed's matrix with its rows
rotated k places for the gate's index k (i, f, g / r, z, n), and the LSTM's output gate takes
the negated first block, so every number still comes from the seed and no two gates agree.

Every value comes from rnnkit's own cell (``recur`` for the gates, ``step_backward`` and
``recur_backward`` for the gradients); the few intermediates the cell does not return (the
LSTM's dL/dc_t, the GRU's dL/dn_t) are computed by the equation printed beside them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnkit.core.activations import dtanh
from rnnkit.core.cells import CELLS

W_XH = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])  # (H, I) seed 002
W_HH = np.array([[0.7, 0.8, 0.9], [0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])  # (H, H)
W_YH = np.array([[0.7, 0.8, 0.9], [0.1, 0.2, 0.3]])  # (O, H)
XS = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])  # (T, I) x_1, x_2, x_3
SEED_002_PRINTED = {  # what the seed printed for step 1 (all wrong)
    "a_1": [0.07, 0.19, 0.31], "h_1": [0.07, 0.19, 0.30], "y_1": [0.37, 0.11]}
GATE_LABELS = {"rnn": ("a",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


@dataclass
class Line:
    """One number of the worked example: ``name = equation = value``."""
    phase: str  # "forward" or "backward"
    t: int  # the step, 1..T
    name: str
    equation: str
    value: np.ndarray
    seed_printed: list | None = None  # what seed 002 printed for it, where it differs


@dataclass
class WorkedExample:
    kind: str
    params: dict  # the cell's parameters, keyed like torch.nn.*Cell, and "W_yh"
    lines: list = field(default_factory=list)
    loss: float = 0.0
    grads: dict = field(default_factory=dict)  # dL/dW_ih, dL/dW_hh, dL/dW_yh, dL/dx, dL/dh
    checks: dict = field(default_factory=dict)  # name -> relative error vs finite differences


def seed_params(kind: str) -> dict:
    """The cell's weights built from seed 002's matrices (see the module docstring)."""
    blocks = []
    for k in range(CELLS[kind].GATES):
        sign = -1.0 if (kind, k) == ("lstm", 3) else 1.0
        r = 0 if sign < 0 else k
        blocks.append((sign * np.roll(W_XH, r, axis=0), sign * np.roll(W_HH, r, axis=0)))
    return {"weight_ih": np.concatenate([b[0] for b in blocks]),  # (G*H, I)
            "weight_hh": np.concatenate([b[1] for b in blocks])}  # (G*H, H)


def run_forward(kind, params, xs, bump=None, targets=XS):
    """(loss, hs (T, H), cs or None, caches, acts) for the example's network on xs (T, I)
    with targets (T, O); ``bump(t, carry) -> carry`` may change the carry after step t."""
    cell = CELLS[kind]
    H = params["weight_hh"].shape[1]
    carry = tuple(np.zeros((1, H)) for _ in cell.CARRY)
    loss, hs, cs, caches, acts = 0.0, [], [], [], []
    for t, x in enumerate(xs):
        carry, _, cache = cell.step(params, x[None], carry)
        if bump is not None:
            carry = bump(t, carry)
        a = np.empty((1, cell.ACTS * H))  # (1, ACTS*H) the gates, as the time loop keeps them
        cell.recur(x[None] @ params["weight_ih"].T, cache[1], params["weight_hh"], None, a)
        y = params["W_yh"] @ carry[0][0]  # (O,)
        loss += 0.5 * float(((y - targets[t]) ** 2).sum())
        hs.append(carry[0][0])
        cs.append(carry[1][0] if len(carry) > 1 else None)
        caches.append(cache)
        acts.append(a[0])
    return loss, np.array(hs), cs, caches, acts


def _forward_lines(ex: WorkedExample, hs, cs, acts):
    kind, p, H = ex.kind, ex.params, 3
    for t, x in enumerate(XS, start=1):
        h_prev = hs[t - 2] if t > 1 else np.zeros(H)
        add = ex.lines.append
        gx, gh = p["weight_ih"] @ x, p["weight_hh"] @ h_prev  # (G*H,) each
        a = acts[t - 1]
        if kind == "rnn":
            add(Line("forward", t, f"a_{t}", f"W_xh x_{t} + W_hh h_{t-1}", gx + gh,
                     SEED_002_PRINTED.get(f"a_{t}")))
            add(Line("forward", t, f"h_{t}", f"tanh(a_{t})", hs[t - 1],
                     SEED_002_PRINTED.get(f"h_{t}")))
        elif kind == "lstm":
            add(Line("forward", t, f"a_{t}", f"W_ih x_{t} + W_hh h_{t-1}  [i f g o]", gx + gh))
            for k, (g, f) in enumerate((("i", "s"), ("f", "s"), ("g", "tanh"), ("o", "s"))):
                add(Line("forward", t, f"{g}_{t}", f"{f}(a_{t}[{g}])", a[k * H : (k + 1) * H]))
            add(Line("forward", t, f"c_{t}", f"f_{t} * c_{t-1} + i_{t} * g_{t}", cs[t - 1]))
            add(Line("forward", t, f"h_{t}", f"o_{t} * tanh(c_{t})", hs[t - 1]))
        else:
            add(Line("forward", t, f"gx_{t}", f"W_ih x_{t}  [x_r x_z x_n]", gx))
            add(Line("forward", t, f"gh_{t}", f"W_hh h_{t-1}  [h_r h_z h_n]", gh))
            add(Line("forward", t, f"r_{t}", "s(x_r + h_r)", a[:H]))
            add(Line("forward", t, f"z_{t}", "s(x_z + h_z)", a[H : 2 * H]))
            add(Line("forward", t, f"n_{t}", f"tanh(x_n + r_{t} * h_n)", a[2 * H : 3 * H]))
            add(Line("forward", t, f"h_{t}", f"(1 - z_{t}) * n_{t} + z_{t} * h_{t-1}",
                     hs[t - 1]))
        y = p["W_yh"] @ hs[t - 1]
        seed = SEED_002_PRINTED.get(f"y_{t}") if kind == "rnn" else None
        add(Line("forward", t, f"y_{t}", f"W_yh h_{t}", y, seed))
        add(Line("forward", t, f"L_{t}", f"1/2 ||y_{t} - x_{t}||^2",
                 np.array([0.5 * ((y - x) ** 2).sum()])))


def _backward_lines(ex: WorkedExample, hs, cs, caches, acts):
    """BPTT from t = T down to 1, with rnnkit's step_backward and recur_backward."""
    kind, p, cell, H = ex.kind, ex.params, CELLS[ex.kind], 3
    add = ex.lines.append
    T = len(XS)
    dcarry = None  # gradient reaching the carry after step t from later steps
    dW_ih, dW_hh = np.zeros_like(p["weight_ih"]), np.zeros_like(p["weight_hh"])
    dW_yh = np.zeros_like(p["W_yh"])
    dxs, dhs = np.zeros_like(XS), np.zeros((T, H))
    for t in range(T, 0, -1):
        x, h = XS[t - 1], hs[t - 1]
        dy = p["W_yh"] @ h - x  # (O,) backprop through 1/2 ||y - d||^2
        add(Line("backward", t, f"dL/dy_{t}", f"y_{t} - x_{t}", dy))
        dW_yh += np.outer(dy, h)  # backprop through y = W_yh h
        dh_out = p["W_yh"].T @ dy  # (H,)
        dh = dh_out + (dcarry[0][0] if dcarry is not None else 0.0)
        nxt = f" + dL/dh_{t} from step {t + 1}" if t < T else ""
        add(Line("backward", t, f"dL/dh_{t}", f"W_yh^T dL/dy_{t}{nxt}", dh))
        dhs[t - 1] = dh
        carry_in = (dh[None], *(dcarry[1:] if dcarry is not None else
                                (np.zeros((1, H)) for _ in cell.CARRY[1:])))
        cache = caches[t - 1]
        da, dgh, _ = cell.recur_backward(carry_in, cache[1], cache[2], acts[t - 1][None],
                                         p["weight_hh"])
        _gate_lines(ex, t, dh, carry_in, acts[t - 1], da[0], dgh[0], cs)
        dx, dcarry, grads = cell.step_backward(p, dh_out[None], dcarry, cache)
        dW_ih += grads["weight_ih"]
        dW_hh += grads["weight_hh"]
        dxs[t - 1] = dx[0]
        back = (f"W_hh^T dL/dgh_{t} + dL/dh_{t} * z_{t}" if kind == "gru" else
                f"W_hh^T dL/da_{t}")
        add(Line("backward", t, f"dL/dh_{t - 1} (through h)", back, dcarry[0][0]))
        if kind == "lstm":
            add(Line("backward", t, f"dL/dc_{t - 1} (through c)", f"dL/dc_{t} * f_{t}",
                     dcarry[1][0]))
        later = f" + (steps {t + 1}..{T})" if t < T else ""
        gate = "dL/dgx" if kind == "gru" else "dL/da"
        add(Line("backward", t, f"dL/dW_ih (steps {t}..{T})", f"{gate}_{t} x_{t}^T{later}",
                 dW_ih.copy()))
        gate = "dL/dgh" if kind == "gru" else "dL/da"
        add(Line("backward", t, f"dL/dW_hh (steps {t}..{T})", f"{gate}_{t} h_{t-1}^T{later}",
                 dW_hh.copy()))
    add(Line("backward", 0, "dL/dW_yh", "sum_t dL/dy_t h_t^T", dW_yh))
    ex.grads = {"weight_ih": dW_ih, "weight_hh": dW_hh, "W_yh": dW_yh, "x": dxs, "h": dhs}


def _gate_lines(ex, t, dh, carry_in, a, da, dgh, cs):
    """The gradients of the gates' pre-activations (rnnkit's dgx and dgh) with equations."""
    kind, add, H = ex.kind, ex.lines.append, 3
    if kind == "rnn":
        add(Line("backward", t, f"dL/da_{t}", f"dL/dh_{t} * (1 - h_{t}^2)", da))
        return
    if kind == "lstm":
        o, tc = a[3 * H : 4 * H], a[4 * H :]
        dc = carry_in[1][0] + dh * o * dtanh(tc)  # backprop through h = o tanh(c)
        later = f"dL/dc_{t} from step {t + 1} + " if t < len(XS) else ""
        add(Line("backward", t, f"dL/dc_{t}", f"{later}dL/dh_{t} * o_{t} * (1 - tanh^2 c_{t})",
                 dc))
        eqs = {"i": f"dL/dc_{t} * g_{t} * i_{t}(1 - i_{t})",
               "f": f"dL/dc_{t} * c_{t-1} * f_{t}(1 - f_{t})",
               "g": f"dL/dc_{t} * i_{t} * (1 - g_{t}^2)",
               "o": f"dL/dh_{t} * tanh(c_{t}) * o_{t}(1 - o_{t})"}
    else:
        z = a[H : 2 * H]
        add(Line("backward", t, f"dL/dn_{t}", f"dL/dh_{t} * (1 - z_{t})",
                 dh * (1.0 - z)))  # backprop through h = (1 - z) n + z h_prev
        eqs = {"r": f"dL/dn_{t} * (1 - n_{t}^2) * h_n * r_{t}(1 - r_{t})",
               "z": f"dL/dh_{t} * (h_{t-1} - n_{t}) * z_{t}(1 - z_{t})",
               "n": f"dL/dn_{t} * (1 - n_{t}^2)"}
    for k, g in enumerate(GATE_LABELS[kind]):
        add(Line("backward", t, f"dL/da_{t}[{g}]", eqs[g], da[k * H : (k + 1) * H]))
    if kind == "gru":
        add(Line("backward", t, f"dL/dgh_{t}[n]", f"dL/da_{t}[n] * r_{t}", dgh[2 * H :]))


def finite_differences(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar f() as x (float64) is bumped in place, entry by entry."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def _rel(a, b) -> float:
    scale = max(np.abs(a).max(), np.abs(b).max(), 1e-12)
    return float(np.abs(a - b).max() / scale)


def _checks(ex: WorkedExample) -> dict:
    p, kind, xs = ex.params, ex.kind, XS.copy()

    def loss():
        return run_forward(kind, p, xs)[0]

    checks = {f"dL/d{name}": _rel(ex.grads[name], finite_differences(loss, p[name]))
              for name in ("weight_ih", "weight_hh", "W_yh")}
    checks["dL/dx_t"] = _rel(ex.grads["x"], finite_differences(  # targets held fixed
        lambda: run_forward(kind, p, xs, targets=XS)[0], xs))
    bump = np.zeros((len(XS), 3))  # added to h_t after step t (output and carry)

    def bumped():
        return run_forward(kind, p, XS, lambda t, c: (c[0] + bump[t], *c[1:]))[0]

    checks["dL/dh_t"] = _rel(ex.grads["h"], finite_differences(bumped, bump))
    return checks


def worked_example(kind: str = "rnn") -> WorkedExample:
    """The worked example for ``kind`` in rnn|lstm|gru: every line, the loss, the gradients
    and their relative errors against finite differences (float64)."""
    if kind not in CELLS:
        raise ValueError(f"Unknown cell {kind!r}; expected one of {sorted(CELLS)}")
    params = {**seed_params(kind), "W_yh": W_YH.copy()}
    loss, hs, cs, caches, acts = run_forward(kind, params, XS)
    ex = WorkedExample(kind, params, loss=loss)
    _forward_lines(ex, hs, cs, acts)
    ex.lines.append(Line("forward", 0, "L", "L_1 + L_2 + L_3", np.array([loss])))
    _backward_lines(ex, hs, cs, caches, acts)
    ex.checks = _checks(ex)
    return ex


def fmt(value, digits: int = 6) -> str:
    a = np.asarray(value)
    if a.ndim == 2:
        return "[" + "; ".join(fmt(row, digits) for row in a) + "]"
    return "[" + ", ".join(f"{v:.{digits}f}" for v in np.atleast_1d(a)) + "]"


def format_example(ex: WorkedExample) -> str:
    """The worked example as text: the weights, then every line, then the checks."""
    p = ex.params
    out = [(f"BPTT by hand: {ex.kind.upper()} cell, 2 inputs, 3 hidden units, 3 steps, no "
            "biases, h_0 = 0 (seed 002's numbers)"),
           f"W_ih = {fmt(p['weight_ih'], 2)}", f"W_hh = {fmt(p['weight_hh'], 2)}",
           f"W_yh = {fmt(p['W_yh'], 2)}", f"x_1..x_3 = {fmt(XS, 2)}; targets d_t = x_t",
           "loss L = 1/2 sum_t ||y_t - d_t||^2 (s = sigmoid, * elementwise)"]
    phase, t = None, None
    for line in ex.lines:
        if (line.phase, line.t) != (phase, t):
            phase, t = line.phase, line.t
            out.append(f"\n{phase}" + (f", t = {t}" if t else ""))
        text = f"  {line.name} = {line.equation} = {fmt(line.value)}"
        if line.seed_printed is not None:
            text += f"   (seed 002 printed {fmt(line.seed_printed, 2)}: wrong)"
        out.append(text)
    out.append("\nchecked against central finite differences (relative error):")
    out += [f"  {name}: {err:.1e}" for name, err in ex.checks.items()]
    return "\n".join(out)
