"""The weight gradients of a recurrent layer's direction, each one product over all its time
steps, after the backward loop: dW_hh = sum over t of dG_t^T h_{t-1}
(``_recurrent_weight_grad``), and, where the input is not wider than the state, dW_ih and
dW_hh together as one product over the rows [x_t | h_{t-1}] (``joins_weight_grads``,
``_joined_weight_grads``). The products run on NumPy's BLAS or on the time loops' register
tile (``rnnkit.core.gemm.dot``, ``rnnkit.core.paths.products_on_tile``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from rnnkit.core import aligned, gemm, paths
from rnnkit.core.gemm import PACK_K_BLOCK, copy_block, dot
from rnnkit.core.spin import announce
from rnnkit.core.threads import cores, run_sharded


def _recurrent_weight_grad(dg, y, h0):
    """sum over b, t of dg[b, t]^T h_{t-1}[b]: the gradient of W_hh (G*H, H), for dg (B, T, G*H)
    the gradients of h_{t-1} W_hh^T, y (B, T, H) the outputs h_1 .. h_T and h0 (B, H).

    One GEMM over the flat rows, with dg's row b*T + t against y's row b*T + t - 1, which is
    h_t's predecessor but for t = 0: there it pairs dg[b, 0] with y[b-1, T-1] (the last
    output of the sequence before), which one (B x G*H) x (B x H) product,
    dg[b, 0]^T (h0[b] - y[b-1, T-1]), takes back out and replaces by h0 (two products before
    session 19). No copy of the states into h_{t-1} order (a pass over memory)."""
    B, T, GH = dg.shape
    first = h0.astype(dg.dtype)  # (B, H) h0[b] - y[b-1, T-1], what dg[b, 0] meets
    if T == 1:  # only first steps: no product to correct (and an exact 0 for h0 = 0)
        return dot(dg[:, 0], first, a_transposed=True)
    first[1:] -= y[:-1, T - 1]
    d2, y2 = dg.reshape(B * T, GH), y.reshape(B * T, -1)
    out = dot(d2[1:], y2[:-1], a_transposed=True)  # (G*H, H)
    out += dot(dg[:, 0], first, a_transposed=True)
    return out


def joins_weight_grads(I: int, H: int) -> bool:
    """Whether a layer's dW_ih and dW_hh come from one product over [x_t | h_{t-1}]
    (``_joined_weight_grads``) rather than two: where 2 <= I <= H. OpenBLAS runs a narrow
    input's product alone at a low rate (textgen's (1024 x 3200) x (3200 x 32): 1.15 ms,
    ~180 GFLOP/s), and the joined one at the wide product's.
    Measured on the 2-core Xeon, float32 training step (forward and backward) of the layer,
    separate / joined, ms, alternating processes: LSTM (32,100,32,256) 20.7-21.2 / 19.9-20.3
    (with the rows copied by NumPy; copied on both cores, textgen's update 22.8-23.5 /
    22.2-22.3), (64,100,128,128) 18.3-18.9 / 17.7-18.1, (32,100,256,256) 32.8-33.0 /
    32.4-32.5, (32,100,256,128) 13.2-13.3 / 12.9-13.0; RNN (64,100,128,128) 6.15-6.17 /
    5.67-5.73. Not joined, where it measured level or slower: I = 2H, the second layer of a
    bidirectional stack ((64,100,256,128) 25.0-25.3 / 25.0-25.4, (64,100,512,256) 92.8-94.0
    / 93.5-94.8), and I = 1, where the input's product is a matrix-vector product
    ((32,50,1,64) 1.88-1.90 / 1.99-2.03, (64,100,1,128) 12.0-12.1 / 12.1-12.4)."""
    return 2 <= I <= H


@njit(cache=True, nogil=True)
def _join_rows(x, y, h0, xh, lo, hi, sync):
    """xh[b, t] = [x[b, t] | h_{t-1}[b]] for the rows b in lo..hi-1 (one shard of
    ``run_sharded``), with h_{t-1} = y[b, t-1], or h0[b] at t = 0."""
    announce(sync)
    T, I = x.shape[1], x.shape[2]
    for b in range(lo, hi):
        for t in range(T):
            row, xr = xh[b, t], x[b, t]
            hr = h0[b] if t == 0 else y[b, t - 1]
            for j in range(I):
                row[j] = xr[j]
            for j in range(hr.size):
                row[I + j] = hr[j]


@njit(cache=True, nogil=True)
def _join_panels(x2, y2, h0, T, out, lo, hi, sync):
    """The panels lo..hi-1 of pack([x_t | h_{t-1}]) (``rnnkit.core.gemm.pack``), written from
    x and the outputs without the joined rows in between: out (P, B*T, NR), x2 (B*T, I) and
    y2 (B*T, H) the flat rows of x and y, h_{t-1} of row k = b*T + t being y2[k-1], or h0[b]
    at t = 0. Rows in blocks of PACK_K_BLOCK into every panel in turn, as ``pack``; a panel
    wholly inside x or h copies vectors of NR columns, one across their border (or past the
    last column, zero) goes an element at a time."""
    announce(sync)
    R, I = x2.shape
    H, NR = y2.shape[1], out.shape[2]
    for k0 in range(0, R, PACK_K_BLOCK):
        k1 = min(R, k0 + PACK_K_BLOCK)
        for p in range(lo, hi):
            panel, c0 = out[p], p * NR  # (B*T, NR), its first column
            if c0 + NR <= I:  # x's columns
                copy_block(x2, panel, k0, k1, c0, NR)
            elif c0 >= I and c0 + NR <= I + H:  # h_{t-1}'s: the row before, or h0
                copy_block(y2, panel, k0, k1, c0 - I, NR, 1)  # row k-1 (k = 0: the last)
                for k in range(k0 + (-k0 % T), k1, T):  # the first steps
                    for j in range(NR):
                        panel[k, j] = h0[k // T, c0 - I + j]
            else:
                for k in range(k0, k1):
                    for j in range(NR):
                        c = c0 + j
                        if c < I:
                            panel[k, j] = x2[k, c]
                        elif c < I + H:
                            panel[k, j] = y2[k - 1, c - I] if k % T else h0[k // T, c - I]
                        else:
                            panel[k, j] = 0


def join_packed(x, y, h0):
    """pack([x_t | h_{t-1}]) (P, B*T, NR) for x (B, T, I), y (B, T, H) the outputs and h0 (B,
    H), in one pass (``_join_panels``): the rows [x_t | h_{t-1}] are never written out and
    read back to be packed (at (64,100,128,128): 0.07 ms for the rows and 0.42 ms to pack
    them). The panels are split over the cores as ``rnnkit.core.gemm.pack`` splits them."""
    B, T, I = x.shape
    H = y.shape[2]
    NR = gemm.panel_width(y.dtype)
    out = aligned.empty((-(-(I + H) // NR), B * T, NR), y.dtype)  # (P, B*T, NR)
    P = out.shape[0]
    shards = min(cores(), P) if out.nbytes >= gemm.PACK_SHARDED_MIN_BYTES else 1
    run_sharded(_join_panels, (x.reshape(B * T, I), y.reshape(B * T, H), h0, T, out), P,
                max(1, shards))
    return out


TRANSPOSE_BLOCK = 16  # rows and columns of the blocks :func:`_add_transposed` walks


@njit(cache=True, nogil=True)
def _add_transposed(dst, src):
    """dst[r, c] += src[c, r] in square blocks that stay in L1: dst (R, C), src (C, R), each
    with contiguous rows."""
    n = TRANSPOSE_BLOCK
    R, C = dst.shape
    for r0 in range(0, R, n):
        r1 = min(r0 + n, R)
        for c0 in range(0, C, n):
            for c in range(c0, min(c0 + n, C)):
                row = src[c]
                for r in range(r0, r1):
                    dst[r, c] += row[r]


def add_transposed(dst, src):
    """dst += src.T in place, for dst (R, C) and src (C, R) with contiguous rows (a weight's
    gradient and a block of rows of the joined product): the element sums NumPy's ``dst +=
    src.T`` makes, in blocks. NumPy walks src by columns: the big shape's (2048, 256) and
    (2048, 512) took 2.66 ms, 1.71 ms here; (1024, 32) and (1024, 256) 0.24 / 0.21 ms. On
    both cores they took 0.90 ms alone, but in a training step the threads' wake-up after the
    product took that back (benchmarks/README.md, session 16). Other layouts go to NumPy."""
    if dst.flags.c_contiguous and src.strides[1] == src.itemsize and dst.dtype == src.dtype \
            and src.shape == dst.shape[::-1]:
        _add_transposed(dst, src)
    else:
        dst += src.T


def _joined_weight_grads(dg, x, y, h0, grad_ih, grad_hh):
    """Adds dW_ih (G*H, I) into grad_ih and dW_hh (G*H, H) into grad_hh from one GEMM over the
    rows [x_t | h_{t-1}]: sum over b, t of dg[b, t]^T [x_t | h_{t-1}][b], for dg (B, T, G*H)
    (the gradients of x_t W_ih^T + h_{t-1} W_hh^T), x (B, T, I), y (B, T, H) the outputs
    h_1 .. h_T and h0 (B, H). On the register tile the rows [x_t | h_{t-1}] go straight into
    its panels (``join_packed``); for NumPy's BLAS they are copied together first, a shard of
    the batch on each core (textgen's (32, 100, 288): 0.14 ms, against 0.29 for NumPy's three
    slice assignments on one). On NumPy's BLAS the product [x_t | h_{t-1}]^T dg measured
    faster than dg^T [x_t | h_{t-1}], and its blocks are added transposed; on the register
    tile (``rnnkit.core.paths.products_on_tile``) dg^T [x_t | h_{t-1}] is the faster, at the
    big shape (64,100,256,512) 45.5 against 48.2 ms, and its blocks are the gradients' own
    layout (benchmarks/README.md, session 18)."""
    B, T, I = x.shape
    GH, IH = dg.shape[2], I + y.shape[2]
    x, y, h0 = (np.ascontiguousarray(a, dg.dtype) for a in (x, y, h0))
    dg2 = dg.reshape(B * T, GH)  # (B*T, G*H)
    if paths.products_on_tile(GH, B * T, IH):  # the rows go straight into the tile's panels
        dw = gemm.times_packed(dg2, join_packed(x, y, h0), IH, a_transposed=True)  # (G*H, I+H)
        grad_ih += dw[:, :I]
        grad_hh += dw[:, I:]
    else:
        xh = np.empty((B, T, IH), dg.dtype)  # (B, T, I+H)
        run_sharded(_join_rows, (x, y, h0, xh), B, min(cores(), B))
        xh2 = xh.reshape(B * T, -1)  # (B*T, I+H)
        dw = xh2.T @ dg2  # (I+H, G*H)
        add_transposed(grad_ih, dw[:I])
        add_transposed(grad_hh, dw[I:])
