"""Which way a direction's time loop runs in ``rnnkit.core.kernels``, from its shape.

* ``fused``: small ``B * G*H * H`` (``FUSED_MAX_MACS``): the whole loop inside one numba
  function on one thread, where Python and BLAS call overheads would dominate;
* ``shards`` > 1: up to a batch of ``SHARDED_MAX_BATCH`` and a per-row product the loop runs
  faster than OpenBLAS (``loop_beats_blas``), the batch split into one shard per core, each
  thread running all T steps on its rows;
* ``shards`` == 0: OpenBLAS's products from a Python loop over time.

The limits are measured (benchmarks/loop_paths.py, benchmarks/README.md) and depend on
OpenBLAS's kernels (``rnnkit.core.blas.blas_architecture``) and its threads
(``rnnkit.core.threads.cores``).
"""
from __future__ import annotations

from rnnkit.core.blas import blas_architecture
from rnnkit.core.threads import cores

FUSED_MAX_MACS = 1 << 17  # B * G*H * H per step up to which the whole loop stays in numba
# Above FUSED_MAX_MACS, up to this batch and this G*H*H: the numba loop, one shard a core
# (benchmarks/loop_paths.py, measured in benchmarks/README.md). On a 2-core EPYC whose OpenBLAS
# ran AVX2 kernels: faster at batch 16-64 for every kind to H = 256 and for the GRU and RNN at
# H = 512 (GRU (64,100,256,512) 396 against 458 ms), slower for the LSTM at H = 512 (578
# against 531) and mixed at batch 128-256. Where OpenBLAS runs AVX-512 kernels its products
# win from H = 512 on (2-core Xeon, GRU (64,100,256,512) 313-339 against 277-281 ms): the
# loop takes H up to 256 there.
SHARDED_MAX_BATCH = 64
SHARDED_MAX_GATE_MACS = 3 * 512 * 512
SHARDED_MAX_HIDDEN_AVX512_BLAS = 256
AVX512_BLAS = ("skylakex", "cooperlake", "sapphirerapids")  # OpenBLAS's names for them


def fused(B, H, G) -> bool:
    """Whether the whole loop stays in one numba function on one thread."""
    return B * G * H * H <= FUSED_MAX_MACS


def shards(B, H, G) -> int:
    """How the time loop runs: 1, the numba loop on one thread (small shapes); more, the
    numba loop with the batch split over that many threads; 0, BLAS products from Python."""
    if fused(B, H, G):
        return 1
    if B <= SHARDED_MAX_BATCH and loop_beats_blas(H, G):
        return max(1, min(cores(), B))
    return 0


def loop_beats_blas(H, G) -> bool:
    """Whether a row's product G*H*H is one the batch-sharded loop runs faster than
    OpenBLAS: up to SHARDED_MAX_GATE_MACS, and H up to 256 where OpenBLAS has AVX-512
    kernels (see SHARDED_MAX_GATE_MACS)."""
    if G * H * H > SHARDED_MAX_GATE_MACS:
        return False
    arch = blas_architecture()
    return arch is None or arch.lower() not in AVX512_BLAS or H <= SHARDED_MAX_HIDDEN_AVX512_BLAS
