"""Which way a direction's time loop runs in ``rnnkit.core.kernels``, from its shape.

* ``fused``: small ``B * G*H * H`` (``FUSED_MAX_MACS``): the whole loop inside one numba
  function on one thread, where thread start-up would dominate;
* ``shards`` > 1: up to a batch of ``SHARDED_MAX_BATCH`` and a per-row product of
  ``SHARDED_MAX_GATE_MACS`` (``loop_beats_blas``), the batch split into one shard per core,
  each thread running all T steps on its rows;
* ``shards`` == 0: OpenBLAS's products from a Python loop over time.

The limits are measured (benchmarks/loop_paths.py, benchmarks/README.md) with the loop's
register-tiled product (``rnnkit.core.gemm``) against OpenBLAS's AVX-512 kernels, and the
shards follow OpenBLAS's threads (``rnnkit.core.threads.cores``).
"""
from __future__ import annotations

from rnnkit.core.threads import cores

FUSED_MAX_MACS = 1 << 17  # B * G*H * H per step up to which the whole loop stays in numba
# Above FUSED_MAX_MACS, up to this batch and this G*H*H: the numba loop, one shard a core.
# Measured on the 2-core Xeon (AVX-512 OpenBLAS), training step loop / BLAS path in ms: LSTM
# (64,100,256,512) 288 / 340, (256,50,128,256) 153 / 182, GRU (64,100,256,512) 218 / 270;
# past it LSTM (64,20,512,1024), W_hh 16 MB read by both cores at every step, 235 / 214.
# Batches above 256 were not measured.
SHARDED_MAX_BATCH = 256
SHARDED_MAX_GATE_MACS = 4 * 512 * 512


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
    OpenBLAS: up to SHARDED_MAX_GATE_MACS (the LSTM to H = 512)."""
    return G * H * H <= SHARDED_MAX_GATE_MACS
