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

A verdict against a target (``judge``) comes from the repetitions, not from the median alone:
the distribution-free 95% interval of the median (``median_interval``, the sign test's order
statistics) of the paired ratios rnnkit / torch (the two calls of a repetition ran next to
each other). "meets" when the whole interval is within the target, "misses" when none of it
is, and "inside the noise" when the target lies inside it: a median of 1.01x with an interval
of 0.97-1.04x does not miss a target of 1.0x, nor does 0.99x meet it. Fewer than 6
repetitions give no 95% interval; the verdict then says that it rests on the median alone.
"""
from __future__ import annotations

import math
import time

import numpy as np


ABSORB = 0.1  # seconds of untimed calls after each switch of function
CONFIDENCE = 0.95  # of the median's interval behind a verdict
# Timed repetitions per library and operation: with 31 paired ratios the median's 95%
# interval runs from the 10th to the 22nd (``median_interval``); with 11 (before session
# 21) it ran from the 2nd to the 10th, too wide to tell a lead of a few percent from a tie
# (benchmarks/README.md, session 21).
REPEAT = 31


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


def median_interval(samples, level: float = CONFIDENCE) -> tuple[float, float] | None:
    """The distribution-free ``level`` interval of the samples' median: the order statistics
    x_(k) and x_(n+1-k) (1-based) for the largest k with P(Bin(n, 1/2) <= k-1) <= (1 -
    level) / 2, so that it holds the median with probability >= level whatever the
    distribution (the sign test's interval). None for too few samples (n < 6 at 95%)."""
    x = np.sort(np.asarray(samples, dtype=float))
    n, tail = x.size, (1.0 - level) / 2
    k, below = 0, 0.0  # below = P(Bin(n, 1/2) <= k - 1)
    while k < n // 2 and below + math.comb(n, k) / 2.0 ** n <= tail:
        below += math.comb(n, k) / 2.0 ** n
        k += 1
    return (float(x[k - 1]), float(x[n - k])) if k else None


def judge(samples, limit: float, strict: bool = False) -> str:
    """The verdict of samples (paired ratios, or times) against a target of at most ``limit``
    (below it with ``strict``): 'meets' when the median's interval (``median_interval``) lies
    within the target, 'misses' when it lies outside, 'inside the noise' when it straddles
    the limit; with too few samples for an interval, the median's verdict with 'at the
    median, N repetitions'."""
    def within(value):
        return value < limit if strict else value <= limit

    interval = median_interval(samples)
    if interval is None:
        n = np.asarray(samples).size
        return (f"{verdict(float(np.median(samples)), limit, strict)} at the median, {n} "
                f"repetition{'s' if n != 1 else ''}")
    low, high = interval
    if within(high):
        return "meets"
    return "inside the noise" if within(low) else "misses"


def ratio_cell(ratios, digits: int = 2) -> str:
    """'median x (interval)' of paired ratios, e.g. '0.96x (0.93-0.99)'; the median alone
    where there are too few for an interval."""
    med, interval = float(np.median(ratios)), median_interval(ratios)
    if interval is None:
        return f"{med:.{digits}f}x"
    return f"{med:.{digits}f}x ({interval[0]:.{digits}f}-{interval[1]:.{digits}f})"
