"""Fused numba kernels for the time loop: ``scan_forward`` and ``scan_backward`` as in ``scan``.

Same signatures, return values and buffer layouts as the NumPy reference ``rnnkit.core.scan``
(read that first: it defines ``ScanCache``, the buffers and the mask semantics). What differs
is how a step runs:

* one numba kernel per cell does all the element-wise work of a step
  (``rnnkit.core.step_kernels``); every kind's kernels take the same arguments, and
  ``scan_forward``/``scan_backward`` pick them and the loops from one table, ``KERNELS``;
* the scans take gx and dy and return y and dgx batch-first, (B, T, ...), as the stack
  computes and uses them; the loops write a step's outputs and gate gradients into those
  rows (``_put_rows``) and keep states and activations time-major;
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
  ``rnnkit.core.blas`` shortens how long they spin after a call;
* given x and W_ih rather than gx, the numba loops also compute each step's input product
  x_t W_ih^T, and backwards dx_t = dG_t W_ih, with the same product, where both weights fit
  in a core's L2 or its share of L3 (``rnnkit.core.paths.projects_in_loop``): gx is then
  never written to memory and read back. Elsewhere they are one product before (after) the
  loop; dx's runs on the same tile, the rows split over the cores, where the packed W_ih
  fits in L2 (``times_weight``), where it measured faster than OpenBLAS.

Masks are 0/1 as documented in ``scan``: forward blends exactly as the reference does, and
backward sets a padded row's gate gradients to zero and passes its dh and dc through.
A recurrent dropout mask (``drop``, B x H) multiplies h_{t-1} before the recurrent product
and the product's gradient after it, in every path.

"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable

from rnnkit.core import aligned
from rnnkit.core.aligned import copy_rows, empty_rows
from rnnkit.core.cells import CELLS
from rnnkit.core.gemm import (dot, input_projection, matmul_packed, pack, pack_pair,
                              panel_width)
from rnnkit.core.jit_math import _JIT
from rnnkit.core.kernel_args import act_code, drop2d, mask2d, peepholes, step_bias
from rnnkit.core.paths import input_grad_on_tile as _input_grad_on_tile
from rnnkit.core.paths import projects_in_loop as _projects_in_loop
from rnnkit.core.paths import shards as _shards
from rnnkit.core.scan import ScanCache, bias_sums
from rnnkit.core.step_kernels import (_gru_step, _gru_step_back, _lstm_step, _lstm_step_back,
                                       _rnn_step, _rnn_step_back, _slots)
from rnnkit.core.spin import announce
from rnnkit.core.threads import cores as _cores
from rnnkit.core.threads import run_sharded as _run_shards
from rnnkit.core.threads import shard_of
from rnnkit.core.views import row_at, row_of

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
def _input_grad(dgs, w_x, dx, t, lo):
    """dx[lo : lo + M, t] = dgs @ W_ih, the step's input gradients, where w_x holds pack(W_ih)
    (P, G*H, NR); nothing where w_x is empty (dx then comes from one product after the loop).
    dgs (M, G*H) is the step's block of gate gradients; dx (B, T, I), rows T*I apart."""
    if w_x.shape[0]:
        matmul_packed(dgs, 0, w_x, dx[lo : lo + dgs.shape[0], t])


@register_jitable(inline="always")
def _add_rows(block, acc):
    """acc += block's rows, block (M, W), acc (W,): a step's share of a bias gradient, added
    while the block is in L1 (a sum over all steps afterwards is a pass over memory)."""
    for r in range(block.shape[0]):
        for j in range(acc.size):
            acc[j] += block[r, j]


@register_jitable(inline="always")
def _put_sums(acc, sums, lo, B):
    """sums[s] = acc (2, W) for the shard s of len(sums) starting at row lo (``shard_of``)."""
    sums[shard_of(lo, sums.shape[0], B)] = acc


@register_jitable(inline="always")
def _put_rows(block, a, t, lo):
    """a[lo : lo + M, t] = block (M, W): one step's rows into a batch-first (B, T, W) array,
    the outputs h_t into y (written while in cache: a copy of all the states afterwards
    would cost a pass over memory) or the gate gradients into dgx or dgh. The backward's step
    kernels write the gradients into the block and the product reads them there, contiguous
    and in L1; in a, the rows are T*W apart (a multiple of 4 KB at T*W*4 = 100*512*4, where
    they all fall in the same L1 sets)."""
    for r in range(block.shape[0]):
        src, dst = row_of(block, r), row_at(a, lo + r, t)  # no reference counts (views.py)
        for j in range(src.size):
            dst[j] = src[j]


# --- whole time loops in numba, on one shard of the batch ------------------------------------
# One pair per kind, calling that kind's step kernels (numba cannot cache a loop that takes
# the step kernel as an argument), which are inlined (inline="always"): no call per step.
# Arguments as the step kernels', W_hh packed as panels (``rnnkit.core.gemm.pack``: of W_hh^T
# forwards, of W_hh backwards); forwards, either gx (B, T, G*H) with x and w_x empty, or x
# (B, T, I) and w_x = pack(W_ih^T), the loop then projecting each step's inputs itself, with
# gx (0, 0, G*H) standing for its width (``_step_inputs``); drop (B, H) the recurrent
# dropout mask or (0, 0) for none,
# and the batch's rows lo .. hi-1 that the loop runs all T steps on, with its own product
# (``rnnkit.core.gemm``). Sequences do not interact, so shards of rows can run at once on
# several threads (``rnnkit.core.threads.run_sharded``); the loops release the GIL for that,
# and first ``announce`` into sync (int64 (2,)) that they have (``rnnkit.core.spin``).
# Backwards the product is (dgh[t] @ W_hh) * drop, into dgemm (B, H), and, where w_x holds
# pack(W_ih), the step's input gradients dgx[t] @ W_ih into dx (B, T, I) (``_input_grad``);
# each shard adds its rows of dgx and dgh over its steps into its row of sums (S, 2, G*H).
_LOOP_JIT = dict(_JIT, nogil=True)


@register_jitable(inline="always")
def _forward_buffers(gx, w_x, drop, y, lo, hi):
    """A forward loop's buffers for the rows lo..hi-1: gh (M, G*H) for h_{t-1} W_hh^T, hd
    (M, H) for h_{t-1} * drop, and xb (hi, G*H), or (0, G*H) without w_x, for x_t W_ih^T in
    its rows lo.. (``_step_inputs``)."""
    GH = gx.shape[2]
    return (empty_rows(hi - lo, GH, y), empty_rows(hi - lo, drop.shape[1], y),
            empty_rows(hi if w_x.shape[0] else 0, GH, y))


@register_jitable(inline="always")
def _step_inputs(gx, x, w_x, xb, t, lo):
    """The array and time index from which step t reads its input projections: gx at t, or,
    where w_x holds pack(W_ih^T), x_t W_ih^T of the shard's rows computed here into the rows
    lo.. of xb (B', G*H), returned as (B', 1, G*H) at time 0: the product takes x_t's rows
    where they lie in x (B, T, I), T*I apart, and gx never goes through memory."""
    if w_x.shape[0]:
        matmul_packed(x[:, t], lo, w_x, xb[lo:])
        return xb.reshape((xb.shape[0], 1, xb.shape[1])), 0
    return gx, t


@njit(**_LOOP_JIT)
def _rnn_forward_loop(gx, x, w_x, w_t, b_hh, mask, act, peep, states, acts, drop, y, lo, hi,
                       sync):
    announce(sync)
    gh, hd, xb = _forward_buffers(gx, w_x, drop, y, lo, hi)
    for t in range(y.shape[1]):
        src, xt = _step_inputs(gx, x, w_x, xb, t, lo)
        now, nxt = _slots(states, t)
        _hidden_product(row_at(states, 0, now), lo, drop, hd, w_t, gh)
        _rnn_step(t, lo, src, xt, gh, b_hh, mask, act, peep, states, acts)
        _put_rows(row_at(states, 0, nxt)[lo:hi], y, t, lo)


@njit(**_LOOP_JIT)
def _lstm_forward_loop(gx, x, w_x, w_t, b_hh, mask, act, peep, states, acts, drop, y, lo, hi,
                       sync):
    announce(sync)
    gh, hd, xb = _forward_buffers(gx, w_x, drop, y, lo, hi)
    for t in range(y.shape[1]):
        src, xt = _step_inputs(gx, x, w_x, xb, t, lo)
        now, nxt = _slots(states, t)
        _hidden_product(row_at(states, 0, now), lo, drop, hd, w_t, gh)
        _lstm_step(t, lo, src, xt, gh, b_hh, mask, act, peep, states, acts)
        _put_rows(row_at(states, 0, nxt)[lo:hi], y, t, lo)


@njit(**_LOOP_JIT)
def _gru_forward_loop(gx, x, w_x, w_t, b_hh, mask, act, peep, states, acts, drop, y, lo, hi,
                       sync):
    announce(sync)
    gh, hd, xb = _forward_buffers(gx, w_x, drop, y, lo, hi)
    for t in range(y.shape[1]):
        src, xt = _step_inputs(gx, x, w_x, xb, t, lo)
        now, nxt = _slots(states, t)
        _hidden_product(row_at(states, 0, now), lo, drop, hd, w_t, gh)
        _gru_step(t, lo, src, xt, gh, b_hh, mask, act, peep, states, acts)
        _put_rows(row_at(states, 0, nxt)[lo:hi], y, t, lo)


@njit(**_LOOP_JIT)
def _rnn_backward_loop(dys, w_hh, mask, act, peep, states, acts, dgemm, dcarry, dgx, dgh,
                        drop, dx, w_x, sums, lo, hi, sync):
    announce(sync)
    dgm = copy_rows(dgemm[lo:hi])  # (M, H) d(gates of step t+1) W_hh
    dgs = empty_rows(hi - lo, dgx.shape[2], dgx)  # (M, G*H) the step's dgx rows
    acc = np.zeros((2, dgx.shape[2]), dgx.dtype)  # (2, G*H) their sums (dgh's: the same)
    for t in range(dys.shape[1] - 1, -1, -1):
        _rnn_step_back(t, lo, dys, dgm, dcarry, mask, act, peep, states, acts, dgs, dgs)
        matmul_packed(dgs, 0, w_hh, dgm)  # backprop through h_{t-1} W_hh^T
        _input_grad(dgs, w_x, dx, t, lo)
        _add_rows(dgs, row_of(acc, 0))
        _put_rows(dgs, dgx, t, lo)
        _times_drop(dgm, drop, lo)
    dgemm[lo:hi] = dgm
    acc[1] = acc[0]
    _put_sums(acc, sums, lo, dys.shape[0])


@njit(**_LOOP_JIT)
def _lstm_backward_loop(dys, w_hh, mask, act, peep, states, acts, dgemm, dcarry, dgx, dgh,
                        drop, dx, w_x, sums, lo, hi, sync):
    announce(sync)
    dgm = copy_rows(dgemm[lo:hi])  # (M, H) d(gates of step t+1) W_hh
    dgs = empty_rows(hi - lo, dgx.shape[2], dgx)  # (M, G*H) the step's dgx rows
    acc = np.zeros((2, dgx.shape[2]), dgx.dtype)  # (2, G*H) their sums (dgh's: the same)
    for t in range(dys.shape[1] - 1, -1, -1):
        _lstm_step_back(t, lo, dys, dgm, dcarry, mask, act, peep, states, acts, dgs, dgs)
        matmul_packed(dgs, 0, w_hh, dgm)  # backprop through h_{t-1} W_hh^T
        _input_grad(dgs, w_x, dx, t, lo)
        _add_rows(dgs, row_of(acc, 0))
        _put_rows(dgs, dgx, t, lo)
        _times_drop(dgm, drop, lo)
    dgemm[lo:hi] = dgm
    acc[1] = acc[0]
    _put_sums(acc, sums, lo, dys.shape[0])


@njit(**_LOOP_JIT)
def _gru_backward_loop(dys, w_hh, mask, act, peep, states, acts, dgemm, dcarry, dgx, dgh,
                        drop, dx, w_x, sums, lo, hi, sync):
    announce(sync)
    dgm = copy_rows(dgemm[lo:hi])  # (M, H) d(gates of step t+1) W_hh
    dxs = empty_rows(hi - lo, dgx.shape[2], dgx)  # (M, G*H) the step's dgx rows
    dgs = empty_rows(hi - lo, dgx.shape[2], dgx)  # (M, G*H) and its dgh rows (GH_APART)
    acc = np.zeros((2, dgx.shape[2]), dgx.dtype)  # (2, G*H) their sums
    for t in range(dys.shape[1] - 1, -1, -1):
        _gru_step_back(t, lo, dys, dgm, dcarry, mask, act, peep, states, acts, dxs, dgs)
        matmul_packed(dgs, 0, w_hh, dgm)  # backprop through h_{t-1} W_hh^T
        _input_grad(dxs, w_x, dx, t, lo)
        _add_rows(dxs, row_of(acc, 0))
        _add_rows(dgs, row_of(acc, 1))
        _put_rows(dxs, dgx, t, lo)
        _put_rows(dgs, dgh, t, lo)
        _times_drop(dgm, drop, lo)
    dgemm[lo:hi] = dgm
    _put_sums(acc, sums, lo, dys.shape[0])


# kind -> (step, step_back, forward_loop, backward_loop): the step kernels for the BLAS path and
# the fused loops; every kind's take the same arguments
KERNELS = {
    "rnn": (_rnn_step, _rnn_step_back, _rnn_forward_loop, _rnn_backward_loop),
    "lstm": (_lstm_step, _lstm_step_back, _lstm_forward_loop, _lstm_backward_loop),
    "gru": (_gru_step, _gru_step_back, _gru_forward_loop, _gru_backward_loop),
}


# --- the backend API ---------------------------------------------------------------------
def scan_forward(kind, gx, carry0, w_hh, b_hh=None, mask=None, drop=None, *, keep=True,
                 b_ih=None, x=None, w_ih=None, **options) -> ScanCache:
    """Run one direction over time; see :func:`rnnkit.core.scan.scan_forward` for the arguments
    (``keep=False``: inference, states is a two-slot ring, ``step_kernels._slots``, read
    through ``ScanCache.final``, and acts holds one row for each shard of the batch,
    rewritten row after row, ``step_kernels._acts_row``). The step kernels add the biases: b_ih
    + b_hh to the LSTM's and RNN's pre-activations; the GRU's bias vector is (4H,), [b_ir +
    b_hr, b_iz + b_hz, b_hn, b_in], b_hn inside the reset gate and b_in beside it.

    Given x and w_ih in place of gx, the numba loops compute each step's x_t W_ih^T
    themselves, with the per-step product, where both packed weights fit in a core's L2
    cache (``rnnkit.core.paths.projects_in_loop``); elsewhere gx is one product first.

    The kernels cover the cells' settings, recurrent dropout and the LSTM's ``peephole``, not
    ``norm`` (layer normalisation): ValueError for that (run ``rnnkit.core.scan``)."""
    uncovered = sorted(set(options) - set(CELLS[kind].OPTIONS) - {"peephole"})
    if uncovered:
        raise ValueError(f"the numba kernels do not cover {', '.join(uncovered)}: use the "
                         "NumPy time loop, rnnkit.core.scan")
    cell, (step, _, forward_loop, _) = CELLS[kind], KERNELS[kind]
    B, T = (gx if x is None else x).shape[:2]
    GH, H = w_hh.shape
    dt = (gx if x is None else x).dtype
    shards = _shards(B, H, GH // H)
    project = x is not None and shards and _projects_in_loop(x.shape[2], H, GH // H,
                                                              dt.itemsize)
    w_hh = np.ascontiguousarray(w_hh, dtype=dt)
    w_t = None  # pack(W_hh^T) for the numba loops, with pack(W_ih^T) where they project
    if project:  # x_t W_ih^T inside the loop; gx only gives its width
        x = np.ascontiguousarray(x)  # (B, T, I)
        # (P, I, NR), (P, H, NR), packed from the views W_ih^T and W_hh^T, on two cores
        w_x, w_t = pack_pair(w_ih.astype(dt, copy=False).T, w_hh.T)
        gx = np.empty((0, 0, GH), dt)
    else:
        if x is not None:
            gx = input_projection(np.ascontiguousarray(x).reshape(B * T, -1),
                                  w_ih).reshape(B, T, GH)
        x = w_x = np.empty((0, 0, 0), dt)
        gx = np.ascontiguousarray(gx)  # (B, T, G*H)
    b = step_bias(cell, GH, dt, b_ih, b_hh)  # (G*H,), the GRU's (4H,)
    m2 = mask2d(mask, dt, T, B)  # (T, B)
    # (C, T+1, B, H), or in inference a two-slot ring (C, 2, B, H) (step_kernels._slots)
    states = aligned.empty((len(cell.CARRY), T + 1 if keep else min(T + 1, 2), B, H), dt)
    states[:, 0] = carry0
    # (T, B, ACTS*H), or in inference (1, S, ACTS*H): a row for each shard (step_kernels)
    acts = aligned.empty((T, B, cell.ACTS * H) if keep else (1, max(shards, 1),
                                                              cell.ACTS * H), dt)
    act, peep = act_code(options), peepholes(options, dt)  # peep: (3H,) or (0,)
    d2 = drop2d(drop, dt)  # (B, H) or (0, 0)
    y = aligned.empty((B, T, H), dt)  # (B, T, H) the outputs h_1 .. h_T, batch-first
    if shards:
        w_t = pack(w_hh.T) if w_t is None else w_t  # (P, H, NR)
        _run_shards(forward_loop, (gx, x, w_x, w_t, b, m2, act, peep, states, acts, d2, y),
                    B, shards)
    else:
        w_t, hs = w_hh.T, states[0]  # (H, G*H), (T+1, B, H) or (2, B, H)
        gh = np.empty((B, GH), dt)  # (B, G*H) h_{t-1} W_hh^T
        for t in range(T):
            now, nxt = _slots(states, t)
            np.matmul(hs[now] if drop is None else hs[now] * d2, w_t, out=gh)
            step(t, 0, gx, t, gh, b, m2, act, peep, states, acts)
            y[:, t] = hs[nxt]
    return ScanCache(kind, states, acts, mask, options, drop, y)


def scan_backward(cache: ScanCache, dys, dcarry, w_hh, w_ih=None, *, sums=None):
    """BPTT for one direction; see :func:`rnnkit.core.scan.scan_backward`.

    Returns (dgx, dgh, dcarry0, dx) with dgx, dgh (B, T, G*H) (the same array unless
    GH_APART), and dx = dgx W_ih (B, T, I) where w_ih is given (else None): computed inside
    the numba loop, step by step, under the same rule as the forward's input projection
    (``rnnkit.core.paths.projects_in_loop``) for I of at least half a panel of the product,
    elsewhere as one product after it. ``sums`` (2, G*H): dgx's and dgh's sums over B and T,
    which the numba loops add up step by step while the rows are in L1 (the column sums
    after the loop were a pass over dgx: 0.32 ms at (64,100,128,128), LSTM); summed in
    another order than the reference's, so equal to it to rounding.
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
    dgx = aligned.empty((B, T, GH), dt)  # (B, T, G*H)
    dgh = aligned.empty((B, T, GH), dt) if cell.GH_APART else dgx
    dgemm = aligned.empty((B, H), dt)  # (B, H) d(gates of the later step) @ W_hh
    dgemm[...] = 0
    rest = np.asarray(dcarry)
    dcarry = aligned.empty(rest.shape, dt)  # (C, B, H) the rest of the gradient to the carry
    dcarry[...] = rest
    d2 = drop2d(cache.drop, dt)  # (B, H) or (0, 0)
    shards = _shards(B, H, GH // H)
    # dx's rows are I wide, the product's tile a panel of NR: under NR / 2 mostly padding
    # (LSTM (32,50,I,64) training step, dx in the loop / after it: I = 1 1.94 / 1.90 ms,
    # I = 16 2.18 / 2.19, I = 32 2.28 / 2.31; (64,100,128,128) 18.9 / 19.2)
    project = (w_ih is not None and shards and 2 * w_ih.shape[1] >= panel_width(dt)
               and _projects_in_loop(w_ih.shape[1], H, GH // H, dt.itemsize))
    w_p = None  # pack(W_hh) for the numba loops, with pack(W_ih) where they compute dx
    if project:  # dx = dgx W_ih, step by step in the loop
        dx = np.empty((B, T, w_ih.shape[1]), dt)  # (B, T, I)
        # (P, G*H, NR), (P', G*H, NR), on two cores
        w_x, w_p = pack_pair(np.ascontiguousarray(w_ih, dtype=dt), w_hh)
    else:
        dx = w_x = np.empty((0, 0, 0), dt)
    if shards:  # the loops add up the biases' gradients as they go, one row a shard
        parts = np.empty((shards, 2, GH), dt)  # (S, 2, G*H)
        w_p = pack(w_hh) if w_p is None else w_p
        _run_shards(backward_loop, (dys, w_p, m2, act, peep, states, acts, dgemm,
                                    dcarry, dgx, dgh, d2, dx, w_x, parts), B, shards)
        if sums is not None:
            sums[...] = parts.sum(axis=0)
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
        if sums is not None:
            bias_sums(dgx, dgh, sums)
    dcarry[0] += dgemm  # (B, H) dh0
    if w_ih is None:
        dx = None
    elif not project:
        dx = times_weight(dgx.reshape(B * T, GH), w_ih).reshape(B, T, -1)  # (B, T, I)
    return dgx, dgh, dcarry, dx


@njit(**_LOOP_JIT)
def _rows_times_packed(a, bp, out, lo, hi, sync):
    """out[lo:hi] = a[lo:hi] @ b with bp = pack(b): one shard of ``times_weight``."""
    announce(sync)
    matmul_packed(a, lo, bp, out[lo:hi])


def times_weight(a, w):
    """a @ w for a (R, K) and a weight w (K, N), the input gradient dG W_ih after the loop:
    on the loops' register tile with the rows split over the cores where that is the faster
    (``rnnkit.core.paths.input_grad_on_tile``), else NumPy's BLAS."""
    R, K = a.shape
    N = w.shape[1]
    if (a.dtype != w.dtype or a.dtype not in (np.float32, np.float64)
            or not _input_grad_on_tile(R, K, N, a.dtype.itemsize, panel_width(a.dtype))):
        return dot(a, w)
    out = np.empty((R, N), a.dtype)  # (R, N)
    _run_shards(_rows_times_packed, (np.ascontiguousarray(a), pack(np.ascontiguousarray(w)),
                                     out), R, min(_cores(), R))
    return out
