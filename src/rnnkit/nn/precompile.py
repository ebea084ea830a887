"""Compile the numba kernels ahead of their first use, into numba's on-disk cache.

    python -m rnnkit.nn.precompile            # float32 and float64, one process each
    python -m rnnkit.nn.precompile float32    # one dtype in this process

The first call of each kernel for a dtype compiles it (about a minute for all of them on
one core), and every later process loads it from the cache beside the source files. After
an install, this does that once for both dtypes in parallel, so that no user's first run (or
each of the test suite's workers) compiles the same kernels again. It runs every path of
``rnnkit.core.kernels`` (the numba loop on one thread, the batch-sharded loop, the step
kernels of the BLAS path; forward, inference and backward) for every cell kind, with and
without padding masks, the streaming kernel for 1-D and 2-D inputs, and the cross-entropy
loss's kernels.
"""
from __future__ import annotations

import subprocess
import sys
import time

DTYPES = ("float32", "float64")


def compile_dtype(dtype: str) -> None:
    """Run each kernel once on tiny inputs of ``dtype``."""
    import numpy as np

    from rnnkit.core import paths
    from rnnkit.nn.losses import CrossEntropyLoss
    from rnnkit.nn.module import no_grad
    from rnnkit.nn.recurrent import LAYERS

    dt = np.dtype(dtype)
    saved = paths.FUSED_MAX_MACS, paths.SHARDED_MAX_BATCH, paths.cores
    try:
        paths.cores = lambda: 2
        for fused, sharded in ((1 << 40, 0), (0, 1 << 40), (0, 0)):  # fused, sharded, BLAS
            paths.FUSED_MAX_MACS, paths.SHARDED_MAX_BATCH = fused, sharded
            for kind, layer_class in LAYERS.items():
                layer = layer_class(3, 4, dtype=dt, seed=0)
                x = np.ones((2, 5, 3), dt)  # (B, T, I)
                for lengths in (None, np.array([5, 3])):
                    y, _ = layer.forward(x, lengths=lengths)
                    layer.backward(np.ones_like(y))
                    with no_grad():
                        layer.forward(x, lengths=lengths)
    finally:
        paths.FUSED_MAX_MACS, paths.SHARDED_MAX_BATCH, paths.cores = saved
    for kind, layer_class in LAYERS.items():
        stream = layer_class(3, 4, dtype=dt, seed=0).stream(batch_size=2)
        stream.step(np.ones((2, 3), dt))
        layer_class(3, 4, dtype=dt, seed=0).stream().step(np.ones(3, dt))
    loss = CrossEntropyLoss()
    loss.forward(np.ones((2, 3), dt), np.array([0, 2]))
    loss.backward()


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    unknown = sorted(set(args) - set(DTYPES))
    if unknown:
        print(f"precompile: unknown dtype {', '.join(unknown)} (choose from "
              f"{', '.join(DTYPES)})", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    from rnnkit.core.kernel_cache import drop_stale

    if drop_stale():  # numba would keep kernels that inline an edited source
        print("rnnkit: the kernels' sources changed; their numba cache was dropped")
    if len(args) == 1:
        compile_dtype(args[0])
        return 0
    procs = [subprocess.Popen([sys.executable, "-m", "rnnkit.nn.precompile", dtype])
             for dtype in (args or DTYPES)]
    codes = [p.wait() for p in procs]
    print(f"rnnkit: numba kernels compiled and cached in {time.monotonic() - t0:.0f} s")
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
