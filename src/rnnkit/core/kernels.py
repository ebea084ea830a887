"""Fused numba kernels for the time loop: ``scan_forward`` and ``scan_backward`` as in ``scan``.

Same signatures, return values and buffer layouts as the NumPy reference ``rnnkit.core.scan``
(read that first: it defines ``ScanCache``, the buffers and the mask semantics). What differs
is how a step runs:

* one numba kernel per cell does all the element-wise work of a step (gates, state update,
  masking, and in the backward every gate gradient) in a single pass, writing straight into
  the preallocated buffers: nothing is allocated per time step. Every kind's kernels take the
  same arguments, and ``scan_forward``/``scan_backward`` pick them from one table, ``KERNELS``;
* the recurrent product ``h_{t-1} W_hh^T`` (and ``da W_hh`` backwards) runs either inside one
  numba function that holds the whole time loop, with a product of our own
  (``rnnkit.core.gemm``), or as a NumPy BLAS call into a preallocated buffer from a Python
  loop over time. The numba loop runs on one thread for small shapes, where Python and BLAS
  call overheads would dominate; above that, up to limits measured per batch and product
  size, it splits the batch into one shard per core and each thread runs the whole time loop
  on its rows (sequences do not interact), so that no step hands work between threads, as
  each of OpenBLAS's 2T small products does (issue 12, DeepCPU's batch-level parallelism).
  Larger shapes take the BLAS path, where OpenBLAS's products are as fast as the loop or
  faster; ``rnnkit.core.paths`` chooses from the shape. The loop needs OpenBLAS's workers
  asleep while it runs:
  ``rnnkit.core.blas`` shortens how long they spin after a call.

Masks are 0/1 as documented in ``scan``: forward blends exactly as the reference does, and
backward sets a padded row's gate gradients to zero and passes its dh and dc through.
A recurrent dropout mask (``drop``, B x H) multiplies h_{t-1} before the recurrent product
and the product's gradient after it, in every path.

Transcendentals: ``rnnkit.core.jit_math`` (fast float32 tanh and exp, libm in float64).
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable

from rnnkit.core.cells import CELLS
from rnnkit.core.paths import shards as _shards
from rnnkit.core.gemm import matmul_packed, pack
from rnnkit.core.jit_math import _JIT, _sigmoid, _tanh
from rnnkit.core.kernel_args import act_code, drop2d, mask2d, peepholes, step_bias
from rnnkit.core.scan import ScanCache
from rnnkit.core.threads import run_sharded as _run_shards
from rnnkit.core.vanishing import flush, flushed, threshold

# --- the recurrent product inside the numba time loops -------------------------------------
@register_jitable(inline="always")
def _hidden_product(h, lo, drop, hd, w_t, out):
    """out = (h[lo:lo+M] * drop[lo:lo+M]) @ W_hh^T through the buffer hd (M, H), or
    h[lo:lo+M] @ W_hh^T when drop is (0, 0), with w_t = pack(W_hh^T) (P, H, NR); out is
    (M, G*H), the rows of one shard."""
    if drop.shape[0]:
        for b in range(out.shape[0]):
            for j in range(h.shape[1]):
                hd[b, j] = h[lo + b, j] * drop[lo + b, j]
        matmul_packed(hd, 0, w_t, out)
    else:
        matmul_packed(h, lo, w_t, out)


@register_jitable(inline="always")
def _times_drop(dh, drop, lo):
    """dh *= drop[lo:lo+M] in place (backprop through the recurrent dropout mask), dh (M, H);
    nothing for drop (0, 0)."""
    if drop.shape[0]:
        for b in range(dh.shape[0]):
            for j in range(dh.shape[1]):
                dh[b, j] = dh[b, j] * drop[lo + b, j]


@register_jitable(inline="always")
def _output_rows(h, y, t, lo, hi):
    """y[b, t] = h[b] for the rows lo .. hi-1: the step's output, batch-first, written while
    h (B, H) is in cache (a copy of the whole (T, B, H) states afterwards costs a pass)."""
    for b in range(lo, hi):
        out, row = y[b, t], h[b]
        for j in range(row.size):
            out[j] = row[j]


@register_jitable(inline="always")
def _put_rows(block, a, t, lo):
    """a[lo : lo + M, t] = block (M, W): one step's gate gradients into the batch-first
    (B, T, W) dgx or dgh. The step kernels write the block and the product reads it while it
    is contiguous and in L1; in a, the rows are T*W apart (a multiple of 4 KB at T*W*4 =
    100*512*4, where they all fall in the same L1 sets)."""
    for r in range(block.shape[0]):
        src, dst = block[r], a[lo + r, t]
        for j in range(src.size):
            dst[j] = src[j]


# --- element-wise parts of one step, forward ---------------------------------------------
# Every kind's step kernel takes the same arguments (t, lo, gx, gh, b_hh, mask, act, peep,
# states, acts) and ignores those it does not use: it updates the batch's rows lo .. lo+M-1,
# where gh (M, G*H) holds their h_{t-1} W_hh^T (lo = 0, M = B but in the batch-sharded
# loops, where each shard of rows runs on its own thread); b_hh, both biases, is added here
# rather than in a pass over all of gx: the LSTM's and RNN's b_ih + b_hh (G*H,) to the
# pre-activations, the GRU's (4H,) [b_ir + b_hr, b_iz + b_hz, b_hn, b_in] with b_hn inside its
# reset gate (GH_APART) and b_in beside it; mask (T, B), or (0, 0) when absent;
# act the RNN's nonlinearity code; peep the LSTM's peepholes (3H,) = [p_i, p_f, p_o], or
# (0,) when absent; states (C, T+1, B, H) and
# acts (T, B, ACTS*H) as in ``scan``, or (1, B, ACTS*H) rewritten at every step in inference
# (``keep=False``). Each row runs as a few short loops over contiguous vectors, the shape LLVM
# vectorises.
@register_jitable(inline="always")
def _carry_over_padding(m, new, old):
    """new = m * new + (1 - m) * old: the state is carried unchanged where m == 0."""
    one = new.dtype.type(1)
    for j in range(new.size):
        new[j] = m * new[j] + (one - m) * old[j]


@njit(inline="always", **_JIT)
def _rnn_step(t, lo, gx, gh, b_hh, mask, act, peep, states, acts):
    hs = states[0]  # (T+1, B, H)
    B, H = gh.shape
    for row in range(B):  # gh's (dgemm's) row is the batch's row b
        b = lo + row
        x, y, h = gx[b, t], gh[row], hs[t + 1, b]  # (H,)
        if act == 0:
            for j in range(H):
                h[j] = _tanh(x[j] + y[j] + b_hh[j])
        elif act == 1:
            zero = h.dtype.type(0)
            for j in range(H):
                h[j] = max(x[j] + y[j] + b_hh[j], zero)
        else:
            for j in range(H):
                h[j] = _sigmoid(x[j] + y[j] + b_hh[j])
        if mask.shape[0]:
            _carry_over_padding(mask[t, b], h, hs[t, b])


@njit(inline="always", **_JIT)
def _lstm_step(t, lo, gx, gh, b_hh, mask, act, peep, states, acts):
    hs, cs = states[0], states[1]  # (T+1, B, H)
    B, G = gh.shape
    H = G // 4
    p_i, p_f, p_o = peep[:H], peep[H : 2 * H], peep[2 * H :]  # (H,) each, or empty
    ta = min(t, acts.shape[0] - 1)  # t, or 0 for the one-step buffer of inference
    for row in range(B):  # gh's (dgemm's) row is the batch's row b
        b = lo + row
        x, y, a = gx[b, t], gh[row], acts[ta, b]  # (4H,), (4H,), (5H,)
        # one view per gate: LLVM cannot vectorise a[j] against a[H + j] of the same view
        i, f, g, o, tc = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H : G], a[G:]  # (H,)
        for j in range(G):
            a[j] = x[j] + y[j] + b_hh[j]  # pre-activations
        c_prev, c, h = cs[t, b], cs[t + 1, b], hs[t + 1, b]  # (H,)
        if peep.shape[0]:  # i and f see c_{t-1}
            for j in range(H):
                i[j] = i[j] + p_i[j] * c_prev[j]
                f[j] = f[j] + p_f[j] * c_prev[j]
        for j in range(2 * H):
            a[j] = _sigmoid(a[j])  # i, f
        if peep.shape[0]:  # o sees c_t
            for j in range(H):
                g[j] = _tanh(g[j])
            for j in range(H):
                c[j] = f[j] * c_prev[j] + i[j] * g[j]
                o[j] = _sigmoid(o[j] + p_o[j] * c[j])
                tc[j] = _tanh(c[j])
                h[j] = o[j] * tc[j]
        else:
            for j in range(H):
                g[j] = _tanh(g[j])
                o[j] = _sigmoid(o[j])
            for j in range(H):
                c[j] = f[j] * c_prev[j] + i[j] * g[j]
                tc[j] = _tanh(c[j])
                h[j] = o[j] * tc[j]
        if mask.shape[0]:
            _carry_over_padding(mask[t, b], h, hs[t, b])
            _carry_over_padding(mask[t, b], c, c_prev)


@njit(inline="always", **_JIT)
def _gru_step(t, lo, gx, gh, b_hh, mask, act, peep, states, acts):
    hs = states[0]  # (T+1, B, H)
    B, G = gh.shape
    H = G // 3
    one = gh.dtype.type(1)  # a bare 1 would promote float32 to float64
    b_hrz, b_hn, b_in = b_hh[: 2 * H], b_hh[2 * H : G], b_hh[G:]  # (2H,), (H,), (H,)
    ta = min(t, acts.shape[0] - 1)  # t, or 0 for the one-step buffer of inference
    for row in range(B):  # gh's (dgemm's) row is the batch's row b
        b = lo + row
        x, y, a = gx[b, t], gh[row], acts[ta, b]  # (3H,), (3H,), (4H,)
        x_n, y_rz, y_n = x[2 * H :], y[: 2 * H], y[2 * H :]
        r, z, n, hn = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]  # (H,)
        h_prev, h = hs[t, b], hs[t + 1, b]  # (H,)
        for j in range(2 * H):
            a[j] = _sigmoid(x[j] + (y_rz[j] + b_hrz[j]))  # r, z
        for j in range(H):
            hn[j] = y_n[j] + b_hn[j]  # W_hn h + b_hn, inside the reset gate
            n[j] = _tanh((x_n[j] + b_in[j]) + r[j] * hn[j])
            h[j] = (one - z[j]) * n[j] + z[j] * h_prev[j]
        if mask.shape[0]:
            _carry_over_padding(mask[t, b], h, h_prev)


# --- element-wise parts of one step, backward --------------------------------------------
# The same arguments for every kind:
# (t, lo, dys, dgemm, dcarry, mask, act, peep, states, acts, dgx, dgh), for the batch's rows
# lo .. lo+M-1 as forward. The gradient reaching h_t is dgemm + dcarry[0]: dgemm (M, H) is
# d(gates of step t+1) @ W_hh for those rows
# and dcarry[0] (B, H) the rest (padding, GRU's z * h_{t-1}); dcarry[1] (B, H) is the LSTM's
# dc. Each kernel overwrites dcarry for step t-1. dys is (B, T, H), batch-first; dgx and dgh
# (M, G*H) receive the step's gate gradients of those rows (the loops copy them into the
# batch-first (B, T, G*H) arrays, ``_put_rows``); dgh is dgx itself unless GH_APART.
@register_jitable(inline="always")
def _dh_at_step(dgemm, rest, dy, mask, t, b):
    """dh_t for row b, in dgemm (values below threshold set to zero: rnnkit.core.vanishing);
    rest keeps what a padded step passes through unchanged."""
    tiny = threshold(dgemm)
    if mask.shape[0]:
        m = mask[t, b]
        one = dgemm.dtype.type(1)
        for j in range(dgemm.size):
            dh = flushed(dgemm[j] + rest[j], tiny)
            rest[j] = (one - m) * dh  # padded step: state passed through unchanged
            dgemm[j] = m * (dh + dy[j])  # the output there is zero and carries no gradient
    else:
        for j in range(dgemm.size):
            dgemm[j] = flushed(dgemm[j] + rest[j] + dy[j], tiny)
            rest[j] = 0


@njit(inline="always", **_JIT)
def _rnn_step_back(t, lo, dys, dgemm, dcarry, mask, act, peep, states, acts, dgx, dgh):
    hs, rest = states[0], dcarry[0]  # (T+1, B, H), (B, H)
    B, H = dgemm.shape
    one = dgemm.dtype.type(1)
    for row in range(B):  # gh's (dgemm's) row is the batch's row b
        b = lo + row
        _dh_at_step(dgemm[row], rest[b], dys[b, t], mask, t, b)
        dh, h, da = dgemm[row], hs[t + 1, b], dgx[row]  # (H,)
        if act == 0:  # backprop through the nonlinearity, given its output h
            for j in range(H):
                da[j] = dh[j] * (one - h[j] * h[j])
        elif act == 1:
            for j in range(H):
                da[j] = dh[j] if h[j] > 0 else dh[j] * 0
        else:
            for j in range(H):
                da[j] = dh[j] * (h[j] * (one - h[j]))
        flush(da)


@njit(inline="always", **_JIT)
def _lstm_step_back(t, lo, dys, dgemm, dcarry, mask, act, peep, states, acts, dgx, dgh):
    cs, rest, dc = states[1], dcarry[0], dcarry[1]  # (T+1, B, H), (B, H), (B, H)
    B, H = dgemm.shape
    one = dgemm.dtype.type(1)
    for row in range(B):  # gh's (dgemm's) row is the batch's row b
        b = lo + row
        _dh_at_step(dgemm[row], rest[b], dys[b, t], mask, t, b)
        a, da = acts[t, b], dgx[row]  # (5H,), (4H,)
        if mask.shape[0] and mask[t, b] == 0:
            da[:] = 0  # padded step: no gradient reaches the gates, dc passes through
            continue
        i, f, g, o, tc = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H : 4 * H], a[4 * H :]
        da_i, da_f, da_g, da_o = da[:H], da[H : 2 * H], da[2 * H : 3 * H], da[3 * H :]
        dh, dc_b, c_prev = dgemm[row], dc[b], cs[t, b]  # (H,)
        for j in range(H):  # short loops with few stores each: LLVM vectorises those
            dc_b[j] = dc_b[j] + dh[j] * o[j] * (one - tc[j] * tc[j])  # through h = o tanh(c)
            da_o[j] = dh[j] * tc[j] * (o[j] * (one - o[j]))
        if peep.shape[0]:  # the peepholes: o saw c_t, i and f saw c_{t-1}
            p_i, p_f, p_o = peep[:H], peep[H : 2 * H], peep[2 * H :]  # (H,)
            for j in range(H):
                dc_b[j] = dc_b[j] + da_o[j] * p_o[j]  # through o's p_o * c_t
            for j in range(H):
                da_i[j] = dc_b[j] * g[j] * (i[j] * (one - i[j]))
                da_g[j] = dc_b[j] * i[j] * (one - g[j] * g[j])
            for j in range(H):
                da_f[j] = dc_b[j] * c_prev[j] * (f[j] * (one - f[j]))
                dc_b[j] = dc_b[j] * f[j] + da_i[j] * p_i[j] + da_f[j] * p_f[j]  # dc_{t-1}
            flush(da)
            flush(dc_b)
            continue
        for j in range(H):  # through c = f c_prev + i g, then the activations
            da_i[j] = dc_b[j] * g[j] * (i[j] * (one - i[j]))
            da_g[j] = dc_b[j] * i[j] * (one - g[j] * g[j])
        for j in range(H):
            da_f[j] = dc_b[j] * c_prev[j] * (f[j] * (one - f[j]))
            dc_b[j] = dc_b[j] * f[j]  # dc_{t-1}
        flush(da)
        flush(dc_b)


@njit(inline="always", **_JIT)
def _gru_step_back(t, lo, dys, dgemm, dcarry, mask, act, peep, states, acts, dgx, dgh):
    hs, rest = states[0], dcarry[0]  # (T+1, B, H), (B, H)
    B, H = dgemm.shape
    one = dgemm.dtype.type(1)
    for row in range(B):  # gh's (dgemm's) row is the batch's row b
        b = lo + row
        _dh_at_step(dgemm[row], rest[b], dys[b, t], mask, t, b)
        a, dx, dg = acts[t, b], dgx[row], dgh[row]  # (4H,), (3H,), (3H,)
        if mask.shape[0] and mask[t, b] == 0:
            dx[:] = 0  # padded step: no gradient reaches the gates
            dg[:] = 0
            continue
        r, z, n, hn = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
        dx_r, dx_z, dx_n = dx[:H], dx[H : 2 * H], dx[2 * H :]
        dh, h_prev, rest_b = dgemm[row], hs[t, b], rest[b]  # (H,)
        for j in range(H):  # through h = (1-z) n + z h_prev, then tanh
            dx_n[j] = dh[j] * (one - z[j]) * (one - n[j] * n[j])
        for j in range(H):
            dx_r[j] = dx_n[j] * hn[j] * (r[j] * (one - r[j]))  # through r * h_n, sigmoid
            dg[2 * H + j] = dx_n[j] * r[j]  # h_n sits inside the reset gate
        for j in range(H):
            dx_z[j] = dh[j] * (h_prev[j] - n[j]) * (z[j] * (one - z[j]))
            rest_b[j] = dh[j] * z[j] + rest_b[j]  # through z * h_prev
        flush(dx)
        flush(dg[2 * H :])
        flush(rest_b)
        dg[: 2 * H] = dx[: 2 * H]


# --- whole time loops in numba, on one shard of the batch ------------------------------------
# One pair per kind, calling that kind's step kernels (numba cannot cache a loop that takes
# the step kernel as an argument), which are inlined (inline="always"): no call per step.
# Arguments as the step kernels', W_hh packed as panels (``rnnkit.core.gemm.pack``: of W_hh^T
# forwards, of W_hh backwards), drop (B, H) the recurrent dropout mask or (0, 0) for none,
# and the batch's rows lo .. hi-1 that the loop runs all T steps on, with its own product
# (``rnnkit.core.gemm``). Sequences do not interact, so shards of rows can run at once on
# several threads (``rnnkit.core.threads.run_sharded``); the loops release the GIL for that.
# Backwards the product is (dgh[t] @ W_hh) * drop, into dgemm (B, H).
_LOOP_JIT = dict(_JIT, nogil=True)


@njit(**_LOOP_JIT)
def _rnn_forward_loop(gx, w_t, b_hh, mask, act, peep, states, acts, drop, y, lo, hi):
    gh = np.empty((hi - lo, gx.shape[2]), gx.dtype)  # (M, G*H) h_{t-1} W_hh^T of the rows
    hd = np.empty((hi - lo, drop.shape[1]), gx.dtype)  # (M, H) h_{t-1} * drop
    for t in range(gx.shape[1]):
        _hidden_product(states[0, t], lo, drop, hd, w_t, gh)
        _rnn_step(t, lo, gx, gh, b_hh, mask, act, peep, states, acts)
        _output_rows(states[0, t + 1], y, t, lo, hi)


@njit(**_LOOP_JIT)
def _lstm_forward_loop(gx, w_t, b_hh, mask, act, peep, states, acts, drop, y, lo, hi):
    gh = np.empty((hi - lo, gx.shape[2]), gx.dtype)  # (M, G*H) h_{t-1} W_hh^T of the rows
    hd = np.empty((hi - lo, drop.shape[1]), gx.dtype)  # (M, H) h_{t-1} * drop
    for t in range(gx.shape[1]):
        _hidden_product(states[0, t], lo, drop, hd, w_t, gh)
        _lstm_step(t, lo, gx, gh, b_hh, mask, act, peep, states, acts)
        _output_rows(states[0, t + 1], y, t, lo, hi)


@njit(**_LOOP_JIT)
def _gru_forward_loop(gx, w_t, b_hh, mask, act, peep, states, acts, drop, y, lo, hi):
    gh = np.empty((hi - lo, gx.shape[2]), gx.dtype)  # (M, G*H) h_{t-1} W_hh^T of the rows
    hd = np.empty((hi - lo, drop.shape[1]), gx.dtype)  # (M, H) h_{t-1} * drop
    for t in range(gx.shape[1]):
        _hidden_product(states[0, t], lo, drop, hd, w_t, gh)
        _gru_step(t, lo, gx, gh, b_hh, mask, act, peep, states, acts)
        _output_rows(states[0, t + 1], y, t, lo, hi)


@njit(**_LOOP_JIT)
def _rnn_backward_loop(dys, w_hh, mask, act, peep, states, acts, dgemm, dcarry, dgx, dgh,
                        drop, lo, hi):
    dgm = dgemm[lo:hi].copy()  # (M, H) the rows' d(gates of step t+1) @ W_hh
    dgs = np.empty((hi - lo, dgx.shape[2]), dgx.dtype)  # (M, G*H) the step's dgx rows
    for t in range(dys.shape[1] - 1, -1, -1):
        _rnn_step_back(t, lo, dys, dgm, dcarry, mask, act, peep, states, acts, dgs, dgs)
        matmul_packed(dgs, 0, w_hh, dgm)  # backprop through h_{t-1} W_hh^T
        _put_rows(dgs, dgx, t, lo)
        _times_drop(dgm, drop, lo)
    dgemm[lo:hi] = dgm


@njit(**_LOOP_JIT)
def _lstm_backward_loop(dys, w_hh, mask, act, peep, states, acts, dgemm, dcarry, dgx, dgh,
                        drop, lo, hi):
    dgm = dgemm[lo:hi].copy()  # (M, H) the rows' d(gates of step t+1) @ W_hh
    dgs = np.empty((hi - lo, dgx.shape[2]), dgx.dtype)  # (M, G*H) the step's dgx rows
    for t in range(dys.shape[1] - 1, -1, -1):
        _lstm_step_back(t, lo, dys, dgm, dcarry, mask, act, peep, states, acts, dgs, dgs)
        matmul_packed(dgs, 0, w_hh, dgm)  # backprop through h_{t-1} W_hh^T
        _put_rows(dgs, dgx, t, lo)
        _times_drop(dgm, drop, lo)
    dgemm[lo:hi] = dgm


@njit(**_LOOP_JIT)
def _gru_backward_loop(dys, w_hh, mask, act, peep, states, acts, dgemm, dcarry, dgx, dgh,
                        drop, lo, hi):
    dgm = dgemm[lo:hi].copy()  # (M, H) the rows' d(gates of step t+1) @ W_hh
    dxs = np.empty((hi - lo, dgx.shape[2]), dgx.dtype)  # (M, G*H) the step's dgx rows
    dgs = np.empty_like(dxs)  # (M, G*H) and its dgh rows (GH_APART)
    for t in range(dys.shape[1] - 1, -1, -1):
        _gru_step_back(t, lo, dys, dgm, dcarry, mask, act, peep, states, acts, dxs, dgs)
        matmul_packed(dgs, 0, w_hh, dgm)  # backprop through h_{t-1} W_hh^T
        _put_rows(dxs, dgx, t, lo)
        _put_rows(dgs, dgh, t, lo)
        _times_drop(dgm, drop, lo)
    dgemm[lo:hi] = dgm


# kind -> (step, step_back, forward_loop, backward_loop): the step kernels for the BLAS path and
# the fused loops; every kind's take the same arguments
KERNELS = {
    "rnn": (_rnn_step, _rnn_step_back, _rnn_forward_loop, _rnn_backward_loop),
    "lstm": (_lstm_step, _lstm_step_back, _lstm_forward_loop, _lstm_backward_loop),
    "gru": (_gru_step, _gru_step_back, _gru_forward_loop, _gru_backward_loop),
}


# --- the backend API ---------------------------------------------------------------------
def scan_forward(kind, gx, carry0, w_hh, b_hh=None, mask=None, drop=None, *, keep=True,
                 b_ih=None, **options) -> ScanCache:
    """Run one direction over time; see :func:`rnnkit.core.scan.scan_forward` for the arguments
    (``keep=False``: inference, acts holds one step). The step kernels add the biases: b_ih
    + b_hh to the LSTM's and RNN's pre-activations; the GRU's bias vector is (4H,), [b_ir +
    b_hr, b_iz + b_hz, b_hn, b_in], b_hn inside the reset gate and b_in beside it.

    The kernels cover the cells' settings, recurrent dropout and the LSTM's ``peephole``, not
    ``norm`` (layer normalisation): ValueError for that (run ``rnnkit.core.scan``)."""
    uncovered = sorted(set(options) - set(CELLS[kind].OPTIONS) - {"peephole"})
    if uncovered:
        raise ValueError(f"the numba kernels do not cover {', '.join(uncovered)}: use the "
                         "NumPy time loop, rnnkit.core.scan")
    cell, (step, _, forward_loop, _) = CELLS[kind], KERNELS[kind]
    B, T, GH = gx.shape
    H = w_hh.shape[1]
    dt = gx.dtype
    gx = np.ascontiguousarray(gx)  # (B, T, G*H)
    w_hh = np.ascontiguousarray(w_hh, dtype=dt)
    b = step_bias(cell, GH, dt, b_ih, b_hh)  # (G*H,), the GRU's (4H,)
    m2 = mask2d(mask, dt, T, B)  # (T, B)
    states = np.empty((len(cell.CARRY), T + 1, B, H), dt)  # (C, T+1, B, H)
    states[:, 0] = carry0
    acts = np.empty((T if keep else 1, B, cell.ACTS * H), dt)  # (T, B, ACTS*H) or (1, ...)
    act, peep = act_code(options), peepholes(options, dt)  # peep: (3H,) or (0,)
    d2 = drop2d(drop, dt)  # (B, H) or (0, 0)
    y = np.empty((B, T, H), dt)  # (B, T, H) the outputs h_1 .. h_T, batch-first
    shards = _shards(B, H, GH // H)
    if shards:
        _run_shards(forward_loop, (gx, pack(w_hh.T), b, m2, act, peep, states,
                                   acts, d2, y), B, shards)
    else:
        w_t, hs = w_hh.T, states[0]  # (H, G*H), (T+1, B, H)
        gh = np.empty((B, GH), dt)  # (B, G*H) h_{t-1} W_hh^T
        for t in range(T):
            np.matmul(hs[t] if drop is None else hs[t] * d2, w_t, out=gh)
            step(t, 0, gx, gh, b, m2, act, peep, states, acts)
            y[:, t] = hs[t + 1]
    return ScanCache(kind, states, acts, mask, options, drop, y)


def scan_backward(cache: ScanCache, dys, dcarry, w_hh):
    """BPTT for one direction; see :func:`rnnkit.core.scan.scan_backward`.

    Returns (dgx, dgh, dcarry0) with dgx, dgh (B, T, G*H) (the same array unless GH_APART).
    """
    cell, (_, step_back, _, backward_loop) = CELLS[cache.kind], KERNELS[cache.kind]
    states, acts, act = cache.states, cache.acts, act_code(cache.options)
    B, T, H = dys.shape
    dt = states.dtype
    peep = peepholes(cache.options, dt)  # (3H,) or (0,)
    GH = w_hh.shape[0]
    dys = np.ascontiguousarray(dys, dtype=dt)  # (B, T, H)
    w_hh = np.ascontiguousarray(w_hh, dtype=dt)  # (G*H, H)
    m2 = mask2d(cache.mask, dt, T, B)  # (T, B)
    dgx = np.empty((B, T, GH), dt)  # (B, T, G*H)
    dgh = np.empty_like(dgx) if cell.GH_APART else dgx
    dgemm = np.zeros((B, H), dt)  # (B, H) d(gates of the later step) @ W_hh
    dcarry = np.array(dcarry, dtype=dt)  # (C, B, H) the rest of the gradient reaching the carry
    d2 = drop2d(cache.drop, dt)  # (B, H) or (0, 0)
    shards = _shards(B, H, GH // H)
    if shards:
        _run_shards(backward_loop, (dys, pack(w_hh), m2, act, peep, states, acts, dgemm,
                                    dcarry, dgx, dgh, d2), B, shards)
    else:
        dxs = np.empty((B, GH), dt)  # (B, G*H) one step's dgx, then its dgh
        dgs = np.empty_like(dxs) if cell.GH_APART else dxs
        for t in range(T - 1, -1, -1):
            step_back(t, 0, dys, dgemm, dcarry, m2, act, peep, states, acts, dxs, dgs)
            dgx[:, t] = dxs
            if cell.GH_APART:
                dgh[:, t] = dgs
            np.matmul(dgs, w_hh, out=dgemm)  # backprop through h_{t-1} W_hh^T
            if cache.drop is not None:
                dgemm *= d2  # and through the recurrent dropout mask
    dcarry[0] += dgemm  # (B, H) dh0
    return dgx, dgh, dcarry
