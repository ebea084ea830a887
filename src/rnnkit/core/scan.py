"""The time loop of one recurrent direction: forward over T steps and backpropagation through time.

This is the readable NumPy reference, one loop for every cell kind: each step calls the cell's
``recur`` (``rnnkit.core.cells``). ``rnnkit.core.kernels`` holds fused numba versions with the
same signatures and buffer layouts; :func:`get_backend` picks one. What the scan takes and
returns is batch-first, ``(B, T, ...)``, as the user's arrays and the products outside the
loop (x W_ih^T over all steps, the weight gradients, dx) read and write them, so that no
layer transposes; what it keeps for its own backward is time-major, ``(T, B, ...)``, so that
one step is a contiguous slice.

Variable lengths follow PyTorch's packed sequences: at a padded step (``mask[b, t] == 0``) every
carried array is kept unchanged, the output is zero and no gradient reaches the gates. A
reverse direction is run by the caller on time-flipped input, where the padding comes first
and the carried state is the initial one.

Buffers a forward scan returns (``ScanCache``), with C = len(cell.CARRY):
    y      (B, T, H)          the outputs h_1 .. h_T (states[0, 1:], batch-first, unmasked)
    states (C, T+1, B, H)     states[:, 0] = the initial carry, states[:, t+1] = the carry
                              after step t (carried over padding); states[0] holds h; the
                              kernels' inference keeps a ring of two, (C, 2, B, H): the
                              last carry is ``ScanCache.final``
    acts   (T, B, ACTS*H)     what the backward needs: LSTM [i, f, g, o, tanh(c)],
                              GRU [r, z, n, W_hn h + b_hn], RNN nothing (it uses states);
                              (1, B, ACTS*H), rewritten at every step, in inference
                              (``keep=False``): a step writes acts[min(t, len(acts) - 1)]
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnkit.core.cells import CELLS


@dataclass
class ScanCache:
    kind: str
    states: np.ndarray  # (C, T+1, B, H) one buffer per carried array
    acts: np.ndarray  # (T, B, ACTS*H)
    mask: np.ndarray | None  # (B, T, 1), 1 where the step is valid
    options: dict = field(default_factory=dict)  # the cell's settings, e.g. nonlinearity
    drop: np.ndarray | None = None  # (B, H) recurrent dropout mask on h_{t-1}, or None
    y: np.ndarray | None = None  # (B, T, H) states[0, 1:] batch-first

    def final(self, c: int = 0) -> np.ndarray:
        """The carry c after the last step (B, H): states[c, T], or where the kernels keep
        inference's states as a two-slot ring (C, 2, B, H), its slot T % 2."""
        return self.states[c, self.y.shape[1] % self.states.shape[1]]


def scan_forward(kind, gx, carry0, w_hh, b_hh=None, mask=None, drop=None, *, keep=True,
                 b_ih=None, x=None, w_ih=None, **options) -> ScanCache:
    """Run one direction over time.

    gx: (B, T, G*H) input projections x_t W_ih^T + b_ih (b_hh may be folded in, see
    ``GH_APART`` in ``rnnkit.core.cells``), or without b_ih when it is passed as ``b_ih``
    (G*H,) (the GRU's: the kernels add it per step rather than in a pass over gx); or None,
    with the inputs x (B, T, I) and w_ih (G*H, I) given instead (the numba kernels then
    project each step inside their loop where that is faster); carry0: (C, B, H) the initial
    carry, one (B, H)
    block per name in the cell's CARRY; w_hh: (G*H, H); b_hh: (G*H,) or None; mask: (B, T, 1)
    of 0/1 in gx's dtype, or None when every sequence has length T; drop: (B, H) recurrent
    dropout mask on h_{t-1} in the hidden projection (one for all steps), or None; options:
    the cell's keywords (its settings, an LSTM's ``peephole`` weights, and the layer
    normalisation's ``norm`` gains and biases, which widen acts by NORM_ACTS columns).
    keep=False (inference): acts holds one step, reused, and the result serves no backward.
    """
    cell = CELLS[kind]
    if gx is None:  # x_t W_ih^T of all steps, an array of our own: b_ih goes in in place
        gx = (x.reshape(x.shape[0] * x.shape[1], -1) @ w_ih.T).reshape(*x.shape[:2], -1)
        if b_ih is not None:
            gx += b_ih  # (B, T, G*H)
    elif b_ih is not None:
        gx = gx + b_ih  # (B, T, G*H)
    B, T, _ = gx.shape
    H = w_hh.shape[1]
    states = np.empty((len(cell.CARRY), T + 1, B, H), gx.dtype)  # (C, T+1, B, H)
    states[:, 0] = carry0
    width = cell.ACTS + (cell.NORM_ACTS if options.get("norm") is not None else 0)
    acts = np.empty((T if keep else 1, B, width * H), gx.dtype)  # (T, B, ACTS*H) or (1, ...)
    for t in range(T):
        new = cell.recur(gx[:, t], tuple(states[:, t]), w_hh, b_hh,
                         acts[min(t, len(acts) - 1)], drop=drop, **options)
        for s, a in zip(states, new):  # s: (T+1, B, H), the buffer of one carried array
            s[t + 1] = a if mask is None else mask[:, t] * a + (1 - mask[:, t]) * s[t]
    y = np.ascontiguousarray(states[0, 1:].transpose(1, 0, 2))  # (B, T, H)
    return ScanCache(kind, states, acts, mask, options, drop, y)


def column_sums(a):
    """a.sum(axis=0) of a (N, W), as a product with ones: BLAS's threads read the rows at
    once, 0.35 against 0.6 ms for (6400, 512) float32 (a bias gradient)."""
    return np.ones(a.shape[0], a.dtype) @ a


def bias_sums(dgx, dgh, out=None):
    """(2, W): the sums of dgx and of dgh (B, T, W) over B and T, the gradients of b_ih and
    b_hh (one sum where dgh is dgx), into ``out`` if given."""
    out = np.empty((2, dgx.shape[-1]), dgx.dtype) if out is None else out
    out[0] = column_sums(dgx.reshape(-1, dgx.shape[-1]))
    out[1] = out[0] if dgh is dgx else column_sums(dgh.reshape(-1, dgh.shape[-1]))
    return out


def scan_backward(cache: ScanCache, dys, dcarry, w_hh, w_ih=None, *, sums=None):
    """Backpropagation through time for one direction.

    dys: (B, T, H) gradient of the outputs y * mask; dcarry: (C, B, H) gradient of
    the final carry. Returns (dgx, dgh, dcarry0, dx): gradients of the input projections gx
    (B, T, G*H), of the hidden projections h_{t-1} W_hh^T + b_hh (B, T, G*H; the same array as
    dgx unless the cell keeps them apart), of the initial carry (C, B, H), and of the inputs,
    dx = dgx W_ih (B, T, I), given w_ih (G*H, I) (else None). With a ``norm``, dgx has the
    cell's NORM_GRADS more columns (see the cell). ``sums`` (2, width of dgx), if given,
    receives dgx's and dgh's sums over B and T (the biases' gradients).
    """
    cell, states, mask = CELLS[cache.kind], cache.states, cache.mask
    B, T, H = dys.shape
    width = cell.GATES + (cell.NORM_GRADS if cache.options.get("norm") is not None else 0)
    dgx = np.empty((B, T, width * H), dys.dtype)  # (B, T, G*H)
    dgh = np.empty_like(dgx) if cell.GH_APART else dgx
    dcarry = list(dcarry)  # gradient reaching the carry after step t from later steps
    for t in reversed(range(T)):
        dnew = [dcarry[0] + dys[:, t], *dcarry[1:]]  # h_t is both the output and carry[0]
        if mask is not None:  # a padded step passes its carry through; its zero output
            skip = [(1 - mask[:, t]) * d for d in dcarry]  # sends no gradient
            dnew = [mask[:, t] * d for d in dnew]
        dgx[:, t], dgh[:, t], dcarry = cell.recur_backward(
            dnew, tuple(states[:, t]), tuple(states[:, t + 1]), cache.acts[t], w_hh,
            drop=cache.drop, **cache.options)
        if mask is not None:
            dcarry = [d + s for d, s in zip(dcarry, skip)]
    dx = None if w_ih is None else (dgx.reshape(B * T, -1) @ w_ih).reshape(B, T, -1)
    if sums is not None:
        bias_sums(dgx, dgh, sums)
    return dgx, dgh, np.stack(dcarry), dx
