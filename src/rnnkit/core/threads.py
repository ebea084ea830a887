"""Running a numba loop over the rows of a batch on several threads at once.

The batch-sharded time loops of ``rnnkit.core.kernels`` release the GIL (``nogil``), so
plain threads run them in parallel. The threads are kept between calls, each waiting on a
lock of its own: handing a shard to a waiting thread and back took 59 us on the 2-core Xeon,
starting and joining a thread 98 us (an LSTM layer's forward at (32,50,1,64) is ~800 us).
numba's OpenMP threading layer is not used (GNU OpenMP terminates a child that forked after
using it); after a fork the child starts threads of its own when it first needs them
(``os.register_at_fork``). A call made while another thread is using the kept threads
starts threads of its own, as before.

Before sleeping on its lock, a worker polls for the next job for ``SPIN_US`` microseconds,
and the calling thread polls for the workers' end before sleeping on theirs
(``rnnkit.core.spin``): a sleeping core took 50-170 us to wake in the VM. Measured with
``rnnkit bench`` (against torch, three runs each, polling 0 / 200 us): at (32,50,1,64) the
LSTM's training step 0.93-0.95x / 0.84-0.89x and forward 1.04-1.25x / 0.96-1.02x, the GRU's
forward 0.31-0.32x / 0.25-0.26x; at (64,100,128,128), whose calls come further apart, no
change; the classify command's training 4,283-4,322 / 4,472-4,769 examples/s. The
environment variable ``RNNKIT_SPIN_US`` sets the time (0: sleep at once, for machines whose
cores other work shares).
"""
from __future__ import annotations

import functools
import os
import threading
import warnings

import numpy as np
from numba.extending import register_jitable

from rnnkit.core import spin
from rnnkit.core.blas import blas_threads


def cores() -> int:
    """The cores this process may run on, at most as many as OpenBLAS's threads (so that
    ``OPENBLAS_NUM_THREADS=1`` or ``threadpoolctl.threadpool_limits(1)`` runs one shard)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = blas_threads()
    return max(1, min(n, threads)) if threads else n


DEFAULT_SPIN_US = 200.0


def _spin_us() -> float:
    """``RNNKIT_SPIN_US`` if it is a number of microseconds >= 0, else DEFAULT_SPIN_US (with
    a warning naming the value)."""
    raw = os.environ.get("RNNKIT_SPIN_US")
    if raw is None:
        return DEFAULT_SPIN_US
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        warnings.warn(f"RNNKIT_SPIN_US={raw!r} is not a number of microseconds >= 0; "
                      f"polling {DEFAULT_SPIN_US:g} us", RuntimeWarning, stacklevel=2)
        return DEFAULT_SPIN_US
    return value


SPIN_US = _spin_us()  # how long a thread polls for the other before it sleeps on a lock
_NO_SYNC = np.zeros(2, np.int64)  # what the shards on worker threads announce into


@functools.cache
def _polls() -> int:
    """SPIN_US as a number of ``spin.poll``'s reads (measured the first time)."""
    return int(SPIN_US * spin.polls_per_us())


class _Worker:
    """A daemon thread that runs one job at a time: ``post`` hands it one, ``wait`` returns
    when it is done."""

    def __init__(self, sync):
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._job = None
        self._seq = 0
        self.flags = np.zeros(3, np.int64)
        threading.Thread(target=self._serve, args=(sync,), daemon=True,
                         name="rnnkit-shard").start()

    def _serve(self, sync):
        seq, flags, polls = 0, self.flags, _polls()
        while True:
            self._go.acquire()
            seq += 1
            self._job()
            self._done.release()
            spin.finish_and_wait(flags, seq, sync, polls, polls)

    def post(self, job, call):
        self._job = job
        self._seq += 1
        self.flags[spin.CALL] = call
        self._go.release()
        self.flags[spin.GO] = self._seq  # after CALL

    def wait(self):
        spin.poll(self.flags, spin.DONE, self._seq, _polls())
        self._done.acquire()


class _Pool:
    def __init__(self):
        self.busy = threading.Lock()  # held by the call using the workers
        self.workers: list[_Worker] = []
        self.sync = np.zeros(2, np.int64)  # [started, call]: the main shard's announcement

    @property
    def calls(self) -> int:
        """How many calls have used the workers: the number of the latest."""
        return int(self.sync[1])

    def take(self, n):
        """n workers, started the first time they are needed, if no other call holds them
        (then the caller releases ``busy``); else None."""
        if not self.busy.acquire(blocking=False):
            return None
        while len(self.workers) < n:
            self.workers.append(_Worker(self.sync))
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


@register_jitable(inline="always")
def shard_of(lo, shards, B):
    """The index of ``run_sharded``'s shard that starts at row lo, of ``shards`` over B rows:
    shard s starts at s * B // shards, so s = ceil(lo * shards / B) (in numba loops too)."""
    return (lo * shards + B - 1) // B


def run_sharded(loop, args, B, shards):
    """loop(*args, lo, hi, sync) for each of ``shards`` contiguous row ranges of a batch of B
    rows (sync: where a numba loop ``spin.announce``-s that it released the GIL),
    the first on this thread, the others on kept threads (or threads started here while
    another call uses those); an exception in any of them is raised here, after all have
    finished."""
    bounds = [(s * B // shards, (s + 1) * B // shards) for s in range(shards)]
    errors = []

    def job(lo, hi, sync=_NO_SYNC):
        def run():
            try:
                loop(*args, lo, hi, sync)
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
            pool.sync[1] += 1  # this call's number, which its own shard announces
            for worker, b in zip(workers, bounds[1:]):
                worker.post(job(*b), pool.calls)
            job(*bounds[0], pool.sync)()
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
