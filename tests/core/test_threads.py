"""run_sharded: every shard runs once, on kept threads; errors reach the caller; concurrent
callers and forked children still get all their shards run."""
import os
import threading
import time

import numpy as np
import pytest
from numba import njit

from rnnkit.core import spin, threads


def _fill(out, value, lo, hi, sync=None):
    out[lo:hi] += value


def test_every_row_range_runs_once_and_the_threads_are_kept():
    out = np.zeros(10)
    threads.run_sharded(_fill, (out, 1.0), 10, 3)
    kept = list(threads._pool.workers)
    threads.run_sharded(_fill, (out, 1.0), 10, 3)
    np.testing.assert_array_equal(out, 2.0)
    assert threads._pool.workers == kept and len(kept) == 2
    assert not threads._pool.busy.locked()


@njit
def _shard_of_in_numba(lo, shards, B):
    return threads.shard_of(lo, shards, B)


@pytest.mark.parametrize("B,shards", [(1, 1), (2, 2), (3, 2), (10, 3), (64, 2), (7, 7)])
def test_shard_of_names_the_shard_each_range_starts(B, shards):
    """shard_of(lo) is s for the range run_sharded gives shard s, in Python and in numba."""
    starts = []
    record = threading.Lock()

    def note(lo, hi, sync=None):
        with record:
            starts.append(lo)

    threads.run_sharded(note, (), B, shards)
    for s, lo in enumerate(sorted(starts)):
        assert threads.shard_of(lo, shards, B) == s == _shard_of_in_numba(lo, shards, B)


def test_an_error_in_a_shard_is_raised_after_all_finish():
    out = np.zeros(4)

    def loop(lo, hi, sync=None):
        _fill(out, 1.0, lo, hi)
        if lo:
            raise ValueError(f"shard at {lo}")

    with pytest.raises(ValueError, match="shard at 2"):
        threads.run_sharded(loop, (), 4, 2)
    np.testing.assert_array_equal(out, 1.0)
    assert not threads._pool.busy.locked()  # the next call gets the kept threads
    threads.run_sharded(_fill, (out, 1.0), 4, 2)
    np.testing.assert_array_equal(out, 2.0)


def test_concurrent_callers_each_get_all_their_shards():
    outs = [np.zeros(64) for _ in range(4)]
    barrier = threading.Barrier(4)

    def caller(out):
        barrier.wait()
        for _ in range(50):
            threads.run_sharded(_fill, (out, 1.0), 64, 2)

    callers = [threading.Thread(target=caller, args=(o,)) for o in outs]
    for c in callers:
        c.start()
    for c in callers:
        c.join()
    for out in outs:
        np.testing.assert_array_equal(out, 50.0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_runs_shards_on_threads_of_its_own():
    out = np.zeros(8)
    threads.run_sharded(_fill, (out, 1.0), 8, 2)  # the parent's kept thread exists
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's kept thread does not exist here
        ok = 0
        try:
            child = np.zeros(8)
            threads.run_sharded(_fill, (child, 1.0), 8, 2)
            ok = int(child.sum() == 8 and threads._pool.workers[0] is not None)
        finally:
            os.write(write, bytes([ok]))
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"\x01"
    os.waitpid(pid, 0)


def test_an_interrupted_wait_leaves_the_kept_threads_and_takes_new_ones(monkeypatch):
    """Ctrl-C while waiting for a shard: that shard's thread may still be running, so the
    next call must not hand it a job (its 'done' would answer the wrong call)."""
    out = np.zeros(8)
    threads.run_sharded(_fill, (out, 1.0), 8, 2)
    old_pool = threads._pool
    real_wait = threads._Worker.wait

    def interrupted(self):
        real_wait(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(threads._Worker, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        threads.run_sharded(_fill, (out, 1.0), 8, 2)
    monkeypatch.setattr(threads._Worker, "wait", real_wait)
    assert threads._pool is not old_pool
    threads.run_sharded(_fill, (out, 1.0), 8, 2)
    np.testing.assert_array_equal(out, 3.0)
    assert threads._pool.workers[0] is not old_pool.workers[0]


@njit(nogil=True)
def _announcing_fill(out, value, lo, hi, sync):
    spin.announce(sync)
    out[lo:hi] += value


def test_the_calling_threads_shard_announces_its_call_and_workers_report_done():
    out, seen = np.zeros(9), []

    def loop(out, value, lo, hi, sync):
        seen.append((lo, sync))
        _announcing_fill(out, value, lo, hi, sync)

    for _ in range(3):
        threads.run_sharded(loop, (out, 1.0), 9, 3)
    np.testing.assert_array_equal(out, 3.0)
    pool = threads._pool
    mine = [sync for lo, sync in seen if lo == 0]
    assert all(sync is pool.sync for sync in mine) and pool.sync[0] == pool.calls
    assert all(sync is threads._NO_SYNC for lo, sync in seen if lo)
    # a worker releases its lock, which ``wait`` may take, just before it writes DONE (the
    # flags are hints, the locks the synchronisation): under load the flag can lag a moment
    deadline = time.monotonic() + 10
    while [w.flags[spin.DONE] for w in pool.workers[:2]] != [w._seq for w in pool.workers[:2]] \
            and time.monotonic() < deadline:
        time.sleep(0.001)
    assert [w.flags[spin.DONE] for w in pool.workers[:2]] == [w._seq for w in pool.workers[:2]]


def test_without_polling_the_threads_sleep_on_their_locks(monkeypatch):
    monkeypatch.setattr(threads, "_polls", lambda: 0)
    monkeypatch.setattr(threads, "_pool", threads._Pool())  # workers that never poll
    out = np.zeros(8)
    for _ in range(5):
        threads.run_sharded(_announcing_fill, (out, 1.0), 8, 2)
    np.testing.assert_array_equal(out, 5.0)


@pytest.mark.parametrize("raw, expected, warns", [
    (None, threads.DEFAULT_SPIN_US, False), ("0", 0.0, False), ("50.5", 50.5, False),
    ("-1", threads.DEFAULT_SPIN_US, True), ("soon", threads.DEFAULT_SPIN_US, True),
    ("inf", threads.DEFAULT_SPIN_US, True)])
def test_the_polling_time_comes_from_the_environment(monkeypatch, raw, expected, warns):
    if raw is None:
        monkeypatch.delenv("RNNKIT_SPIN_US", raising=False)
    else:
        monkeypatch.setenv("RNNKIT_SPIN_US", raw)
    if warns:
        with pytest.warns(RuntimeWarning, match="RNNKIT_SPIN_US"):
            assert threads._spin_us() == expected
    else:
        assert threads._spin_us() == expected
