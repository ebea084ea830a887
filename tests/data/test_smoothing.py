"""The statistical forecasts written here, against plain loops and closed forms."""
import numpy as np
import pytest

from rnnkit.data import smoothing as sm


def sse_ses(y, alpha):
    level, sse = y[0], 0.0
    for v in y[1:]:
        sse += (v - level) ** 2
        level += alpha * (v - level)
    return sse, level


def sse_damped(y, alpha, beta, phi):
    k = min(len(y) - 1, 3)
    level, trend, sse = y[0], (y[k] - y[0]) / k, 0.0
    for v in y[1:]:
        fitted = level + phi * trend
        e = v - fitted
        sse += e * e
        level, trend = fitted + alpha * e, phi * trend + beta * e
    return sse, level, trend


def test_ses_picks_the_grid_alpha_with_the_least_squared_error():
    y = np.cumsum(np.random.default_rng(0).normal(size=40)) + 10
    alpha, level, sse = sm.ses_fit(y)
    best = min(sm.SES_ALPHAS, key=lambda a: sse_ses(y, a)[0])
    assert alpha == best
    assert (sse, level) == pytest.approx(sse_ses(y, best))
    assert sm.ses_forecast(y, 3) == pytest.approx([level] * 3)


def test_damped_trend_matches_a_plain_loop_and_its_forecast_formula():
    y = 5 + 0.8 * np.arange(30) + np.random.default_rng(1).normal(size=30)
    p = sm.damped_fit(y)
    grid = [(a, a * f, phi) for a in sm.HOLT_ALPHAS for f in sm.HOLT_BETA_FRACTIONS
            for phi in sm.HOLT_PHIS]
    best = min(grid, key=lambda g: sse_damped(y, *g)[0])
    assert (p["alpha"], p["beta"], p["phi"]) == pytest.approx(best)
    sse, level, trend = sse_damped(y, *best)
    assert (p["sse"], p["level"], p["trend"]) == pytest.approx((sse, level, trend))
    h = np.arange(1, 5)
    expected = [level + sum(best[2] ** j for j in range(1, k + 1)) * trend for k in h]
    assert sm.damped_forecast(y, 4) == pytest.approx(expected)
    assert sm.damped_forecast(y[:2], 3) == pytest.approx([y[1]] * 3)  # too short: last value


def test_theta_is_ses_with_half_the_linear_slope():
    y = 3.0 + 2.0 * np.arange(20)  # a straight line: SES keeps alpha = 1, level = y_n
    assert sm.ses_fit(y)[0] == 1.0
    assert sm.theta_forecast(y, 4) == pytest.approx(y[-1] + 2.0 / 2 * np.arange(1, 5))
    assert sm.drift_forecast(y, 3) == pytest.approx(y[-1] + 2.0 * np.arange(1, 4))


def test_seasonality_test_and_classical_decomposition():
    rng = np.random.default_rng(2)
    t = np.arange(96)
    pattern = np.array([3.0, -1, 0, 2, -4, 1, 0, 0, -2, 1, 1, -1])  # sums to 0
    y = 50 + 0.5 * t + pattern[t % 12]  # exact linear trend + additive season
    assert sm.is_seasonal(50 + 0.05 * t + pattern[t % 12] + 0.1 * rng.normal(size=96), 12)
    assert not sm.is_seasonal(rng.normal(size=96), 12)
    assert not sm.is_seasonal(y[:30], 12)  # fewer than 3 seasons: not tested
    assert sm.seasonal_indices(y, 12, multiplicative=False) == pytest.approx(pattern)
    ratio = 1 + pattern / 10
    m = sm.seasonal_indices(100 * ratio[t % 12], 12, multiplicative=True)
    assert m == pytest.approx(ratio / ratio.mean())
    assert sm.seasonal_indices(y[:-5], 12, False) == pytest.approx(pattern)  # odd start/end


def test_statistical_forecast_reseasonalises_every_method():
    t = np.arange(60)
    season = np.array([1.2, 0.8, 1.0, 1.0])
    y = 100 * season[t % 4]  # a level of 100 with a multiplicative season
    out = sm.statistical_forecast(y, 6, 4)
    assert set(out) == {"damped", "theta", "combined"}
    for name, f in out.items():
        assert f == pytest.approx(100 * season[np.arange(60, 66) % 4], rel=1e-6), name
    plain = sm.statistical_forecast(y, 6, 1, methods=("damped",))
    assert plain["combined"] == pytest.approx(plain["damped"])


def test_damped_growth_works_on_logs_of_a_positive_series():
    y = 100 * 1.05 ** np.arange(25)  # exact 5% growth: logs are a straight line
    expected = np.exp(sm.damped_forecast(np.log(y), 3))
    assert sm.damped_log_forecast(y, 3) == pytest.approx(expected)
    z = y - 150  # not all positive: the additive damped trend
    assert sm.damped_log_forecast(z, 3) == pytest.approx(sm.damped_forecast(z, 3))


def test_drift_log_is_the_mean_growth_rate():
    y = np.array([100.0, 110.0, 99.0, 121.0])
    growth = (121.0 / 100.0) ** (1 / 3)
    assert sm.drift_log_forecast(y, 3) == pytest.approx(121.0 * growth ** np.arange(1, 4))
    z = np.array([1.0, -2.0, 4.0, 7.0])  # a value <= 0: the additive drift
    assert sm.drift_log_forecast(z, 3) == pytest.approx(sm.drift_forecast(z, 3))


def test_the_median_combination_and_unknown_combinations():
    rng = np.random.default_rng(3)
    y = 50 + np.cumsum(rng.normal(1, 2, size=40))
    methods = ("damped", "drift", "damped_log", "drift_log")
    out = sm.statistical_forecast(y, 5, 1, methods=methods, combine="median")
    each = np.stack([out[m] for m in methods])  # (4, 5)
    assert out["combined"] == pytest.approx(np.median(each, axis=0))
    assert not np.allclose(out["combined"], each.mean(axis=0))
    with pytest.raises(ValueError, match="unknown combine 'max'"):
        sm.statistical_forecast(y, 5, 1, methods=methods, combine="max")


def test_fewer_than_five_values_forecast_the_last_one():
    y = np.array([10.0, 9.0, 9.0, 8.0])  # a trend fitted on 4 points would be noise
    out = sm.statistical_forecast(y, 6, 1, methods=("damped", "drift"))
    assert np.all(out["combined"] == 8.0) and np.all(out["drift"] == 8.0)
    five = sm.statistical_forecast(np.r_[y, 7.0], 6, 1, methods=("drift",))
    assert five["combined"] == pytest.approx(7.0 - 0.75 * np.arange(1, 7))


def test_the_naive_method_is_never_reseasonalised():
    t = np.arange(48)
    y = 20 + 5 * np.sin(2 * np.pi * t / 4)  # seasonal at period 4
    assert sm.season_of(y, 4)[0] is not None
    out = sm.statistical_forecast(y, 6, 4, methods=("naive", "drift"))
    assert np.all(out["naive"] == y[-1])
    assert out["combined"] == pytest.approx((out["naive"] + out["drift"]) / 2)


def test_the_local_drift_reads_the_recent_half():
    y = np.array([12.0, 143, 178, 122, 111, 93, 94, 80, 74, 84])  # M1 yearly T24's start
    # max(5, 10 // 2) = 5 values: 93 .. 84
    expected = 84 + (84 - 93) / 4 * np.arange(1, 4)
    assert sm.local_drift_forecast(y, 3) == pytest.approx(expected)
    assert sm.drift_forecast(y, 3)[0] > y[-1] > sm.local_drift_forecast(y, 3)[0]
    growth = (84 / 93) ** (1 / 4)
    assert sm.local_drift_log_forecast(y, 3) == pytest.approx(84 * growth ** np.arange(1, 4))
    short = np.array([3.0, 5.0, 4.0, 6.0, 8.0, 7.0])  # 6 values: the last 5
    assert sm.local_drift_forecast(short, 2) == pytest.approx(7 + 0.5 * np.arange(1, 3))
