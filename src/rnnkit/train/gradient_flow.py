"""Gradient flow through time: how the gradient of a loss at the last step reaches each
earlier step, for freshly initialised layers and for trained sequence models.

    flow = last_step_flow(layer, x, w)      ||dL/dh_t|| (and ||dL/dc_t||) for t = 0..T-1,
                                            L = mean_b w . h_T^b, from rnnkit's own BPTT
    decay_per_step(norms)                   the factor by which the norm changes per step
                                            back in time (< 1 vanishing, > 1 exploding)

A norm at step t is that of the whole (B, H) array dL/dh_t (``h_t.grad.norm()`` in torch),
for a loss that is a mean over the batch. The decay is ``exp(-slope)`` of the least-squares line
through ``log norm_t`` against t (steps where the norm is zero are left out).

Bengio, Simard & Frasconi (1994) showed that ``dh_t/dh_{t-1} = diag(f'(a_t)) W_hh`` makes a
vanilla RNN's gradient shrink (or grow) geometrically, with the spectral radius of W_hh
bounding the rate; Pascanu, Mikolov & Bengio (2013) added norm clipping against explosion;
Hochreiter & Schmidhuber (1997) the LSTM's cell state, through which the gradient is carried
by the forget gates, ``dL/dc_{t-1} = f_t * dL/dc_t + ...``; Jozefowicz, Zaremba & Sutskever
(2015) the forget-gate bias of 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.nn.recurrent import LAYERS
from rnnkit.nn.unroll import StepGradients, backprop_steps, recurrent_input, unroll
from rnnkit.train.optim import clip_grad_norm, grad_norm


def step_norms(g: np.ndarray) -> np.ndarray:
    """(B, T, H) per-step gradients -> (T,) the norm of each step's (B, H) array."""
    return np.sqrt((np.asarray(g, np.float64) ** 2).sum(axis=(0, 2)))


def decay_per_step(norms) -> float:
    """exp(-slope) of the least-squares line through log norms[t] against t: the factor
    by which the gradient's norm changes per step back in time. NaN with < 2 usable steps."""
    norms = np.asarray(norms, np.float64)
    t = np.arange(len(norms))
    ok = np.isfinite(norms) & (norms > 0)
    if ok.sum() < 2:
        return float("nan")
    slope = np.polyfit(t[ok], np.log(norms[ok]), 1)[0]
    return float(np.exp(-slope))


@dataclass
class Flow:
    """Per-step gradient norms of one layer (top layer, forward direction)."""
    kind: str
    h: np.ndarray  # (T,) ||dL/dh_t||
    c: np.ndarray | None  # (T,) ||dL/dc_t|| for the LSTM, else None
    steps: StepGradients  # everything backprop_steps returned

    def curves(self) -> dict:
        """name -> (T,) norms: the cell kind for h, kind + "_c" for the LSTM's cell state."""
        out = {self.kind: self.h}
        if self.c is not None:
            out[self.kind + "_c"] = self.c
        return out


def _flow(layer, steps: StepGradients) -> Flow:
    k = (layer.num_layers - 1) * layer.num_directions  # top layer, forward direction
    c = steps.dstates.get("c")
    return Flow(layer.kind, step_norms(steps.dstates["h"][k]),
                None if c is None else step_norms(c[k]), steps)


def last_step_flow(layer, x, w) -> Flow:
    """The flow of L = mean_b w . y_T^b, a linear read-out w (D*H,) of the last step's
    output, through ``layer`` on x (B, T, I)."""
    u = unroll(layer, x)
    dy = np.zeros_like(u.y)  # (B, T, D*H): the loss reads the last step only
    dy[:, -1] = np.asarray(w) / len(u.y)
    return _flow(layer, backprop_steps(layer, u, dy))


def fresh_layer(kind, input_size, hidden_size, seed, *, radius=None, forget_bias=0.0):
    """A one-layer float64 layer at PyTorch's default initialisation; ``radius`` rescales
    W_hh to that spectral radius (RNN), ``forget_bias`` adds to the LSTM's b_f."""
    layer = LAYERS[kind](input_size, hidden_size, dtype=np.float64, seed=seed,
                         backend="numpy")  # small: no kernels to compile
    if radius is not None:
        set_spectral_radius(layer, radius)
    if forget_bias:
        if kind != "lstm":
            raise ValueError("forget_bias applies to the LSTM")
        layer.params["bias_ih_l0"][hidden_size : 2 * hidden_size] += forget_bias  # gate f
    return layer


def spectral_radius(w: np.ndarray) -> float:
    """max |eigenvalue| of a square matrix."""
    return float(np.abs(np.linalg.eigvals(w)).max())


def set_spectral_radius(layer, radius: float) -> None:
    """Scale the vanilla RNN's W_hh (layer 0) IN PLACE to the given spectral radius."""
    if layer.kind != "rnn":
        raise ValueError("set_spectral_radius applies to a vanilla RNN (square W_hh)")
    w = layer.params["weight_hh_l0"]
    w *= radius / spectral_radius(w)


def probe(input_size, hidden_size, steps, batch, seed):
    """The input and read-out every fresh network is measured on: x ~ N(0, 1) (B, T, I)
    and w ~ N(0, 1/H) (H,), from ``seed``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, input_size))  # (B, T, I)
    w = rng.standard_normal(hidden_size) / np.sqrt(hidden_size)  # (H,)
    return x, w


def fresh_flows(cells=("rnn", "lstm", "gru"), *, steps=50, hidden_size=128, input_size=8,
                batch=16, seed=0, forget_bias=0.0) -> dict:
    """{kind: Flow} for freshly initialised one-layer networks of each kind, on the same
    random input and read-out (``probe``); each layer's weights from ``seed``."""
    x, w = probe(input_size, hidden_size, steps, batch, seed)
    return {kind: last_step_flow(fresh_layer(kind, input_size, hidden_size, seed,
                                             forget_bias=forget_bias if kind == "lstm" else 0),
                                 x, w)
            for kind in cells}


def clipping_effect(layer, x, w, max_norm=1.0) -> dict:
    """What norm clipping (``clip_grad_norm``, as the Trainer's ``clip_norm``) does to the
    gradient of L = mean_b w . y_T^b: the parameter gradient's norm before and after, and the
    norm of each step's share of dL/dW_hh (``dgh_t^T h_{t-1}``) before and after. Clipping
    scales every step's share by one factor: it bounds an exploding update, and leaves the
    shares of far-back steps as small, relative to the last, as they were. The layer's own
    gradients are left as they were."""
    u = unroll(layer, x)
    dy = np.zeros_like(u.y)  # (B, T, H)
    dy[:, -1] = np.asarray(w) / len(u.y)
    kept = {k: g.copy() for k, g in layer.grads.items()}
    layer.zero_grad()
    layer.forward(x)  # the full parameter gradient from the layer's own backward
    layer.backward(dy)
    steps = backprop_steps(layer, u, dy)
    h = u.states["h"][0]  # (B, T, H)
    h_prev = np.concatenate([np.zeros_like(h[:, :1]), h[:, :-1]], axis=1)  # (B, T, H)
    shares = np.einsum("btg,bth->tgh", steps.dgates[0], h_prev)  # (T, G*H, H)
    share_norms = np.sqrt((shares ** 2).sum(axis=(1, 2)))  # (T,)
    grads = {k: g.copy() for k, g in layer.grads.items()}
    before = clip_grad_norm(grads, max_norm)  # clips the copies
    after = grad_norm(grads)
    scale = after / before if before > 0 else 1.0
    for k, g in kept.items():
        layer.grads[k][...] = g
    return {"max_norm": max_norm, "grad_norm": before, "clipped_grad_norm": after,
            "scale": scale, "step_share_norms": share_norms,
            "clipped_step_share_norms": share_norms * scale}


def model_flow(model, x, target, loss) -> Flow:
    """The flow through the recurrent layer of a ``SequenceModel`` of
    L = loss(model(x) at the last step, target): a head "last" or "pool" model's output, or
    a head "all" model's output at the last step only. x: the model's input (B, T, F) or token
    ids (B, T); target: what ``loss`` compares the output with, (B, O) or (B,)."""
    m = model.modules
    u = unroll(model.rnn, recurrent_input(model, x))  # the layers before it: no gradient
    y = u.y  # (B, T, D*H)
    reads = [name for name in ("last", "pool") if name in m]
    for name in reads:
        y = m[name].forward(y)  # (B, D*H) or (B, 2*D*H)
    out = m["fc"].forward(y)  # (B, O) or (B, T, O)
    last = out[:, -1] if out.ndim == 3 else out  # (B, O)
    loss.forward(last, target)
    dlast = loss.backward()
    if out.ndim == 3:
        dout = np.zeros_like(out)  # (B, T, O): only the last step's loss
        dout[:, -1] = dlast
    else:
        dout = dlast
    d = m["fc"].backward(dout)
    for name in reversed(reads):
        d = m[name].backward(d)  # (B, T, D*H)
    return _flow(model.rnn, backprop_steps(model.rnn, u, d))
