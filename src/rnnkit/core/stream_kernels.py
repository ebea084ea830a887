"""Fused numba kernels for streaming inference: one call runs one time step through every layer.

``stream_step`` takes the input x_t (B, I) or (I,), the stacked weights of all layers and
the state buffers, and updates the state in place, allocating nothing. Per layer l and batch row
the gates come from one product with the weights stacked as

    gates = [x_l, h_{l,t-1}] @ [W_ih^T; W_hh^T] + (b_ih + b_hh)        x_0 = x_t, x_l = h_{l-1,t}

after which the element-wise update (``_rnn_update``, ``_lstm_update``, ``_gru_update``) is
that of ``rnnkit.core.cells`` (gate orders i, f, g, o
and r, z, n). The GRU's n gate needs x W_in^T + b_in and h W_hn^T + b_hn apart, so its weights
have 4H columns [r, z, x_n, h_n], with zero blocks where x or h does not enter (its rows of
W_in in the h_n columns and W_hn in the x_n columns). Weights are transposed, (K, G), so that
the product is a sum of contiguous rows (axpy), which LLVM vectorises without reassociation.

One kernel serves every cell kind (a branch per layer on ``kind``; the updates are inlined):

    x     (B, I) or (I,)       the input, checked finite here before any state is touched
    w0    (I + W, G)           layer 0's [W_ih^T; W_hh^T]  (W = P with proj_size, else H)
    w     (L-1, 2W, G)         the other layers' (empty (0, 2W, G) for one layer)
    b     (L, G)               b_ih + b_hh (GRU: [b_ir + b_hr, b_iz + b_hz, b_in, b_hn])
    peep  (L, 3H) or (L, 0)    the LSTM's peepholes [p_i, p_f, p_o], or none
    w_hr  (L, H, P) or (L,0,0) the LSTM's projection W_hr^T, or none
    h     (L, B, W)            h_{t-1} in, h_t out
    c     (L, B, H)            the LSTM's c ((L, B, 0) for the others)
    work  (max(I, W) + W + G + H,)   scratch: [x_l, h] | gates | o * tanh(c) before W_hr
    kind  0 rnn, 1 lstm, 2 gru (``KINDS``)
    act   0 tanh, 1 relu, 2 sigmoid (the RNN's nonlinearity, ``NONLINEARITY``)

and returns False, touching nothing, if x holds a NaN or an inf. Activations are those of
``rnnkit.core.kernels`` (libm in float64; in float32 a rational tanh and a polynomial exp).
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable

from rnnkit.core.jit_math import _JIT, _NONLINEARITY, _sigmoid, _tanh, _wide_vectors

__all__ = ["KINDS", "NONLINEARITY", "stack_weights", "stream_step", "stream_work_size"]


@register_jitable(inline="always")
def _finite(x):
    """True if every entry of x (B, I) is finite: x * 0 is NaN for a NaN or an inf."""
    s = x.dtype.type(0)
    for b in range(x.shape[0]):
        for k in range(x.shape[1]):
            s += x[b, k] * x.dtype.type(0)
    return s == s


@register_jitable(inline="always")
def _layer_gates(x_l, h_prev, w, b, work):
    """gates = [x_l, h_prev] @ w + b in work, through its head xh = [x_l, h_prev] (K + W,);
    w (K + W, G), b (G,). Returns the gates (G,) and the rest of work, views."""
    K, G = x_l.shape[0], b.shape[0]
    xh, gates = work[: K + h_prev.shape[0]], work[K + h_prev.shape[0] :][:G]
    for k in range(K):
        xh[k] = x_l[k]
    for k in range(h_prev.shape[0]):
        xh[K + k] = h_prev[k]  # copied: h is overwritten by the update
    for n in range(G):
        gates[n] = b[n]
    for k in range(xh.shape[0]):
        v = xh[k]
        for n in range(G):
            gates[n] += v * w[k, n]
    return gates, work[xh.shape[0] + G :]


@register_jitable(inline="always")
def _rnn_update(a, h, act):
    """h_t = f(a) into h (H,); a (H,) the pre-activation."""
    if act == 0:
        for j in range(h.shape[0]):
            h[j] = _tanh(a[j])
    elif act == 1:
        zero = h.dtype.type(0)
        for j in range(h.shape[0]):
            h[j] = max(a[j], zero)
    else:
        for j in range(h.shape[0]):
            h[j] = _sigmoid(a[j])


@register_jitable(inline="always")
def _lstm_update(a, h, c, peep, w_hr, m):
    """c_t and h_t into c (H,) and h (W,) from the pre-activations a (4H,) = [i, f, g, o];
    peep (3H,) or (0,), w_hr (H, P) or (0, 0) for none; m (H,) scratch for o * tanh(c_t)."""
    H = c.shape[0]
    i, f, g, o = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]  # (H,) views
    if peep.shape[0]:  # i and f see c_{t-1}, o sees c_t
        for j in range(H):
            i[j] = _sigmoid(i[j] + peep[j] * c[j])
            f[j] = _sigmoid(f[j] + peep[H + j] * c[j])
            g[j] = _tanh(g[j])
        for j in range(H):
            c[j] = f[j] * c[j] + i[j] * g[j]
            m[j] = _sigmoid(o[j] + peep[2 * H + j] * c[j]) * _tanh(c[j])
    else:
        for j in range(2 * H):
            a[j] = _sigmoid(a[j])  # i, f
        for j in range(H):
            g[j] = _tanh(g[j])
            o[j] = _sigmoid(o[j])
        for j in range(H):
            c[j] = f[j] * c[j] + i[j] * g[j]
            m[j] = o[j] * _tanh(c[j])
    if w_hr.shape[0]:  # h_t = m W_hr^T
        for n in range(h.shape[0]):
            h[n] = 0
        for k in range(H):
            for n in range(h.shape[0]):
                h[n] += m[k] * w_hr[k, n]
    else:
        for j in range(H):
            h[j] = m[j]


@register_jitable(inline="always")
def _gru_update(a, h):
    """h_t into h (H,) (h_{t-1} on entry) from a (4H,) = [r, z, x_n, h_n] before activation."""
    H = h.shape[0]
    one = h.dtype.type(1)
    rz, xn, hn = a[: 2 * H], a[2 * H : 3 * H], a[3 * H :]  # (2H,), (H,), (H,)
    for j in range(2 * H):
        rz[j] = _sigmoid(rz[j])  # r, z
    for j in range(H):
        n = _tanh(xn[j] + rz[j] * hn[j])  # b_hn inside the reset gate
        h[j] = (one - rz[H + j]) * n + rz[H + j] * h[j]


@njit(**_JIT)
def stream_step(x, w0, w, b, peep, w_hr, h, c, work, kind, act):
    """One step through every layer, updating h and c in place; arguments in the module doc,
    ``kind`` the cell's code in ``KINDS``. False, with nothing touched, if x is not finite."""
    _wide_vectors()  # 512-bit vectors for the loops over gates and units
    x2 = np.atleast_2d(x)  # (B, I)
    if not _finite(x2):
        return False
    for r in range(h.shape[1]):
        x_l = x2[r]
        for layer in range(h.shape[0]):
            h_l = h[layer, r]  # (W,) h_{t-1} in, h_t out
            a, rest = _layer_gates(x_l, h_l, w0 if layer == 0 else w[layer - 1], b[layer],
                                   work)
            if kind == 0:
                _rnn_update(a, h_l, act)
            elif kind == 1:
                _lstm_update(a, h_l, c[layer, r], peep[layer], w_hr[layer], rest)
            else:
                _gru_update(a, h_l)
            x_l = h_l
    return True


KINDS = {"rnn": 0, "lstm": 1, "gru": 2}  # cell kind -> stream_step's ``kind`` code
NONLINEARITY = _NONLINEARITY  # the RNN's nonlinearity -> the kernels' ``act`` code


def stack_weights(kind: str, cell_params: dict, out_width: int, dtype) -> tuple:
    """One layer's (w (K + W, G), b (G,)) for the kernels from its ``torch.nn.*Cell``
    parameters: w = [W_ih^T; W_hh^T] and b = b_ih + b_hh, or for the GRU the 4H columns
    [r, z, x_n, h_n] of the module doc. Missing biases (bias=False) are zeros."""
    w_ih, w_hh = cell_params["weight_ih"], cell_params["weight_hh"]  # (G*H, K), (G*H, W)
    K, GH = w_ih.shape[1], w_ih.shape[0]
    zeros = np.zeros(GH, dtype)
    b_ih = zeros if cell_params.get("bias_ih") is None else cell_params["bias_ih"]  # (G*H,)
    b_hh = zeros if cell_params.get("bias_hh") is None else cell_params["bias_hh"]
    if kind != "gru":
        w = np.concatenate([w_ih.T, w_hh.T])  # (K + W, G*H)
        return np.ascontiguousarray(w, dtype), (b_ih + b_hh).astype(dtype)
    H = GH // 3
    w = np.zeros((K + out_width, 4 * H), dtype)  # (K + H, 4H) [r, z, x_n, h_n]
    w[:K, : 3 * H] = w_ih.T  # x feeds r, z and x_n
    w[K:, : 2 * H] = w_hh[: 2 * H].T  # h feeds r, z
    w[K:, 3 * H :] = w_hh[2 * H :].T  # and h_n
    b = np.concatenate([b_ih[: 2 * H] + b_hh[: 2 * H], b_ih[2 * H :], b_hh[2 * H :]])
    return w, b.astype(dtype)


def stream_work_size(kind: str, input_size: int, hidden_size: int, out_width: int) -> int:
    """Entries of the kernels' scratch vector: [x_l, h] | gates | o * tanh(c)."""
    gates = {"rnn": 1, "lstm": 4, "gru": 4}[kind] * hidden_size
    return max(input_size, out_width) + out_width + gates + hidden_size
