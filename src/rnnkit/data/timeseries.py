"""Univariate forecasting: sliding windows, an invertible transform whose scaler is fitted on
the training part only (read back from run folders of rnnkit 0.2), the period estimate,
rolling forecast origins and the naive and seasonal-naive baselines.

Indexing convention: a forecast *origin* ``o`` is the index of the last observed value; a
forecast from ``o`` predicts ``x[o+1], ..., x[o+H]`` (horizon H).

References: Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed. (2021),
sections 5.2 (simple methods), 5.8 (accuracy, MASE), 5.10 (time series cross-validation, i.e.
rolling origins), 9.1 (differencing); Hyndman & Koehler (2006), "Another look at measures of
forecast accuracy".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TRANSFORMS = ("none", "log", "diff", "logdiff")


def create_sequences(data, window: int, horizon: int = 1):
    """Seed 001's sliding windows, with a multi-step target:
    ``X[i] = data[i : i+W]``, ``y[i] = data[i+W : i+W+H]`` for i = 0 .. N-W-H.

    data (N,) -> X (N-W-H+1, W), y (N-W-H+1, H); both empty if N < W + H.
    """
    data = np.asarray(data)
    n = len(data) - window - horizon + 1
    if n < 1:
        return np.empty((0, window), data.dtype), np.empty((0, horizon), data.dtype)
    view = np.lib.stride_tricks.sliding_window_view(data, window + horizon)  # (n, W+H)
    return view[:, :window].copy(), view[:, window:].copy()


# --- the transform ------------------------------------------------------------------------
class SeriesTransform:
    """``z = (g(x) - mean) / std`` with g one of
        none     g(x)_t = x_t
        log      g(x)_t = log x_t                      (x > 0)
        diff     g(x)_t = x_t - x_{t-1}                (one value shorter)
        logdiff  g(x)_t = log x_t - log x_{t-1}        (x > 0; one value shorter)
    ``mean`` and ``std`` are learned by :meth:`fit` from the training part only.

    ``z[j]`` belongs to ``x[j + lag]`` (lag = 1 for the differencing transforms, else 0).
    :meth:`inverse` turns H standardised future values after an origin back into levels:
    differences are accumulated from the level at the origin, logs exponentiated.
    """

    def __init__(self, kind: str = "none"):
        if kind not in TRANSFORMS:
            raise ValueError(f"Unknown transform {kind!r}; expected one of {TRANSFORMS}")
        self.kind = kind

    @property
    def lag(self) -> int:
        return 1 if self.kind.endswith("diff") else 0

    @property
    def uses_log(self) -> bool:
        return self.kind.startswith("log")

    def _g(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.uses_log:
            if np.any(x <= 0):
                raise ValueError(f"the {self.kind} transform needs positive values, "
                                 f"got minimum {x.min():g}")
            x = np.log(x)
        return np.diff(x) if self.lag else x

    def fit(self, x_train) -> "SeriesTransform":
        """Learn ``mean_`` and ``std_`` of g(x) on the training part; x_train (N,)."""
        g = self._g(x_train)  # (N - lag,)
        self.mean_ = float(g.mean())
        std = float(g.std())
        self.std_ = std if std > 1e-12 * max(1.0, abs(self.mean_)) else 1.0  # constant series
        return self

    def transform(self, x) -> np.ndarray:
        """x (N,) -> z (N - lag,), standardised with the training mean and std."""
        return (self._g(x) - self.mean_) / self.std_

    def inverse(self, z, last) -> np.ndarray:
        """z (..., H) standardised values after an origin, last (...,) the level x[o] at the
        origin (used by the differencing transforms) -> levels (..., H)."""
        u = np.asarray(z, dtype=np.float64) * self.std_ + self.mean_  # (..., H) undo scaling
        if self.lag:
            start = np.asarray(last, dtype=np.float64)[..., None]  # (..., 1)
            u = (np.log(start) if self.uses_log else start) + np.cumsum(u, axis=-1)  # undo diff
        return np.exp(u) if self.uses_log else u  # undo log

    def to_dict(self) -> dict:
        return {"kind": self.kind, "mean": self.mean_, "std": self.std_}

    @classmethod
    def from_dict(cls, d: dict) -> "SeriesTransform":
        t = cls(d["kind"])
        t.mean_, t.std_ = float(d["mean"]), float(d["std"])
        return t


PERIOD_MARGIN = 0.1  # a shorter peak lag this close to the best peak's autocorrelation wins
SURE_MARGIN = 0.2  # a period is sure when its autocorrelation beats the threshold by this
NO_SEASON = "period 1 (no season) assumed — set --period if you know it"


@dataclass(frozen=True)
class PeriodEstimate:
    """A seasonal period read from the autocorrelation, and how sure it is.

    ``strength`` is the autocorrelation r at ``period`` (for period 1: at the highest local
    maximum, NaN when there is none), ``threshold`` the level a peak
    had to pass, ``sure`` whether r passed it by :data:`SURE_MARGIN`, ``reason`` one line
    saying all this, e.g. "estimated 12 from the autocorrelation of the training part
    (r=0.74 at lag 12, threshold 0.30): confident".
    """
    period: int
    strength: float
    threshold: float
    sure: bool
    reason: str


def _autocorrelation(z: np.ndarray, max_lag: int) -> np.ndarray:
    """r_k = sum_t z_t z_{t+k} / sum_t z_t^2 for k = 0..max_lag+1, z centred; (max_lag+2,)."""
    denom = z @ z
    return np.array([z[k:] @ z[:-k] / denom if k else 1.0 for k in range(max_lag + 2)])


def _repeats_up_to(k: int, best: int, maxima: list[int]) -> bool:
    """The best peak is the season k seen again: best is j*k (j >= 2) and the
    autocorrelation has a positive local maximum at every multiple of k before it, within
    one lag for k >= 6, where real cycles drift. (A single cycle of length best has troughs
    or zeros at its divisors; a 12-cycle plus a 48-cycle of the same amplitude has r = 0 at
    24, of a smaller amplitude r > 0.)"""
    j = round(best / k)
    tol = 1 if k >= 6 else 0
    if j < 2 or abs(best - j * k) > tol:
        return False
    return all(any(abs(m - i * k) <= tol for m in maxima) for i in range(2, j))


def find_period(z, max_lag: int, of: str = "the series") -> PeriodEstimate:
    """The seasonal period of z (N,) (a stationary, e.g. transformed, series) with how sure.

    A peak is a lag k in 2..min(max_lag, N/2) whose autocorrelation r_k is a local maximum
    above the threshold max(0.3, 3/sqrt(N)). The period is the smallest peak lag k whose
    r_k is within :data:`PERIOD_MARGIN` of the best peak's, or of which the best peak is a
    multiple with positive local maxima at every multiple on the way (monthly data with a
    12-month season and a stronger 48-month cycle get 12, not 48). Without a peak: period 1,
    not sure. ``of`` names z in the reason ("the training part").
    """
    z = np.asarray(z, dtype=np.float64)
    z = z - z.mean() if len(z) else z
    n = len(z)
    threshold = max(0.3, 3 / math.sqrt(n)) if n else 0.3
    max_lag = min(max_lag, n // 2)
    if n == 0 or z @ z <= 0 or max_lag < 3:
        return PeriodEstimate(1, math.nan, threshold, False,
                              f"{of} is too short or constant to show a season; {NO_SEASON}")
    acf = _autocorrelation(z, max_lag)  # (max_lag+2,)
    local = [k for k in range(2, max_lag + 1) if acf[k - 1] <= acf[k] >= acf[k + 1]]
    maxima = [k for k in local if acf[k] > 0]
    peaks = [k for k in maxima if acf[k] > threshold]
    if not peaks:
        top = max(local, key=lambda k: acf[k], default=None)
        seen = f"highest peak r={acf[top]:.2f} at lag {top}" if top else "no peak at all"
        return PeriodEstimate(1, float(acf[top]) if top else math.nan, threshold, False,
                              f"no seasonal peak above the threshold {threshold:.2f} in the "
                              f"autocorrelation of {of} ({seen}); {NO_SEASON}")
    best = max(peaks, key=lambda k: acf[k])
    period = min(k for k in peaks
                 if acf[k] >= acf[best] - PERIOD_MARGIN or _repeats_up_to(k, best, maxima))
    r = float(acf[period])
    sure = r >= threshold + SURE_MARGIN
    also = "" if period == best else f"; lag {best} has r={acf[best]:.2f}"
    verdict = "confident" if sure else "weak — set --period if you know it"
    return PeriodEstimate(period, r, threshold, sure,
                          f"estimated {period} from the autocorrelation of {of} (r={r:.2f} at "
                          f"lag {period}, threshold {threshold:.2f}{also}): {verdict}")


def estimate_period(z, max_lag: int) -> int:
    """The period of :func:`find_period` alone (1: no season)."""
    return find_period(z, max_lag).period


# --- origins, baselines, errors ------------------------------------------------------------
def origins_between(first_target: int, last_target: int, horizon: int) -> np.ndarray:
    """Every origin o whose targets o+1..o+H all lie in [first_target, last_target]."""
    return np.arange(first_target - 1, last_target - horizon + 1)


def targets_at(x, origins, horizon: int) -> np.ndarray:
    """x[o+1 : o+1+H] for each origin; -> (len(origins), H)."""
    idx = np.asarray(origins)[:, None] + np.arange(1, horizon + 1)  # (n, H)
    return np.asarray(x)[idx]


def naive_forecast(x, origins, horizon: int) -> np.ndarray:
    """``x_hat[o+h] = x[o]`` for h = 1..H; -> (len(origins), H)."""
    last = np.asarray(x)[np.asarray(origins)]  # (n,)
    return np.repeat(last[:, None], horizon, axis=1)


def seasonal_naive_forecast(x, origins, horizon: int, period: int) -> np.ndarray:
    """``x_hat[o+h] = x[o + h - m*ceil(h/m)]``: the same season of the last observed cycle
    (m = period; m = 1 is the naive forecast); -> (len(origins), H)."""
    h = np.arange(1, horizon + 1)
    back = h - period * np.ceil(h / period).astype(int)  # (H,) in -m+1..0
    return np.asarray(x)[np.asarray(origins)[:, None] + back]
