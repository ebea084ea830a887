"""Which way a direction's time loop runs in ``rnnkit.core.kernels``, from its shape.

* ``fused``: small ``B * G*H * H`` (``FUSED_MAX_MACS``): the whole loop inside one numba
  function on one thread, where thread start-up would dominate;
* ``shards`` > 1: up to a batch of ``SHARDED_MAX_BATCH`` and a per-row product of
  ``SHARDED_MAX_GATE_MACS`` (``loop_beats_blas``), the batch split into one shard per core,
  each thread running all T steps on its rows;
* ``shards`` == 0: OpenBLAS's products from a Python loop over time.

In the numba loops, each step also computes its own input projection x_t W_ih^T where the
packed W_ih^T and W_hh^T fit together in a core's L2 cache or take up to 2 MB
(``projects_in_loop``); elsewhere the projections of all steps are one product before the
loop. The products outside the loops (that projection, dx, the weight gradients, the heads)
run on the loops' register tile where NumPy's BLAS runs narrower vectors than it
(``products_on_tile``), else on that BLAS.

The limits are measured (benchmarks/loop_paths.py, benchmarks/README.md) with the loop's
register-tiled product (``rnnkit.core.gemm``) against OpenBLAS's AVX-512 kernels on a 2-core
Xeon, and against its AVX2 (Haswell) kernels on a 2-core AMD EPYC (session 18); the shards
follow OpenBLAS's threads (``rnnkit.core.threads.cores``).
"""
from __future__ import annotations

import functools
import glob

from rnnkit.core.blas import blas_architecture
from rnnkit.core.jit_math import VECTOR_BYTES
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


L2_FALLBACK_BYTES = 1 << 20  # where the kernel does not say (not Linux)
CACHES = "/sys/devices/system/cpu/cpu0/cache"


def _cache_of(level: str, caches: str):
    """(size in bytes, CPUs sharing it) of the unified or data cache of this level, as Linux
    lists it in ``caches``; None where it does not."""
    for index in sorted(glob.glob(f"{caches}/index*")):
        try:
            with open(f"{index}/level") as f:
                found = f.read().strip()
            with open(f"{index}/type") as f:
                kind = f.read().strip()
            with open(f"{index}/size") as f:
                size = f.read().strip()
        except OSError:
            continue
        if found == level and kind in ("Unified", "Data"):
            scale = {"K": 1 << 10, "M": 1 << 20}.get(size[-1:].upper(), 1)
            try:
                nbytes = int(size.rstrip("KkMm")) * scale
            except ValueError:
                return None
            return nbytes, _cpus_in(f"{index}/shared_cpu_list")
    return None


def _cpus_in(path: str) -> int:
    """How many CPUs a list such as '0-1,4' in the file names; 1 where it cannot be read."""
    try:
        with open(path) as f:
            parts = f.read().strip().split(",")
        count = 0
        for part in parts:  # "0-1" or "4"
            first, _, last = part.partition("-")
            count += int(last or first) - int(first) + 1
        return max(1, count)
    except (OSError, ValueError):
        return 1


@functools.cache
def l2_bytes(caches: str = CACHES) -> int:
    """The L2 (unified or data) cache of one core, in bytes, as Linux lists it in
    ``caches``; L2_FALLBACK_BYTES where it does not."""
    found = _cache_of("2", caches)
    return found[0] if found else L2_FALLBACK_BYTES


@functools.cache
def l3_share_bytes(caches: str = CACHES) -> int:
    """A core's share of the L3 cache: its size over the CPUs that share it, as Linux lists
    them in ``caches``; 0 where it does not."""
    found = _cache_of("3", caches)
    return found[0] // found[1] if found else 0


PROJECT_IN_LOOP_BYTES = 2 << 20  # W_ih^T and W_hh^T up to which the loop projects x_t itself


def projects_in_loop(I, H, G, itemsize) -> bool:
    """Whether the numba loop computes each step's x_t W_ih^T itself, with its per-step
    product, rather than taking all steps' projections from one product before it (and
    backwards dx_t = dG_t W_ih the same way): where W_ih^T and W_hh^T, ``(I + H) * G*H``
    entries, fit in a core's L2 or its share of L3, or take up to PROJECT_IN_LOOP_BYTES.
    Then gx (B, T, G*H) is neither written to memory nor read back, and the tile streams the
    panels from L3 where they do not fit in L2 (it prefetches them, ``rnnkit.core.gemm``).
    Measured on the 2-core EPYC (Zen 5, 1 MB L2, 32 MB L3 for both cores), LSTM, in the loop
    / one product first, ms, forward and training step: (16,200,64,256) 1.3 MB 5.65 / 5.98,
    19.74 / 19.98 (session 18); (64,100,512,256) 3 MB 22.4 / 24.7, 71.5 / 76.6;
    (64,100,256,512) 6 MB 43.8 / 45.0, 137.2 / 138.8; (32,100,512,512) 8 MB 31.0 / 32.7,
    95.1 / 100.8; (64,50,1024,512) 12.6 MB 45.9 / 49.8, 140.9 / 146.6; past the 16 MB share,
    (32,50,2048,512) 21 MB 51.6 / 45.8, 140.9 / 126.1 (session 19). On the 2-core Xeon
    (Sapphire Rapids, 2 MB L2), before the tile prefetched its panels, the weights past L2
    lost: (64,100,512,256) 3 MB 34.7 / 31.8, (64,100,256,512) 6 MB 76 / 68 (forward)."""
    return (I + H) * G * H * itemsize <= max(l2_bytes(), l3_share_bytes(),
                                              PROJECT_IN_LOOP_BYTES)


TILE_MIN_MACS = 1 << 27  # multiply-adds from which a product after the loop may take the tile


def input_grad_on_tile(R, K, N, itemsize, nr) -> bool:
    """Whether dx = dG W_ih, a product after the loop of (R, K=G*H) by (K, N=I), runs on the
    loops' register tile (``rnnkit.core.gemm``), the rows split over the cores, rather than
    NumPy's BLAS: where the packed W_ih fits in a core's L2, N is at least two panels of nr
    columns and the product has TILE_MIN_MACS multiply-adds. Measured on the 2-core Xeon,
    float32, ms, OpenBLAS / tile: (6400, 2048, 256) 18.1 / 16.6-17.0, (6400, 1536, 256) 13.4
    / 11.8-12.1, (6400, 4096, 128) 20.2 / 17.7-18.2, (6400, 512, 256) 4.6 / 4.1-4.2,
    (6400, 2048, 64) 5.7 / 4.2, (3200, 512, 128) 1.38 / 1.18; on one thread each (6400,
    2048, 256) 35.3 / 33.0; past L2 the tile is slower, (6400, 2048, 512) 33.5 / 34.2-35.4,
    as with N = 32, (2000, 1024, 32) 0.61 / 0.70, and with few rows, (640, 1536, 128) 0.76 /
    1.20 (benchmarks/README.md, session 17)."""
    return (N >= 2 * nr and K * N * itemsize <= l2_bytes()
            and R * K * N >= TILE_MIN_MACS)


# OpenBLAS's core types with AVX-512 sgemm kernels (the names threadpoolctl reports)
AVX512_BLAS_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})
PRODUCT_MIN_MACS = 1 << 22  # multiply-adds from which a product may take the tile
PRODUCT_MIN_ROWS = 64  # rows of the result from which a product may take the tile
PRODUCT_MIN_COLS = 16  # columns of the result from which it may: half a float32 panel
# OpenBLAS (interface/gemm.c, gemv.c) splits a product over its threads from M*K*N of
# 65536 * GEMM_MULTITHREAD_THRESHOLD (4) up, a matrix-vector product from m*n = 2304 * 4
BLAS_THREADED_MACS = 65536 * 4
BLAS_THREADED_GEMV = 2304 * 4


@functools.cache
def blas_is_narrower() -> bool:
    """Whether NumPy's BLAS runs narrower vectors than the register tile: the tile runs on
    AVX-512 (``rnnkit.core.jit_math.VECTOR_BYTES``) and NumPy's OpenBLAS on an AVX2 core type
    (``OPENBLAS_CORETYPE=Haswell`` on an AVX-512 machine, or a CPU newer than its build).
    False for other BLAS libraries (MKL, Accelerate), which are left to choose."""
    arch = blas_architecture()
    return VECTOR_BYTES == 64 and arch is not None and arch.lower() not in AVX512_BLAS_CORES


def products_on_tile(M, K, N) -> bool:
    """Whether a product outside the time loops, (M, K) by (K, N), runs on the loops'
    register tile on all the cores (``rnnkit.core.gemm.matmul``) rather than NumPy's BLAS:
    where the BLAS is the narrower (``blas_is_narrower``), from PRODUCT_MIN_MACS multiply-adds,
    PRODUCT_MIN_ROWS rows and PRODUCT_MIN_COLS columns up. Measured on a 2-core AMD EPYC (Zen
    5, AVX-512) with ``OPENBLAS_CORETYPE=Haswell``, float32, ms, OpenBLAS / tile, packing
    included: the LSTM's input projection (6400, 256, 2048) 27.8 / 13.9, dx (6400, 2048, 256)
    29.5 / 14.7, the joined dW (768, 6400, 2048) 82.2 / 47.8, (3200, 32, 1024) 1.07 / 0.65,
    (640, 64, 256) 0.097 / 0.071, (6400, 2048, 16) 3.99 / 2.74; level at (1600, 64, 256)
    0.225 / 0.239; slower with few rows, (32, 3200, 1024) 1.27 / 1.49, few columns, (6400,
    512, 8) 0.40 / 0.46 and (6400, 2048, 1) 0.73 / 2.66 (a matrix-vector product in a panel of
    32 columns: an input of one feature's dx), and small, (1, 1600, 256) 0.022 / 0.092
    (benchmarks/README.md, session 18)."""
    return (blas_is_narrower() and M >= PRODUCT_MIN_ROWS and N >= PRODUCT_MIN_COLS
            and M * K * N >= PRODUCT_MIN_MACS)


def small_product(M, K, N) -> bool:
    """Whether a product (M, K) by (K, N) that does not take the tile on all the cores
    (``products_on_tile``) runs on the calling thread (``rnnkit.core.gemm.dot``) rather than
    NumPy's BLAS: where OpenBLAS would split it over its threads (from BLAS_THREADED_MACS,
    or BLAS_THREADED_GEMV for one column or row), whose busy-waiting afterwards holds up
    the next time loop's second shard (``rnnkit.core.narrow``), and it has fewer than
    PRODUCT_MIN_MACS multiply-adds, a few tens of microseconds on one core."""
    macs = M * K * N
    threaded = (M * K if N == 1 else K * N) >= BLAS_THREADED_GEMV if min(M, N) == 1 \
        else macs >= BLAS_THREADED_MACS
    return threaded and macs < PRODUCT_MIN_MACS
