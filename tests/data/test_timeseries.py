"""rnnkit.data.timeseries: windows, transforms, baselines and errors against their definitions
written out as plain loops."""
import numpy as np
import pytest

from rnnkit.data import timeseries as ts
from rnnkit.data.datasets import load_series
from rnnkit.metrics import forecast as fm


def test_create_sequences_is_seed_001s_loop():
    data = np.arange(20.0) ** 1.5
    for window, horizon in [(1, 1), (5, 3), (10, 1), (17, 3)]:
        X, y = ts.create_sequences(data, window, horizon)
        n = len(data) - window - horizon + 1
        assert X.shape == (n, window) and y.shape == (n, horizon)
        for i in range(n):
            assert np.array_equal(X[i], data[i : i + window])
            assert np.array_equal(y[i], data[i + window : i + window + horizon])
    X, y = ts.create_sequences(data, 15, 6)  # N < W + H: no window
    assert X.shape == (0, 15) and y.shape == (0, 6)


@pytest.mark.parametrize("kind", ts.TRANSFORMS)
def test_inverse_undoes_the_transform_after_any_origin(kind):
    rng = np.random.default_rng(0)
    x = np.exp(np.cumsum(rng.normal(0.01, 0.05, 60)) + 3)  # (60,) positive, trending
    t = ts.SeriesTransform(kind).fit(x[:40])
    z = t.transform(x)  # (60 - lag,)
    assert len(z) == len(x) - t.lag
    g = np.diff(np.log(x[:40])) if kind == "logdiff" else np.log(x[:40]) if kind == "log" \
        else np.diff(x[:40]) if kind == "diff" else x[:40]
    assert np.allclose(z[: len(g)], (g - g.mean()) / g.std())  # scaled on the training part
    origins, H = np.array([t.lag + 3, 30, 50]), 5
    future = np.stack([z[o - t.lag + 1 : o - t.lag + 1 + H] for o in origins])  # (3, H)
    levels = t.inverse(future, x[origins])
    assert np.allclose(levels, np.stack([x[o + 1 : o + 1 + H] for o in origins]))
    u = ts.SeriesTransform.from_dict(t.to_dict())
    assert np.array_equal(u.transform(x), z)
    if kind.startswith("log"):
        with pytest.raises(ValueError, match="positive"):
            ts.SeriesTransform(kind).fit(np.array([1.0, 0.0, 2.0]))


def test_baselines_and_targets_follow_their_definitions():
    x = np.arange(40.0) ** 1.2
    origins, H, m = ts.origins_between(25, 39, 4), 4, 6
    assert origins[0] == 24 and origins[-1] + H == 39  # every target inside 25..39
    actual = ts.targets_at(x, origins, H)
    naive = ts.naive_forecast(x, origins, H)
    snaive = ts.seasonal_naive_forecast(x, origins, H, m)
    for r, o in enumerate(origins):
        for h in range(1, H + 1):
            assert actual[r, h - 1] == x[o + h]
            assert naive[r, h - 1] == x[o]
            k = (h - 1) // m + 1  # whole cycles to go back
            assert snaive[r, h - 1] == x[o + h - k * m]
    assert np.array_equal(ts.seasonal_naive_forecast(x, origins, H, 1), naive)


def test_errors_and_mase_scale():
    rng = np.random.default_rng(1)
    actual, forecast = rng.normal(5, 1, (7, 3)), rng.normal(5, 1, (7, 3))
    actual[0, 0] = 0.0  # MAPE skips zero actuals
    x_train = rng.normal(size=50)
    scale = fm.mase_scale(x_train, 4)
    assert scale == pytest.approx(np.mean([abs(x_train[t] - x_train[t - 4])
                                           for t in range(4, 50)]))
    e = fm.forecast_errors(actual, forecast, scale)
    d = (forecast - actual).ravel()
    assert e["rmse"] == pytest.approx(np.sqrt(np.mean(d ** 2)))
    assert e["mae"] == pytest.approx(np.mean(np.abs(d)))
    assert e["mase"] == pytest.approx(e["mae"] / scale)
    keep = actual.ravel() != 0
    assert e["mape"] == pytest.approx(100 * np.mean(np.abs(d[keep] / actual.ravel()[keep])))
    by = fm.errors_by_step(actual, forecast)
    assert np.allclose(by["mae"], np.abs(forecast - actual).mean(axis=0))
    assert fm.forecast_errors(np.zeros((2, 2)), np.ones((2, 2)), 1.0)["mape"] is None


def test_estimate_period_finds_the_season():
    rng = np.random.default_rng(3)
    t = np.arange(200)
    assert ts.estimate_period(np.sin(2 * np.pi * t / 7) + 0.3 * rng.normal(size=200), 60) == 7
    assert ts.estimate_period(rng.normal(size=200), 60) == 1
    air = ts.SeriesTransform("logdiff").fit(load_series("airline")[:115])
    assert ts.estimate_period(air.transform(load_series("airline")[:115]), 38) == 12
