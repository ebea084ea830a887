"""The element-wise work of one time step, fused: one numba kernel per cell kind, forward and
backward, for the time loops of ``rnnkit.core.kernels``.

A step kernel does all of a step's element-wise work (gates, state update, masking, and
backwards every gate gradient) in a single pass over the rows it is given, writing straight
into preallocated buffers: nothing is allocated per time step. Every kind's kernels take the
same arguments, so that the loops and ``rnnkit.core.kernels.KERNELS`` treat them alike; they
are inlined into the loops (``inline="always"``). Buffer layouts as in ``rnnkit.core.scan``.

Transcendentals: ``rnnkit.core.jit_math`` (fast float32 tanh and exp, libm in float64);
gradients below a threshold become zero, not subnormal (``rnnkit.core.vanishing``). A row is
taken as a view without a reference count (``rnnkit.core.views.row_of``, ``row_at``): the
counts of the arrays both shards of a batch share cost an atomic operation per view, a
fifth of the LSTM's element-wise time at H = 64 (benchmarks/README.md, session 20); such
views are copied into and filled element by element.
"""
from __future__ import annotations

from numba import njit
from numba.extending import register_jitable

from rnnkit.core.jit_math import _JIT, _sigmoid, _tanh, _wide_vectors
from rnnkit.core.threads import shard_of
from rnnkit.core.vanishing import flush, flushed, threshold
from rnnkit.core.views import row_at, row_of


# --- element-wise parts of one step, forward ---------------------------------------------
# Every kind's step kernel takes the same arguments (t, lo, gx, xt, gh, b_hh, mask, act,
# peep, states, acts) and ignores those it does not use: gx (B, T', G*H) is batch-first, as
# the stack computes it, and the step reads its row b at time xt (t; 0 where the loop
# projects x_t W_ih^T itself into a one-step buffer); the kernel updates the batch's rows
# lo .. lo+M-1,
# where gh (M, G*H) holds their h_{t-1} W_hh^T (lo = 0, M = B but in the batch-sharded
# loops, where each shard of rows runs on its own thread); b_hh, both biases, is added here
# rather than in a pass over all of gx: the LSTM's and RNN's b_ih + b_hh (G*H,) to the
# pre-activations, the GRU's (4H,) [b_ir + b_hr, b_iz + b_hz, b_hn, b_in] with b_hn inside its
# reset gate (GH_APART) and b_in beside it; mask (T, B), or (0, 0) when absent;
# act the RNN's nonlinearity code; peep the LSTM's peepholes (3H,) = [p_i, p_f, p_o], or
# (0,) when absent; states (C, T+1, B, H) and
# acts (T, B, ACTS*H) as in ``scan``; in inference (``keep=False``) states is a two-slot ring
# (C, 2, B, H) (``_slots``) and acts (1, S, ACTS*H), one row for each of the S shards of the
# loop, rewritten row after row (``_acts_row``). Each row runs as a few short loops over
# contiguous vectors, the shape LLVM vectorises.
@register_jitable(inline="always")
def _acts_row(acts, t, b, lo, B):
    """The row of acts that batch row b (of B) works in at step t: acts[t, b] when acts
    holds every step (T, B, ACTS*H); in inference's one-step buffer (1, S, ACTS*H) the row of
    the shard that starts at row lo (``threads.shard_of``), which every row of that shard
    rewrites in turn, so that it stays in L1.
    Before session 21 inference kept a row for every batch row, (1, B, ACTS*H): 320 KB a
    core at (64, 100, 256, 512), and the LSTM's forward loop alone ran 1% slower (in-process,
    the same results to the bit; benchmarks/README.md, session 21)."""
    S = acts.shape[1]
    return row_at(acts, min(t, acts.shape[0] - 1), b if S == B else shard_of(lo, S, B))


@register_jitable(inline="always")
def _slots(states, t):
    """The time slots of states that step t reads its carry from and writes the new one to:
    t and t + 1 where states keeps every step (C, T+1, B, H); in inference's two-slot ring
    (C, 2, B, H), t % 2 and (t + 1) % 2, so that the carries stay in cache and a forward
    pass under ``no_grad`` holds two steps of them, not T + 1."""
    S = states.shape[1]
    return t % S, (t + 1) % S


@register_jitable(inline="always")
def _carry_over_padding(m, new, old):
    """new = m * new + (1 - m) * old: the state is carried unchanged where m == 0."""
    one = new.dtype.type(1)
    for j in range(new.size):
        new[j] = m * new[j] + (one - m) * old[j]


@njit(inline="always", **_JIT)
def _rnn_step(t, lo, gx, xt, gh, b_hh, mask, act, peep, states, acts):
    _wide_vectors()  # 512-bit vectors for the loops of the function this is inlined in
    hs = row_of(states, 0)  # (T+1, B, H)
    B, H = gh.shape
    now, nxt = _slots(states, t)
    for row in range(B):  # gh's (dgemm's) row is the batch's row b
        b = lo + row
        x, y, h = row_at(gx, b, xt), row_of(gh, row), row_at(hs, nxt, b)  # (H,)
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
            _carry_over_padding(mask[t, b], h, row_at(hs, now, b))


@njit(inline="always", **_JIT)
def _lstm_step(t, lo, gx, xt, gh, b_hh, mask, act, peep, states, acts):
    _wide_vectors()  # 512-bit vectors for the loops of the function this is inlined in
    hs, cs = row_of(states, 0), row_of(states, 1)  # (T+1, B, H)
    B, G = gh.shape
    H = G // 4
    p_i, p_f, p_o = peep[:H], peep[H : 2 * H], peep[2 * H :]  # (H,) each, or empty
    now, nxt = _slots(states, t)
    for row in range(B):  # gh's (dgemm's) row is the batch's row b
        b = lo + row
        # (4H,) x2, (5H,)
        x, y, a = row_at(gx, b, xt), row_of(gh, row), _acts_row(acts, t, b, lo, hs.shape[1])
        # one view per gate: LLVM cannot vectorise a[j] against a[H + j] of the same view
        i, f, g, o, tc = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H : G], a[G:]  # (H,)
        for j in range(G):
            a[j] = x[j] + y[j] + b_hh[j]  # pre-activations
        c_prev, c, h = row_at(cs, now, b), row_at(cs, nxt, b), row_at(hs, nxt, b)  # (H,)
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
            _carry_over_padding(mask[t, b], h, row_at(hs, now, b))
            _carry_over_padding(mask[t, b], c, c_prev)


@njit(inline="always", **_JIT)
def _gru_step(t, lo, gx, xt, gh, b_hh, mask, act, peep, states, acts):
    _wide_vectors()  # 512-bit vectors for the loops of the function this is inlined in
    hs = row_of(states, 0)  # (T+1, B, H)
    B, G = gh.shape
    H = G // 3
    one = gh.dtype.type(1)  # a bare 1 would promote float32 to float64
    b_hrz, b_hn, b_in = b_hh[: 2 * H], b_hh[2 * H : G], b_hh[G:]  # (2H,), (H,), (H,)
    now, nxt = _slots(states, t)
    for row in range(B):  # gh's (dgemm's) row is the batch's row b
        b = lo + row
        # (3H,) x2, (4H,)
        x, y, a = row_at(gx, b, xt), row_of(gh, row), _acts_row(acts, t, b, lo, hs.shape[1])
        x_n, y_rz, y_n = x[2 * H :], y[: 2 * H], y[2 * H :]
        r, z, n, hn = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]  # (H,)
        h_prev, h = row_at(hs, now, b), row_at(hs, nxt, b)  # (H,)
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


@register_jitable(inline="always")
def _zero(v):
    """v[:] = 0, element by element (the views here hold no reference: views.py)."""
    zero = v.dtype.type(0)
    for j in range(v.size):
        v[j] = zero


@njit(inline="always", **_JIT)
def _rnn_step_back(t, lo, dys, dgemm, dcarry, mask, act, peep, states, acts, dgx, dgh):
    _wide_vectors()  # 512-bit vectors for the loops of the function this is inlined in
    hs, rest = row_of(states, 0), row_of(dcarry, 0)  # (T+1, B, H), (B, H)
    B, H = dgemm.shape
    one = dgemm.dtype.type(1)
    for row in range(B):  # gh's (dgemm's) row is the batch's row b
        b = lo + row
        _dh_at_step(row_of(dgemm, row), row_of(rest, b), row_at(dys, b, t), mask, t, b)
        dh, h, da = row_of(dgemm, row), row_at(hs, t + 1, b), row_of(dgx, row)  # (H,)
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
    _wide_vectors()  # 512-bit vectors for the loops of the function this is inlined in
    cs, rest, dc = row_of(states, 1), row_of(dcarry, 0), row_of(dcarry, 1)  # (T+1,B,H), (B,H) x2
    B, H = dgemm.shape
    one = dgemm.dtype.type(1)
    for row in range(B):  # gh's (dgemm's) row is the batch's row b
        b = lo + row
        _dh_at_step(row_of(dgemm, row), row_of(rest, b), row_at(dys, b, t), mask, t, b)
        a, da = row_at(acts, t, b), row_of(dgx, row)  # (5H,), (4H,)
        if mask.shape[0] and mask[t, b] == 0:
            _zero(da)  # padded step: no gradient reaches the gates, dc passes through
            continue
        i, f, g, o, tc = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H : 4 * H], a[4 * H :]
        da_i, da_f, da_g, da_o = da[:H], da[H : 2 * H], da[2 * H : 3 * H], da[3 * H :]
        dh, dc_b, c_prev = row_of(dgemm, row), row_of(dc, b), row_at(cs, t, b)  # (H,)
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
    _wide_vectors()  # 512-bit vectors for the loops of the function this is inlined in
    hs, rest = row_of(states, 0), row_of(dcarry, 0)  # (T+1, B, H), (B, H)
    B, H = dgemm.shape
    one = dgemm.dtype.type(1)
    for row in range(B):  # gh's (dgemm's) row is the batch's row b
        b = lo + row
        _dh_at_step(row_of(dgemm, row), row_of(rest, b), row_at(dys, b, t), mask, t, b)
        a, dx, dg = row_at(acts, t, b), row_of(dgx, row), row_of(dgh, row)  # (4H,), (3H,), (3H,)
        if mask.shape[0] and mask[t, b] == 0:
            _zero(dx)  # padded step: no gradient reaches the gates
            _zero(dg)
            continue
        r, z, n, hn = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
        dx_r, dx_z, dx_n = dx[:H], dx[H : 2 * H], dx[2 * H :]
        dh, h_prev, rest_b = row_of(dgemm, row), row_at(hs, t, b), row_of(rest, b)  # (H,)
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
        for j in range(2 * H):  # element by element: NumPy-style copies between views
            dg[j] = dx[j]  # without a reference (views.py) are not safe in numba
