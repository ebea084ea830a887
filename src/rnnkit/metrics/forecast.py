"""Forecast errors over rolling origins: RMSE, MAE, MAPE and MASE (scaled by the in-sample
seasonal-naive error), overall and per step ahead.

References: Hyndman & Koehler (2006), "Another look at measures of forecast accuracy";
Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., section 5.8.
"""
from __future__ import annotations

import numpy as np


def mase_scale(x_train, period: int) -> float:
    """In-sample MAE of the seasonal-naive one-step forecast on the training part,
    ``mean_t |x_t - x_{t-m}|`` (m = 1: the naive forecast), the MASE denominator."""
    x = np.asarray(x_train, dtype=np.float64)
    return float(np.mean(np.abs(x[period:] - x[:-period])))


def forecast_errors(actual, forecast, scale: float) -> dict:
    """RMSE, MAE, MAPE (%, over the nonzero actuals) and MASE (= MAE / scale) over every
    origin and step; actual, forecast (n, H) in the units of the series."""
    actual, forecast = np.asarray(actual, np.float64), np.asarray(forecast, np.float64)
    err = forecast - actual  # (n, H)
    nonzero = actual != 0
    mae = float(np.mean(np.abs(err)))
    return {
        "rmse": float(np.sqrt(np.mean(err ** 2))),
        "mae": mae,
        "mape": float(100 * np.mean(np.abs(err[nonzero] / actual[nonzero])))
        if nonzero.any() else None,
        "mase": mae / scale if scale > 0 else None,
    }


def errors_by_step(actual, forecast) -> dict:
    """RMSE and MAE of each step ahead h = 1..H (averaged over origins): lists of H floats."""
    err = np.asarray(forecast, np.float64) - np.asarray(actual, np.float64)  # (n, H)
    return {"rmse": np.sqrt(np.mean(err ** 2, axis=0)).tolist(),
            "mae": np.mean(np.abs(err), axis=0).tolist()}


def interval_coverage(actual, lower, upper) -> float:
    """The fraction of actual values inside [lower, upper]; all (n, H)."""
    actual = np.asarray(actual, np.float64)
    return float(np.mean((actual >= lower) & (actual <= upper)))
