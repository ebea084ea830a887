"""Running a numba loop over the rows of a batch on several threads at once.

The batch-sharded time loops of ``rnnkit.core.kernels`` release the GIL (``nogil``), so
plain threads run them in parallel. The threads are started by each call, not kept in a
pool, and numba's OpenMP threading layer is not used: a pool's threads, and GNU OpenMP, do
not survive a fork (GNU OpenMP terminates a child that forked after using it).
"""
from __future__ import annotations

import os
import threading

from rnnkit.core.blas import blas_threads


def cores() -> int:
    """The cores this process may run on, at most as many as OpenBLAS's threads (so that
    ``OPENBLAS_NUM_THREADS=1`` or ``threadpoolctl.threadpool_limits(1)`` runs one shard)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = blas_threads()
    return max(1, min(n, threads)) if threads else n


def run_sharded(loop, args, B, shards):
    """loop(*args, lo, hi) for each of ``shards`` contiguous row ranges of a batch of B rows,
    the first on this thread, the others on threads started here; an exception in any of them
    is raised here, after all have finished."""
    bounds = [(s * B // shards, (s + 1) * B // shards) for s in range(shards)]
    errors = []

    def run(lo, hi):
        try:
            loop(*args, lo, hi)
        except BaseException as exc:  # re-raised on the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=b) for b in bounds[1:]]
    for thread in threads:
        thread.start()
    run(*bounds[0])
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
