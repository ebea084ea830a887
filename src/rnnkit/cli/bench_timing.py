"""How ``rnnkit bench`` times two libraries against each other, and how it reports a figure.

Both run in one process, interleaved repetition by repetition after a warm-up, the order
flipped every repetition, and each turn starts with untimed calls for at least ``ABSORB``
seconds (one call at the least): the other library's thread pool may still be spinning from
its last call, and on 2 cores that is charged to whichever library runs next. torch's GNU
OpenMP workers busy-wait for milliseconds after each parallel region: measured on the 2-core
Xeon, rnnkit's LSTM forward at (32, 50, 1, 64) took 0.97 ms right after one untimed call
following torch's, 0.74 ms after 5 ms of untimed calls and 0.70 ms after 20 or 50 ms, as
alone. But the RNN's training step at (16,200,64,256) and (64,100,128,128), 5.5-6.3 ms
alone, took 7.1-9.7 ms in 3 of 12 table rows with 20 ms of untimed calls (six processes)
and in 4 of 8 with 50 ms (four), and in none of 12 with 100 ms (six): ABSORB is 100 ms.
A figure is the median of the repetitions with their interquartile range as the spread.
"""
from __future__ import annotations

import time

import numpy as np


ABSORB = 0.1  # seconds of untimed calls after each switch of function


def _absorb(fn, seconds: float) -> None:
    """Call fn, untimed, until ``seconds`` have passed (once at the least)."""
    start = time.perf_counter()
    fn()
    while time.perf_counter() - start < seconds:
        fn()


def interleaved(fns, repeat: int, warmup: int, absorb: float = ABSORB) -> list[np.ndarray]:
    """Seconds of each of ``repeat`` timed calls of every function in ``fns``, one array
    per function, alternating them (and their order) every repetition after ``warmup``; each
    turn starts with ``absorb`` seconds of untimed calls of the function (at least one)."""
    times = [[] for _ in fns]
    for rep in range(warmup + repeat):
        order = range(len(fns)) if rep % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            _absorb(fns[i], absorb)  # the other library's threads stop spinning meanwhile
            start = time.perf_counter()
            fns[i]()
            if rep >= warmup:
                times[i].append(time.perf_counter() - start)
    return [np.asarray(t) for t in times]


def median_iqr(samples) -> tuple[float, float, float]:
    """(median, first quartile, third quartile) of the samples."""
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return float(med), float(q1), float(q3)


def with_spread(samples, scale: float = 1.0, digits: int = 3) -> str:
    """'median (q1-q3)' of samples * scale, e.g. '12.3 (11.9-13.0)'."""
    med, q1, q3 = (v * scale for v in median_iqr(samples))
    return f"{med:.{digits}f} ({q1:.{digits}f}-{q3:.{digits}f})"


def verdict(value: float, limit: float, strict: bool = False) -> str:
    """'meets' if value <= limit (value < limit when ``strict``), else 'misses'."""
    return "meets" if (value < limit if strict else value <= limit) else "misses"
