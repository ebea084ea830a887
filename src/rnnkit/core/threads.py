"""Running a numba loop over the rows of a batch on several threads at once.

The batch-sharded time loops of ``rnnkit.core.kernels`` release the GIL (``nogil``), so
plain threads run them in parallel. The threads are kept between calls, each waiting on a
lock of its own: handing a shard to a waiting thread and back took 59 us on the 2-core Xeon,
starting and joining a thread 98 us (an LSTM layer's forward at (32,50,1,64) is ~800 us).
numba's OpenMP threading layer is not used (GNU OpenMP terminates a child that forked after
using it); after a fork the child starts threads of its own when it first needs them
(``os.register_at_fork``). A call made while another thread is using the kept threads
starts threads of its own, as before.
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


class _Worker:
    """A daemon thread that runs one job at a time: ``post`` hands it one, ``wait`` returns
    when it is done."""

    def __init__(self):
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._job = None
        threading.Thread(target=self._serve, daemon=True, name="rnnkit-shard").start()

    def _serve(self):
        while True:
            self._go.acquire()
            self._job()
            self._done.release()

    def post(self, job):
        self._job = job
        self._go.release()

    def wait(self):
        self._done.acquire()


class _Pool:
    def __init__(self):
        self.busy = threading.Lock()  # held by the call using the workers
        self.workers: list[_Worker] = []

    def take(self, n):
        """n workers, started the first time they are needed, if no other call holds them
        (then the caller releases ``busy``); else None."""
        if not self.busy.acquire(blocking=False):
            return None
        while len(self.workers) < n:
            self.workers.append(_Worker())
        return self.workers[:n]


_pool = _Pool()


def _abandon(pool):
    """Replace ``pool`` by a new one; its threads finish what they run, then wait forever."""
    global _pool
    if _pool is pool:
        _pool = _Pool()


def _new_pool_in_child():
    _abandon(_pool)  # the parent's threads do not exist in a forked child


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_pool_in_child)


def run_sharded(loop, args, B, shards):
    """loop(*args, lo, hi) for each of ``shards`` contiguous row ranges of a batch of B rows,
    the first on this thread, the others on kept threads (or threads started here while
    another call uses those); an exception in any of them is raised here, after all have
    finished."""
    bounds = [(s * B // shards, (s + 1) * B // shards) for s in range(shards)]
    errors = []

    def job(lo, hi):
        def run():
            try:
                loop(*args, lo, hi)
            except BaseException as exc:  # re-raised on the calling thread
                errors.append(exc)
        return run

    pool = _pool
    workers = pool.take(shards - 1) if shards > 1 else None
    if shards <= 1:
        job(*bounds[0])()
    elif workers is None:  # another call holds the kept threads
        threads = [threading.Thread(target=job(*b)) for b in bounds[1:]]
        for thread in threads:
            thread.start()
        job(*bounds[0])()
        for thread in threads:
            thread.join()
    else:
        waited = 0
        try:
            for worker, b in zip(workers, bounds[1:]):
                worker.post(job(*b))
            job(*bounds[0])()
            for worker in workers:
                worker.wait()
                waited += 1
        finally:
            if waited == len(workers):
                pool.busy.release()
            else:  # interrupted (Ctrl-C) while a worker may still run: never hand it a job
                _abandon(pool)
    if errors:
        raise errors[0]
