"""How ``rnnkit bench`` times two libraries against each other, and how it reports a figure.

Both run in one process, interleaved repetition by repetition after a warm-up, the order
flipped every repetition, and each turn starts with one untimed call: the other library's
thread pool may still be spinning from its last call (OpenMP and OpenBLAS workers busy-wait
for a while), and on 2 cores that would be charged to whichever library runs next. A figure
is the median of the repetitions with their interquartile range as the spread.
"""
from __future__ import annotations

import time

import numpy as np


def interleaved(fns, repeat: int, warmup: int) -> list[np.ndarray]:
    """Seconds of each of ``repeat`` timed calls of every function in ``fns``, one array
    per function, alternating them (and their order) every repetition after ``warmup``."""
    times = [[] for _ in fns]
    for rep in range(warmup + repeat):
        order = range(len(fns)) if rep % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            fns[i]()  # absorbs the switch from the other library
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
