"""Statistical forecasts written here: the base that rnnkit's forecaster corrects with a
recurrent network, and the statistical baseline its verdict compares against.

- the 90% autocorrelation test for seasonality and the classical (moving-average)
  decomposition used by the M4 competition's benchmarks;
- simple exponential smoothing (SES), damped-trend exponential smoothing (Holt with damping)
  and the Theta method (SES with drift), each fitted by least squares of the one-step errors
  over a fixed grid of smoothing parameters (deterministic, no optimiser to tune);
- their combination, the forecast ``statistical_forecast`` returns.

Every function takes a 1-D float64 series ``y`` (n,) and forecasts ``h = 1..H`` steps after
its last value.

References: Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed. (2021),
sections 3.4 (classical decomposition), 8.1-8.2 (SES, Holt, damped trend); Gardner &
McKenzie (1985), "Forecasting trends in time series" (damped trend); Assimakopoulos &
Nikolopoulos (2000) and Hyndman & Billah (2003), "Unmasking the Theta method"; Makridakis,
Spiliotis & Assimakopoulos (2020), "The M4 Competition" (the seasonality test, Comb S-H-D).
"""
from __future__ import annotations

import math

import numpy as np

SES_ALPHAS = np.array([0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
HOLT_ALPHAS = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
HOLT_BETA_FRACTIONS = np.array([0.01, 0.05, 0.1, 0.2, 0.4])  # beta = fraction * alpha
HOLT_PHIS = np.array([0.8, 0.85, 0.9, 0.95, 0.98])
METHODS = ("damped", "theta")
MIN_TREND_HISTORY = 5  # fewer values seen: every method forecasts the last value


# --- seasonality --------------------------------------------------------------------------
def autocorrelation(y, max_lag: int) -> np.ndarray:
    """r_k = sum_t (y_t - mean)(y_{t-k} - mean) / sum_t (y_t - mean)^2, k = 0..max_lag."""
    e = np.asarray(y, dtype=np.float64) - np.mean(y)  # (n,)
    denom = e @ e
    if denom <= 0:
        return np.r_[1.0, np.zeros(max_lag)]
    return np.array([1.0] + [e[k:] @ e[:-k] / denom for k in range(1, max_lag + 1)])


def is_seasonal(y, period: int) -> bool:
    """The M4 benchmarks' test: seasonal at the 90% level when
    ``|r_m| > 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n)``; needs n >= 3m (else False)."""
    n = len(y)
    if period <= 1 or n < 3 * period:
        return False
    r = autocorrelation(y, period)
    limit = 1.645 * math.sqrt((1 + 2 * np.sum(r[1:period] ** 2)) / n)
    return bool(abs(r[period]) > limit)


def seasonal_indices(y, period: int, multiplicative: bool) -> np.ndarray:
    """Classical decomposition: the centred moving average of order m (2xm when m is even)
    is the trend; the ratio (multiplicative) or difference of y to it, averaged per season
    and normalised to mean 1 (or 0), is the index. Returns (m,): index of position t is
    ``s[t % m]`` counting t from y's first value."""
    y = np.asarray(y, dtype=np.float64)
    m = period
    if m % 2:
        trend = np.convolve(y, np.full(m, 1 / m), mode="valid")  # (n-m+1,)
        offset = m // 2
    else:
        weights = np.r_[0.5, np.ones(m - 1), 0.5] / m  # the 2xm moving average
        trend = np.convolve(y, weights, mode="valid")  # (n-m,)
        offset = m // 2
    t = np.arange(offset, offset + len(trend))  # positions the trend covers
    detrended = y[t] / trend if multiplicative else y[t] - trend
    s = np.array([detrended[t % m == k].mean() for k in range(m)])  # (m,)
    return s / s.mean() if multiplicative else s - s.mean()


# --- exponential smoothing ------------------------------------------------------------------
def ses_fit(y, alphas=SES_ALPHAS) -> tuple[float, float, float]:
    """Simple exponential smoothing ``l_t = l_{t-1} + alpha (y_t - l_{t-1})``, l_0 = y_0,
    with alpha from the grid minimising the sum of squared one-step errors.
    Returns (alpha, last level l_n, sse)."""
    y = np.asarray(y, dtype=np.float64)
    level = np.full(len(alphas), y[0])  # (G,)
    sse = np.zeros(len(alphas))
    for value in y[1:]:
        e = value - level
        sse += e * e
        level = level + alphas * e
    best = int(np.argmin(sse))
    return float(alphas[best]), float(level[best]), float(sse[best])


def ses_forecast(y, horizon: int) -> np.ndarray:
    """Flat at the last smoothed level; (H,)."""
    return np.full(horizon, ses_fit(y)[1])


def _holt_grid():
    a, f, p = np.meshgrid(HOLT_ALPHAS, HOLT_BETA_FRACTIONS, HOLT_PHIS, indexing="ij")
    return a.ravel(), (a * f).ravel(), p.ravel()  # (G,) each


def damped_fit(y) -> dict:
    """Damped-trend exponential smoothing in error-correction form (FPP3 8.2):
        y_hat_t = l_{t-1} + phi b_{t-1},   e_t = y_t - y_hat_t
        l_t = y_hat_t + alpha e_t,         b_t = phi b_{t-1} + beta e_t
    l_0 = y_0 and b_0 the mean of the first (up to 3) differences; (alpha, beta, phi) from a
    grid, minimising the squared one-step errors. Returns the parameters and last states."""
    y = np.asarray(y, dtype=np.float64)
    alpha, beta, phi = _holt_grid()
    k = min(len(y) - 1, 3)
    level = np.full(len(alpha), y[0])  # (G,)
    trend = np.full(len(alpha), (y[k] - y[0]) / k if k else 0.0)  # (G,)
    sse = np.zeros(len(alpha))
    for value in y[1:]:
        fitted = level + phi * trend
        e = value - fitted
        sse += e * e
        level = fitted + alpha * e
        trend = phi * trend + beta * e
    i = int(np.argmin(sse))
    return {"alpha": float(alpha[i]), "beta": float(beta[i]), "phi": float(phi[i]),
            "level": float(level[i]), "trend": float(trend[i]), "sse": float(sse[i])}


def damped_forecast(y, horizon: int) -> np.ndarray:
    """``l_n + (phi + phi^2 + ... + phi^h) b_n`` for h = 1..H; (H,). Fewer than 3 values:
    the last value (no trend can be told from noise)."""
    y = np.asarray(y, dtype=np.float64)
    if len(y) < 3:
        return np.full(horizon, y[-1])
    p = damped_fit(y)
    damping = np.cumsum(p["phi"] ** np.arange(1, horizon + 1))  # (H,)
    return p["level"] + damping * p["trend"]


def on_logs(forecast, y, horizon: int) -> np.ndarray:
    """``exp(forecast(log y))`` for a positive series (trends become growth rates);
    ``forecast(y)`` when a value is <= 0; (H,)."""
    y = np.asarray(y, dtype=np.float64)
    if np.all(y > 0):
        return np.exp(forecast(np.log(y), horizon))
    return forecast(y, horizon)


def damped_log_forecast(y, horizon: int) -> np.ndarray:
    """Damped trend on log y, exponentiated (a damped growth rate), for a positive series;
    the additive damped trend otherwise; (H,)."""
    return on_logs(damped_forecast, y, horizon)


def theta_forecast(y, horizon: int) -> np.ndarray:
    """The Theta method as SES with drift (Hyndman & Billah 2003):
    ``y_hat_{n+h} = l_n + b/2 [(h - 1) + 1/alpha - (1 - alpha)^n / alpha]`` with b the
    least-squares slope of y on t and (alpha, l_n) from SES; (H,)."""
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    if n < 3:
        return np.full(horizon, y[-1])
    t = np.arange(n, dtype=np.float64)
    slope = float(np.polyfit(t, y, 1)[0])
    alpha, level, _ = ses_fit(y)
    h = np.arange(1, horizon + 1, dtype=np.float64)
    return level + slope / 2 * ((h - 1) + 1 / alpha - (1 - alpha) ** n / alpha)


def drift_forecast(y, horizon: int) -> np.ndarray:
    """The random walk with drift: ``y_n + h (y_n - y_1) / (n - 1)``; (H,)."""
    y = np.asarray(y, dtype=np.float64)
    slope = (y[-1] - y[0]) / (len(y) - 1) if len(y) > 1 else 0.0
    return y[-1] + slope * np.arange(1, horizon + 1)


def local_drift_forecast(y, horizon: int) -> np.ndarray:
    """The drift of the recent half: ``y_n + h (y_n - y_k) / (n - k)`` over the last
    max(5, n // 2) values (all of them when fewer), so that a level shift early in the
    series does not set the slope (M1 yearly T24 starts at 12, then 143, 178, and falls
    from there: the drift from the first value forecast growth, worse than twice the
    naive); (H,)."""
    y = np.asarray(y, dtype=np.float64)
    return drift_forecast(y[-max(5, len(y) // 2):], horizon)


def local_drift_log_forecast(y, horizon: int) -> np.ndarray:
    """:func:`local_drift_forecast` on log y, exponentiated (the recent growth rate), for a
    positive series; on y itself otherwise; (H,)."""
    return on_logs(local_drift_forecast, y, horizon)


def drift_log_forecast(y, horizon: int) -> np.ndarray:
    """The drift on log y, exponentiated (the mean growth rate, ``y_n (y_n / y_1)^(h/(n-1))``),
    for a positive series; the additive drift otherwise; (H,)."""
    return on_logs(drift_forecast, y, horizon)


def last_value_forecast(y, horizon: int) -> np.ndarray:
    """The naive forecast: the last value, H times; (H,)."""
    return np.full(horizon, float(np.asarray(y, dtype=np.float64)[-1]))


FORECASTS = {"naive": last_value_forecast, "ses": ses_forecast, "damped": damped_forecast,
             "damped_log": damped_log_forecast, "theta": theta_forecast,
             "drift": drift_forecast, "drift_log": drift_log_forecast,
             "local_drift": local_drift_forecast, "local_drift_log": local_drift_log_forecast}
COMBINE = {"mean": np.mean, "median": np.median}


# --- the combination --------------------------------------------------------------------------
def season_of(y, period: int) -> tuple[np.ndarray | None, bool]:
    """(seasonal indices or None, multiplicative): indices when the series is seasonal by the
    90% test; multiplicative when every value is positive."""
    y = np.asarray(y, dtype=np.float64)
    if not is_seasonal(y, period):
        return None, False
    multiplicative = bool(np.all(y > 0))
    return seasonal_indices(y, period, multiplicative), multiplicative


def statistical_forecast(y, horizon: int, period: int = 1, methods=METHODS,
                         season=None, combine: str = "mean") -> dict:
    """Each method's forecast and their mean (or median: ``combine``), on the seasonally
    adjusted series when it is seasonal (reseasonalised after): ``{"ses": (H,),
    "damped": (H,), "theta": (H,), "combined": (H,)}``. ``season`` = (indices,
    multiplicative) fixed by the caller, else tested and estimated on y; "naive" is the last
    value of y itself, never adjusted. With fewer than
    ``MIN_TREND_HISTORY`` values every method gives the last value: no trend can be told from
    three or four points (M1 yearly series with 3-point training parts: a trend fitted there
    forecast worse than twice the naive)."""
    y = np.asarray(y, dtype=np.float64)
    if combine not in COMBINE:
        raise ValueError(f"unknown combine {combine!r}; expected one of {sorted(COMBINE)}")
    if len(y) < MIN_TREND_HISTORY:
        last = np.full(horizon, y[-1])
        return {**{name: last for name in methods}, "combined": last}
    indices, multiplicative = season if season is not None else season_of(y, period)
    n = len(y)
    if indices is not None:
        past = indices[np.arange(n) % period]  # (n,)
        future = indices[np.arange(n, n + horizon) % period]  # (H,)
        adjusted = y / past if multiplicative else y - past
    else:
        adjusted = y
    out = {name: FORECASTS[name](adjusted, horizon) for name in methods if name != "naive"}
    if indices is not None:
        out = {name: f * future if multiplicative else f + future for name, f in out.items()}
    if "naive" in methods:  # the last value as it is, never reseasonalised
        out["naive"] = last_value_forecast(y, horizon)
    out["combined"] = COMBINE[combine]([out[name] for name in methods], axis=0)
    return out
