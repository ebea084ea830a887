"""The seasonal period estimate: which lag, and how sure (synthetic, seeded series)."""
import math

import numpy as np
import pytest

from rnnkit.data import timeseries as ts
from rnnkit.data.datasets import load_series

T = np.arange(480)  # 40 years of monthly data


def cycle(length, amplitude=1.0):
    return amplitude * np.sin(2 * np.pi * T / length)


@pytest.mark.parametrize("seed", range(3))
def test_a_12_month_season_beats_a_stronger_48_month_cycle(seed):
    noise = 0.3 * np.random.default_rng(seed).normal(size=len(T))
    x = cycle(12) + cycle(48, 0.8) + noise
    z = x - x.mean()
    acf = z[48:] @ z[:-48] / (z @ z), z[12:] @ z[:-12] / (z @ z)
    assert acf[0] > acf[1] + 0.2  # the old rule (largest peak) picked 48
    est = ts.find_period(x, 160, of="the training part")
    assert (est.period, est.sure) == (12, True)
    assert est.strength == pytest.approx(acf[1])
    assert est.reason.startswith("estimated 12 from the autocorrelation of the training part "
                                 f"(r={acf[1]:.2f} at lag 12, threshold 0.30; lag 48 has r=")
    assert est.reason.endswith(": confident")
    assert ts.estimate_period(x, 160) == 12


@pytest.mark.parametrize("seed", range(3))
def test_a_single_long_cycle_keeps_its_length(seed):
    x = cycle(48) + 0.3 * np.random.default_rng(seed).normal(size=len(T))
    assert abs(ts.find_period(x, 160).period - 48) <= 1  # no peak at 12, 24, 36


def test_close_peaks_prefer_the_shorter_lag():
    x = cycle(9) + cycle(11) + 0.2 * np.random.default_rng(0).normal(size=len(T))
    z = x - x.mean()
    r10, r45 = (z[k:] @ z[:-k] / (z @ z) for k in (10, 45))  # both cycles nearly repeat
    assert r10 < r45 < r10 + ts.PERIOD_MARGIN  # 45 is the largest peak, not a multiple of 10
    est = ts.find_period(x, 160)
    assert est.period == 10 and f"lag 45 has r={r45:.2f}" in est.reason


@pytest.mark.parametrize("seed", range(3))
def test_noise_has_no_season_and_says_so(seed):
    est = ts.find_period(np.random.default_rng(seed).normal(size=300), 100)
    assert (est.period, est.sure, est.threshold) == (1, False, 0.3)
    assert 0 < est.strength < est.threshold
    assert est.reason.startswith("no seasonal peak above the threshold 0.30 in the "
                                 f"autocorrelation of the series (highest peak "
                                 f"r={est.strength:.2f} at lag ")
    assert est.reason.endswith("); period 1 (no season) assumed — set --period if you know it")
    assert ts.estimate_period(np.random.default_rng(seed).normal(size=300), 100) == 1


def test_a_weak_season_is_found_but_not_sure():
    x = cycle(12) + 0.9 * np.random.default_rng(3).normal(size=len(T))
    est = ts.find_period(x, 160)
    assert est.period == 12 and not est.sure
    assert est.threshold < est.strength < est.threshold + ts.SURE_MARGIN
    assert est.reason.endswith(": weak — set --period if you know it")


def test_the_threshold_grows_for_short_series():
    x = np.sin(2 * np.pi * np.arange(64) / 8)
    est = ts.find_period(x, 30)
    assert est.period == 8 and est.threshold == pytest.approx(3 / 8)
    assert "threshold 0.38" in est.reason


def test_a_trend_has_no_peak_at_all():
    est = ts.find_period(np.arange(100.0), 30)  # r falls with every lag
    assert est.period == 1 and math.isnan(est.strength)
    assert "(no peak at all); period 1" in est.reason


def test_a_high_r_that_is_no_peak_does_not_count():
    x = np.sin(2 * np.pi * np.arange(200) / 150)  # r_2 near 1, falling: a trend, no season
    est = ts.find_period(x, 60)
    assert est.period == 1 and not est.sure


@pytest.mark.parametrize("z", [np.ones(50), np.arange(5.0), np.array([])])
def test_constant_or_short_series_get_period_1(z):
    est = ts.find_period(z, 20)
    assert est.period == 1 and not est.sure and math.isnan(est.strength)
    assert "too short or constant" in est.reason


def test_the_airline_season_is_sure():
    air = load_series("airline")[:115]
    z = ts.SeriesTransform("logdiff").fit(air).transform(air)
    est = ts.find_period(z, 38)
    assert est.period == 12 and est.sure and est.strength > 0.7
