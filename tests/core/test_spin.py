"""The polling primitives of rnnkit.core.spin: a flag set by another thread is seen (the read
is not hoisted out of the loop), budgets run out, and a worker's side of the hand-off."""
import threading
import time

import numpy as np
from numba import njit

from rnnkit.core import spin


def test_poll_sees_a_flag_another_thread_sets():
    flags = np.zeros(2, np.int64)
    budget = int(20e6 * spin.polls_per_us())  # ~20 s: a hoisted read would poll all of it
    setter = threading.Timer(0.01, lambda: flags.__setitem__(1, 7))
    start = time.perf_counter()
    setter.start()
    seen = spin.poll(flags, 1, 7, budget)  # outside the GIL: the timer thread runs meanwhile
    elapsed = time.perf_counter() - start
    setter.join()
    assert seen and elapsed < 5.0


def test_poll_gives_up_after_its_budget():
    flags = np.zeros(1, np.int64)
    assert not spin.poll(flags, 0, 1, 1000)
    assert spin.poll(flags, 0, 0, 1)
    assert spin.polls_per_us() > 0


@njit
def _announcing(sync):
    spin.announce(sync)


def test_announce_copies_the_call_number():
    sync = np.array([3, 9], np.int64)
    _announcing(sync)
    assert sync.tolist() == [9, 9]


def test_finish_and_wait_marks_the_job_done_and_waits_for_the_posting_shard():
    flags = np.zeros(3, np.int64)
    sync = np.zeros(2, np.int64)
    assert not spin.finish_and_wait(flags, 5, sync, 100, 100)  # no job came
    assert flags[spin.DONE] == 5
    flags[spin.CALL], flags[spin.GO] = 4, 6  # job 6, of call 4, posted
    sync[0] = 4  # whose own shard has started
    start = time.perf_counter()
    assert spin.finish_and_wait(flags, 5, sync, 100, 10**10)  # returns at once
    assert time.perf_counter() - start < 1.0
