"""The forecaster: its rules, padded windows, the networks' correction of the statistical
base, learning, reproducibility, panels, intervals and a round trip through plain JSON."""
import numpy as np
import pytest

from rnnkit.data import smoothing
from rnnkit.nn.ensemble import MeanEnsemble
from rnnkit.train import forecaster as fc

FAST = {"members": 2, "updates": 40, "hidden": 8}


def seasonal_series(n=150, period=6, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 20 + 5 * np.sin(2 * np.pi * t / period) + 0.3 * rng.normal(size=n)


def test_settings_follow_the_series_length():
    s = fc.choose_forecaster_settings(115, 12, 12)
    assert s.network and s.window == 24 and "80 training windows" in s.reasons[1]
    short = fc.choose_forecaster_settings(20, 6, 1)
    assert not short.network and "no network" in short.reasons[1]
    assert short.window == 12  # the rule's window; the series is too short for it
    assert fc.choose_forecaster_settings(20, 6, 1, network=True, window=5).network
    panel = fc.choose_forecaster_settings([20] * 10, 6, 1)
    assert panel.network and "of 10 series, one global model" in panel.reasons[1]


def test_short_series_train_on_padded_windows():
    s = fc.ForecasterSettings(window=8, min_windows=5)
    assert fc.first_origin(100, s, 3) == 7  # a full window behind the first origin
    assert fc.first_origin(14, s, 3) == 6  # earlier, to leave 5 windows: origins 6..10
    assert fc.count_windows(14, s, 3) == 5
    assert fc.first_origin(8, s, 3) == fc.MIN_HISTORY - 1  # down to the minimum history
    x = np.arange(10.0) ** 2
    w = fc.normalised_windows(x, np.array([2, 9]), 4, np.array([1.0, 2.0]))  # (2, 4, 1)
    assert w[0, :, 0] == pytest.approx([0 - 4, 0 - 4, 1 - 4, 0])  # padded with x[0]
    assert w[1, :, 0] == pytest.approx((x[6:10] - 81) / 2)


def test_forecast_is_the_base_plus_the_scaled_mean_correction():
    x = seasonal_series()
    f = fc.fit_forecaster(x[:120], 6, 1, seed=0, **FAST)
    assert isinstance(f.network, MeanEnsemble) and len(f.network.modules) == 2
    origins = np.arange(119, 144)
    members = f.member_forecasts(x, origins)  # (2, n, 6)
    assert members.shape == (2, len(origins), 6)
    assert f.predict_origins(x, origins) == pytest.approx(members.mean(axis=0))
    o = origins[3]
    base = smoothing.statistical_forecast(x[: o + 1], 6, 1, methods=f.settings.base,
                                       combine=f.settings.combine)
    s = np.mean(np.abs(np.diff(x[: o + 1])))
    w = fc.normalised_windows(x, [o], f.settings.window, [s]).astype(np.float32)
    expected = base["combined"] + s * np.mean([m.forward(w)[0] for m in
                                               f.network.modules.values()], axis=0)
    assert f.predict(x[: o + 1]) == pytest.approx(expected, rel=1e-6)


def test_networks_start_at_the_base_and_learn_what_it_misses():
    """Period 1 is declared, so the base cannot see the 6-step season; the networks learn
    it, and their forecasts beat the base's on the held-out tail."""
    x = seasonal_series(n=200)
    f = fc.fit_forecaster(x[:160], 4, 1, seed=0, members=2, updates=300, hidden=16)
    losses = f.report["members"]
    assert all(m["train_loss"] < 0.5 * f.report["base_loss"] for m in losses)
    origins = np.arange(159, 196)
    actual = x[origins[:, None] + np.arange(1, 5)]
    base = np.stack([f.base(x[: o + 1]) for o in origins])
    err_net = np.mean(np.abs(f.predict_origins(x, origins) - actual))
    assert err_net < 0.5 * np.mean(np.abs(base - actual))


def test_reproducible_from_the_seed_and_json_round_trip():
    x = seasonal_series()
    a = fc.fit_forecaster(x[:120], 6, 1, seed=3, **FAST)
    b = fc.fit_forecaster(x[:120], 6, 1, seed=3, **FAST)
    c = fc.fit_forecaster(x[:120], 6, 1, seed=4, **FAST)
    assert np.array_equal(a.predict(x), b.predict(x))
    assert not np.array_equal(a.predict(x), c.predict(x))
    a.calibrate(x[:120])
    back = fc.Forecaster.from_dict(a.to_dict(), a.network)
    assert np.array_equal(back.predict(x), a.predict(x))
    assert back.min_history == a.min_history and back.settings == a.settings
    for level in (80, 95):
        assert np.array_equal(back.interval_scales[level], a.interval_scales[level])


def test_conformal_widths_cover_the_calibration_errors():
    x = seasonal_series()
    f = fc.fit_forecaster(x[:120], 6, 1, seed=0, **FAST)
    widths = f.calibrate(x[:120], levels=(50, 80, 95))
    assert np.all(widths[50] <= widths[80]) and np.all(widths[80] <= widths[95])
    origins = np.arange(fc.MIN_HISTORY - 1, 114)
    bands = f.intervals(x[:120], origins)
    actual = x[origins[:, None] + np.arange(1, 7)]
    for level, (lo, hi) in bands.items():
        covered = np.mean((actual >= lo) & (actual <= hi), axis=0)  # per step
        assert np.all(covered >= level / 100 - 1e-9), level


def test_a_panel_trains_one_model_and_forecasts_each_series():
    series = [seasonal_series(n=35, seed=k) * (k + 1) for k in range(5)]
    f = fc.fit_forecaster([x[:25] for x in series], 4, 1, seed=0, **FAST)
    assert f.network is not None and f.report["series"] == 5
    assert f.report["windows"] == 5 * fc.count_windows(25, f.settings, 4) == 5 * 19
    for x in series:
        assert f.predict(x).shape == (4,)
    # a panel's base is the mean of the damped trend and the drift; one series' the median
    assert (f.settings.base, f.settings.combine) == (fc.PANEL_BASE, fc.PANEL_COMBINE)
    assert "mean of damped, drift" in f.settings.reasons[0]
    small = fc.fit_forecaster(series[0][:25], 4, 1, seed=0, **FAST)  # alone: 19 windows
    assert small.network is None
    assert small.settings.base == fc.ForecasterSettings().base and small.settings.combine == "median"
    given = fc.choose_forecaster_settings([25] * 5, 4, 1, base=("damped_log",), combine="median")
    assert (given.base, given.combine) == (("damped_log",), "median")
    assert small.predict(series[0]) == pytest.approx(small.base(series[0]))


def test_bad_series_are_refused():
    with pytest.raises(ValueError, match="NaN or infinite"):
        fc.fit_forecaster(np.array([1.0, np.nan, 2.0]), 2)
    with pytest.raises(ValueError, match="1-D with at least 2 values"):
        fc.fit_forecaster(np.ones((3, 2)), 2)
    with pytest.raises(ValueError, match="series 1 must be 1-D"):
        fc.fit_forecaster([np.ones(10), np.ones(1)], 2)


def test_the_reasons_say_when_windows_are_padded():
    s = fc.choose_forecaster_settings(50, 6, 1)  # 50 - 6 - 40 = 4 < 11: padded
    assert s.network and "too short for 40 full windows of 12" in s.reasons[2]
    assert len(fc.choose_forecaster_settings(200, 6, 1).reasons) == 2  # no padding


def test_a_time_limit_cuts_every_network_short_and_says_so():
    x = seasonal_series()
    f = fc.fit_forecaster(x[:120], 6, 1, seed=0, members=2, updates=5000, hidden=8,
                          max_minutes=1e-9)
    assert [m["epochs"] for m in f.report["members"]] == [1, 1]
    assert all("time limit" in m["stop_reason"] for m in f.report["members"])


def stopping_series(n=160, stop=135, seed=0):
    """Counts around 4 that stop: zeros from ``stop`` on (as the PBS series does)."""
    rng = np.random.default_rng(seed)
    x = rng.poisson(4.0, size=n).astype(np.float64) + np.linspace(0, 3, n)
    x[stop:] = 0.0
    return x


def test_a_series_that_stops_is_forecast_by_the_naive_and_says_why():
    x = stopping_series()
    settings = fc.choose_forecaster_settings(len(x), 6, 1)
    reason = fc.recent_regime_check(x, settings, 6, 1)
    assert reason is not None and "the forecast is the naive" in reason
    f = fc.fit_forecaster(x, 6, 1, seed=0, **FAST)
    assert f.network is None and f.settings.base == ("naive",)
    assert "recent regime" in f.settings.reasons[0] and "no network" in f.settings.reasons[0]
    assert np.all(f.predict(x) == 0.0)
    # before the stop, the same series keeps the base and its networks
    assert fc.recent_regime_check(x[:120], settings, 6, 1) is None
    kept = fc.fit_forecaster(x[:120], 6, 1, seed=0, **FAST)
    assert kept.network is not None and kept.settings.base == fc.ForecasterSettings().base


def test_short_series_and_a_given_base_are_not_checked():
    x = stopping_series(n=40, stop=28)  # too few windows for a network: not checked
    settings = fc.choose_forecaster_settings(len(x), 6, 1)
    assert fc.recent_regime_check(x, settings, 6, 1) is None
    long = stopping_series()
    given = fc.fit_forecaster(long, 6, 1, seed=0, base=("damped", "drift"), **FAST)
    assert given.settings.base == ("damped", "drift") and given.network is not None


def test_a_checkpoint_from_before_the_median_base_keeps_its_mean():
    x = seasonal_series()
    f = fc.fit_forecaster(x[:120], 6, 1, seed=0, network=False)
    d = f.to_dict()
    assert d["settings"]["combine"] == "median"
    del d["settings"]["combine"]
    old = fc.Forecaster.from_dict(d)
    assert old.settings.combine == "mean"
    methods = old.settings.base
    parts = smoothing.statistical_forecast(x[:120], 6, 1, methods=methods)
    assert old.predict(x[:120]) == pytest.approx(np.mean([parts[m] for m in methods], axis=0))


def test_a_series_never_below_zero_is_never_forecast_below_zero():
    rng = np.random.default_rng(1)
    x = np.maximum(0.0, np.r_[np.linspace(30, 2, 100), np.full(40, 1.0)]
                   + rng.normal(0, 1.5, 140))  # falls to near zero; values >= 0
    f = fc.fit_forecaster(x[:100], 12, 1, seed=0, **FAST)
    assert f.floor == 0.0
    origins = np.arange(99, 128)
    assert np.any(f.base(x[:100]) < 0)  # the trend alone runs below zero here
    members = f.member_forecasts(x, origins)
    assert members.min() >= 0.0 and f.predict_origins(x, origins).min() >= 0.0
    f.calibrate(x[:100])
    lower = f.intervals(x, origins)[80][0]
    assert lower.min() == 0.0
    again = fc.Forecaster.from_dict(f.to_dict(), f.network)
    assert again.floor == 0.0
    assert again.predict_origins(x, origins) == pytest.approx(f.predict_origins(x, origins))
    signed = fc.fit_forecaster(x[:100] - 5.0, 12, 1, seed=0, **FAST)  # goes below zero
    assert signed.floor is None and np.any(signed.predict(x[:100] - 5.0) < 0)
