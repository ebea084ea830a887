"""Where an LSTM training step's time goes in rnnkit, at the shapes of ``rnnkit bench``.

    python benchmarks/where_time_goes.py                 # the five shapes, Markdown table
    python benchmarks/where_time_goes.py --shapes 32,50,1,64 --repeat 5

For each (B, T, I, H), float32, each part timed alone (median of --repeat runs):

* step: ``layer.forward(x)`` + ``layer.backward(dy)`` (what the layer table times);
* loop: the time loops alone, ``kernels.scan_forward`` + ``scan_backward``, given gx (and
  without dx) where the loops do not compute x_t W_ih^T (dG_t W_ih) themselves (before
  session 15 they were given x and W_ih there, and so also ran the products counted in
  "outside GEMMs", which inflated the loop overhead and made the rest negative);
* GEMM: the per-step products alone, h_{t-1} W_hh^T forward and dG_t W_hh backward, and
  where the numba loops take them (``rnnkit.core.paths.projects_in_loop``) x_t W_ih^T and
  dG_t W_ih too, the way the kernels run them at that shape (``rnnkit.core.paths``: OpenBLAS
  from a Python loop, or the register-tiled product of ``rnnkit.core.gemm`` inside numba
  loops, on one thread or one shard of the batch per core);
* elementwise: the fused step kernels of all 2T steps alone, inside one numba loop, on the
  same shards of the batch as the loops;
* loop overhead: loop - GEMM - elementwise (the Python loop over time, numba dispatch, the
  buffers);
* outside GEMMs: the products over all steps at once (dW_ih, dW_hh, or both in one product
  with the copy of its rows where ``weight_grads.joins_weight_grads``, and x W_ih^T and dx
  where the loops do not compute them step by step, dx as the layer runs it,
  ``kernels.times_weight``);
* rest: step - loop - outside GEMMs (bias sums, input checks, copies, Python);
* threads: the per-step GEMMs with OpenBLAS limited to 1 thread (threadpoolctl) against
  its default (2 on this machine).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit

import rnnkit
from rnnkit.core import kernels, paths, spin, step_kernels, weight_grads
from rnnkit.core.gemm import dot, input_projection, matmul_packed, pack, panel_width
from rnnkit.core.threads import run_sharded

SHAPES = [(1, 100, 10, 20), (32, 50, 1, 64), (64, 100, 128, 128), (16, 200, 64, 256),
          (64, 100, 256, 512)]


WARMUP = 5  # calls before timing: numba compilation, and glibc's heap reaching the sizes
# a step needs (the first steps fault in fresh pages: ~290 faults a step over the first 50
# LSTM steps at (64,100,128,128), none after)


def median_seconds(fn, repeat: int) -> float:
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


JIT = {**kernels._JIT, "cache": False}  # the kernels' flags: fastmath decides vectorisation


@njit(**JIT, nogil=True)
def _loop_products(hs, w_t, gh, dgx, w_hh, dgemm, x, w_x, xb, dx, w_dx, lo, hi, sync):
    """The per-step products of the numba loops on rows lo..hi-1: h_{t-1} W_hh^T and
    dG_t W_hh, with w_t and w_hh packed (``gemm.pack``), and x_t W_ih^T into xb and
    dG_t W_ih into dx where w_x and w_dx (packed W_ih^T and W_ih) are not empty."""
    spin.announce(sync)  # as the loops do (``rnnkit.core.threads``)
    for t in range(dgx.shape[0]):
        if w_x.shape[0]:
            matmul_packed(x[:, t], lo, w_x, xb[lo:hi])
        matmul_packed(hs[t], lo, w_t, gh[lo:hi])
    for t in range(dgx.shape[0] - 1, -1, -1):
        matmul_packed(dgx[t], lo, w_hh, dgemm[lo:hi])
        if w_dx.shape[0]:
            matmul_packed(dgx[t], lo, w_dx, dx[lo:hi, t])


@njit(**JIT, nogil=True)
def _elementwise(gx, gh, b, mask, peep, states, acts, dys, dgemm, dcarry, dgx, lo, hi, sync):
    """The LSTM step kernels of all T steps forward and backward on rows lo..hi-1, without
    the products."""
    spin.announce(sync)
    gh, dgemm = gh[lo:hi], dgemm[lo:hi]
    dgs = np.empty((hi - lo, dgx.shape[2]), dgx.dtype)  # (M, 4H) one step's gate gradients
    for t in range(gx.shape[1]):
        step_kernels._lstm_step(t, lo, gx, t, gh, b, mask, 0, peep, states, acts)
    for t in range(gx.shape[1] - 1, -1, -1):
        step_kernels._lstm_step_back(t, lo, dys, dgemm, dcarry, mask, 0, peep, states, acts,
                                     dgs, dgs)
        kernels._put_rows(dgs, dgx, t, lo)  # into the batch-first dgx, as the loops do


def blas_products(hs, w_t, gh, dgx, w_hh, dgemm):
    """The 2T recurrent products of the BLAS path, as ``kernels`` runs them."""
    for t in range(dgx.shape[0]):
        np.matmul(hs[t], w_t, out=gh)
    for t in range(dgx.shape[0] - 1, -1, -1):
        np.matmul(dgx[t], w_hh, out=dgemm)


def measure(B, T, I, H, repeat) -> dict:
    """Seconds of each part (see the module doc) for one shape."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    f32 = np.float32
    layer = rnnkit.LSTM(I, H, seed=0)
    x = rng.standard_normal((B, T, I)).astype(f32)  # (B, T, I)
    dy = rng.standard_normal((B, T, H)).astype(f32)  # (B, T, H)
    w_ih, w_hh = layer.params["weight_ih_l0"], layer.params["weight_hh_l0"]  # (4H, I), (4H, H)
    gx = rng.standard_normal((B, T, 4 * H)).astype(f32)  # (B, T, 4H)
    carry = [np.zeros((B, H), f32), np.zeros((B, H), f32)]
    dys = dy  # (B, T, H): the scans take and return batch-first arrays
    sc = kernels.scan_forward("lstm", gx, carry, w_hh)
    dgx = rng.standard_normal((T, B, 4 * H)).astype(f32)  # (T, B, 4H) one step's rows a block
    gh, dgemm = np.empty((B, 4 * H), f32), np.empty((B, H), f32)
    w_t = np.ascontiguousarray(w_hh.T)  # (H, 4H)
    shards = paths.shards(B, H, 4)
    project = bool(shards) and paths.projects_in_loop(I, H, 4, 4)  # x_t W_ih^T in the loop
    project_dx = project and 2 * I >= panel_width(f32)  # and dG_t W_ih
    none = np.empty((0, 0, 0), f32)
    if shards:
        args = (sc.states[0], pack(w_t), gh, dgx, pack(w_hh), dgemm, x,
                pack(np.ascontiguousarray(w_ih.T)) if project else none,
                np.empty((B, 4 * H), f32), np.empty((B, T, I), f32),
                pack(w_ih) if project_dx else none)

        def products(*args):
            run_sharded(_loop_products, args, B, shards)
    else:
        products, args = blas_products, (sc.states[0], w_t, gh, dgx, w_hh, dgemm)
    x2 = x.reshape(B * T, I)
    dgx2 = dgx.reshape(B * T, 4 * H)

    def step():
        layer.forward(x)
        layer.backward(dy)

    gx_given = (x2 @ w_ih.T).reshape(B, T, 4 * H)  # where the loop does not project x_t

    def loop():  # as the layer runs them; the products before and after them are "outside"
        forward = (kernels.scan_forward("lstm", None, carry, w_hh, x=x, w_ih=w_ih) if project
                   else kernels.scan_forward("lstm", gx_given, carry, w_hh))
        kernels.scan_backward(forward, dys, carry, w_hh, w_ih if project_dx else None)

    joined = weight_grads.joins_weight_grads(I, H)  # dW_ih and dW_hh as one product, as the layer
    h0 = np.zeros((B, H), f32)
    g_ih, g_hh = np.zeros((4 * H, I), f32), np.zeros((4 * H, H), f32)  # what they add into

    def outside():
        if joined:
            weight_grads._joined_weight_grads(dgx2.reshape(B, T, 4 * H), x, sc.y, h0, g_ih, g_hh)
        else:  # as stack.recurrent_backward: on the tile or OpenBLAS (gemm.dot)
            dot(dgx2, x2, a_transposed=True)
            weight_grads._recurrent_weight_grad(dgx2.reshape(B, T, 4 * H), sc.y, h0)
        if not project:
            input_projection(x2, w_ih)
        if not project_dx:
            kernels.times_weight(dgx2, w_ih)  # dG W_ih, on the tile or OpenBLAS as the layer

    # copies made once, not timed
    elementwise_args = (gx, gh, np.zeros(4 * H, f32), np.empty((0, 0), f32), np.empty(0, f32),
                        sc.states.copy(), sc.acts.copy(), dys, np.zeros((B, H), f32),
                        np.zeros((2, B, H), f32), np.empty((B, T, 4 * H), f32))
    parts = {"step": step, "loop": loop, "GEMM": lambda: products(*args), "outside": outside,
             "elementwise": lambda: run_sharded(_elementwise, elementwise_args, B,
                                                max(shards, 1))}
    got = {name: median_seconds(fn, repeat) for name, fn in parts.items()}
    with threadpool_limits(limits=1, user_api="blas"):
        one = (lambda: run_sharded(_loop_products, args, B, 1)) if shards else (
            lambda: products(*args))
        got["GEMM 1 thread"] = median_seconds(one, repeat)
        got["outside 1 thread"] = median_seconds(outside, repeat)
    got["path"] = ("BLAS", "fused")[shards] if shards < 2 else f"{shards} shards"
    got["path"] += ", x W_ih^T" * project + ", dx" * project_dx + " in the loop" * project
    got["path"] += ", dW_ih and dW_hh joined" * joined
    return got


def row(shape, s) -> str:
    step = s["step"]
    overhead = s["loop"] - s["GEMM"] - s["elementwise"]
    rest = step - s["loop"] - s["outside"]
    pct = [f"{1e3 * v:.2f} ({100 * v / step:.0f}%)" for v in
           (s["GEMM"], s["elementwise"], overhead, s["outside"], rest)]
    threads = f"{1e3 * s['GEMM 1 thread']:.2f} / {1e3 * s['GEMM']:.2f}"
    return (f"| {','.join(map(str, shape))} | {s['path']} | "
            f"{1e3 * step:.2f} | " + " | ".join(pct) + f" | {threads} | "
            f"{1e3 * s['outside 1 thread']:.2f} / {1e3 * s['outside']:.2f} |")


HEAD = ("| B,T,I,H | path | step ms | in-loop GEMMs ms | elementwise ms | loop overhead ms "
        "| outside GEMMs ms | rest ms | GEMM 1 / 2 threads ms | outside 1 / 2 threads ms |\n"
        "|---|---|---|---|---|---|---|---|---|---|")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=";".join(",".join(map(str, s)) for s in SHAPES),
                        help="B,T,I,H shapes separated by ';' (default: the table's five)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per part")
    args = parser.parse_args()
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes.split(";")]
    print(HEAD, flush=True)
    for shape in shapes:
        print(row(shape, measure(*shape, args.repeat)), flush=True)


if __name__ == "__main__":
    main()
