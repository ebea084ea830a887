"""The statistical peers of the forecasting benchmark: statsforecast's AutoETS, AutoARIMA and
AutoTheta, each refitted on x[:o+1] at every origin o of a series' tail, in this process.

A peer that raises or returns a non-finite forecast at an origin (the shortest M1 training
parts hold 3 points) is replaced there by the naive forecast, and the origin is recorded as
a fallback. statsforecast's SeasonalNaive is run once per series as a check that rnnkit's
seasonal naive (which the report uses) gives the same forecasts.

References: Hyndman, Koehler, Snyder & Grose (2002) and Hyndman & Khandakar (2008), the
automatic ETS and ARIMA procedures; Fiorucci et al. (2016), optimised Theta; Garza et al.,
StatsForecast (Nixtla).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive
from suite import Series

from rnnkit.data.timeseries import naive_forecast, seasonal_naive_forecast

PEERS = {"AutoETS": AutoETS, "AutoARIMA": AutoARIMA, "AutoTheta": AutoTheta}


def one_forecast(model, y: np.ndarray, horizon: int) -> np.ndarray:
    """The model fitted on y, forecasting horizon steps: (H,) float64, finite, or an error."""
    with warnings.catch_warnings():  # short series make statsforecast divide by zero, etc.
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            f = np.asarray(model.forecast(y=y, h=horizon)["mean"], dtype=np.float64)
    if f.shape != (horizon,):
        raise ValueError(f"forecast of shape {f.shape}, expected ({horizon},)")
    if not np.all(np.isfinite(f)):
        raise ValueError("non-finite forecast")
    return f


def refit_forecasts(make, s: Series) -> tuple[np.ndarray, list[dict], float]:
    """make() refitted on x[:o+1] at every origin o: forecasts (n_origins, H), the fallbacks
    to the naive forecast ({origin, reason}), and the seconds spent fitting and forecasting."""
    forecasts = naive_forecast(s.x, s.origins, s.horizon).astype(np.float64)  # (n_origins, H)
    fallbacks = []
    start = time.perf_counter()
    for i, o in enumerate(s.origins):
        try:
            forecasts[i] = one_forecast(make(), s.x[: o + 1], s.horizon)
        except Exception as exc:  # noqa: BLE001 - any failure of a peer is a fallback
            fallbacks.append({"origin": int(o), "reason": f"{type(exc).__name__}: {exc}"[:160]})
    return forecasts, fallbacks, time.perf_counter() - start


def run_peers(s: Series) -> dict:
    """Every peer on one series: its errors (``forecast_errors``), seconds and fallbacks, and
    the largest difference between statsforecast's and rnnkit's seasonal naive."""
    result = {}
    for name, cls in PEERS.items():
        forecasts, fallbacks, seconds = refit_forecasts(lambda c=cls: c(season_length=s.period), s)
        result[name] = {"errors": s.score(forecasts), "seconds": round(seconds, 4),
                        "fallbacks": fallbacks}
    ours = seasonal_naive_forecast(s.x, s.origins, s.horizon, s.period)  # (n_origins, H)
    theirs, fallbacks, _ = refit_forecasts(lambda: SeasonalNaive(season_length=s.period), s)
    result["seasonal_naive_check"] = {"max_abs_diff": float(np.max(np.abs(ours - theirs))),
                                      "fallbacks": len(fallbacks)}
    return result


def warm_up() -> None:
    """One untimed fit of each peer, so that numba compilation (or loading its cache) is not
    charged to the first series."""
    t = np.arange(48, dtype=np.float64)
    y = 10 + 0.1 * t + np.sin(2 * np.pi * t / 12)  # (48,) trend and a 12-step season
    for cls in (*PEERS.values(), SeasonalNaive):
        for m in (1, 4, 12):
            one_forecast(cls(season_length=m), y, 6)
