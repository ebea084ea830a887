"""The two time-loop paths of ``rnnkit.core.kernels`` against each other and torch.

    python benchmarks/loop_paths.py                           # lstm, gru, rnn at two shapes
    python benchmarks/loop_paths.py --kinds lstm --shapes 16,200,64,256 --threads 1

For each kind and (B, T, I, H), float32, the layer table's workloads (``rnnkit bench``: a
training step and a forward pass, the same weights as torch) run three ways, interleaved in
one process after a warm-up with an untimed call after each switch: rnnkit on the BLAS path
(OpenBLAS products from a Python loop over time), rnnkit on the numba loop (the batch split
into one shard per core, whatever ``SHARDED_MAX_BATCH`` and ``SHARDED_MAX_GATE_MACS``
say), and torch. Prints medians in ms
and ratios to torch. ``--threads 1`` limits OpenBLAS, torch and the numba loop's shards to
one thread each: on a machine shared with other jobs, the only comparison of the paths' work
that holds.
"""
from __future__ import annotations

import argparse

import numpy as np
from threadpoolctl import threadpool_limits

from rnnkit.cli.bench import _import_torch, _pair
from rnnkit.cli.bench_timing import interleaved
from rnnkit.core import paths


def _on_path(fn, max_batch):
    """fn run with paths.SHARDED_MAX_BATCH = max_batch (0: BLAS path above the small shapes)
    and no limit on G*H*H."""
    def run():
        paths.SHARDED_MAX_BATCH = max_batch
        paths.SHARDED_MAX_GATE_MACS = 1 << 62
        fn()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", default="lstm,gru,rnn")
    parser.add_argument("--shapes", default="16,200,64,256;64,100,128,128",
                        help="B,T,I,H;B,T,I,H;...")
    parser.add_argument("--threads", type=int, default=0, help="0: each library's default")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    torch = _import_torch()
    limit = threadpool_limits(args.threads) if args.threads else None
    if args.threads:
        torch.set_num_threads(args.threads)
        paths.cores = lambda: args.threads  # one shard a thread
    default = (paths.SHARDED_MAX_BATCH, paths.SHARDED_MAX_GATE_MACS)
    for kind in args.kinds.split(","):
        for shape in args.shapes.split(";"):
            B, T, I, H = (int(v) for v in shape.split(","))
            pair = _pair(torch, kind, B, T, I, H)
            for op, (rnnkit_fn, torch_fn) in pair.items():
                fns = [_on_path(rnnkit_fn, 0), _on_path(rnnkit_fn, 1 << 30), torch_fn]
                blas, loop, ref = (float(np.median(t)) * 1e3
                                   for t in interleaved(fns, args.repeat, warmup=1))
                load = open("/proc/loadavg").read().split()[0]
                print(f"{kind} {B},{T},{I},{H} {op}: BLAS {blas:.1f} ms ({blas / ref:.2f}x), "
                      f"loop {loop:.1f} ms ({loop / ref:.2f}x), torch {ref:.1f} ms; "
                      f"load {load}", flush=True)
    paths.SHARDED_MAX_BATCH, paths.SHARDED_MAX_GATE_MACS = default
    if limit is not None:
        limit.restore_original_limits()


if __name__ == "__main__":
    main()
