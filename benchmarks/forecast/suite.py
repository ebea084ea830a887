"""The forecasting development suite (issue 10): which series, their horizon and period, and
the rolling-origin protocol that every method is scored by.

For a series of n points with horizon H and period m:

* tail = max(2H, round(0.2 n)) points are held out; the training part is x[:n_train],
  n_train = n - tail;
* forecasts are made from every origin whose H targets lie in the tail,
  ``rnnkit.data.timeseries.origins_between(n_train, n - 1, H)``, each fed the actual values
  up to its origin; the targets are ``targets_at(x, origins, H)``;
* the score is the MASE: the MAE pooled over every origin and step, divided by the in-sample
  MAE of the one-step seasonal-naive forecast at period m on the training part
  (``rnnkit.metrics.forecast.mase_scale``); a series whose scale is 0 is skipped.

The data are read from the installed aeon wheel and nothing is downloaded: the single series
through aeon's loaders (which read the CSV files under ``aeon/datasets/data/``), the M1 yearly
set from ``aeon/datasets/data/m1_yearly_dataset/m1_yearly_dataset.tsf`` with aeon's tsf
reader (``load_forecasting`` would read the same file, but falls back to downloading from
Zenodo when it is missing, so it is not called).

References: Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., 5.8 and
5.10; Hyndman & Koehler (2006); Makridakis et al. (1982), the M1 competition.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from rnnkit.data.timeseries import origins_between, targets_at
from rnnkit.metrics.forecast import forecast_errors, mase_scale

# set -> horizon H and period m (the period in use for the seasonal naive and the MASE scale).
# Lynx is yearly: m = 1, its calendar period, although the series has a ~10-year cycle.
PROTOCOL = {
    "Airline": {"horizon": 12, "period": 12},  # monthly, 144 points
    "Lynx": {"horizon": 6, "period": 1},  # yearly, 114 points
    "ShampooSales": {"horizon": 6, "period": 12},  # monthly, 36 points
    "PBS": {"horizon": 12, "period": 12},  # monthly, 204 points
    "Uschange": {"horizon": 8, "period": 4},  # quarterly, 5 series of 187 points
    "M1yearly": {"horizon": 6, "period": 1},  # yearly, 181 series of 15-58 points
}
TAIL_FRACTION = 0.2


def tail_length(n: int, horizon: int) -> int:
    """Points held out at the end: max(2H, round(0.2 n))."""
    return max(2 * horizon, round(TAIL_FRACTION * n))


@dataclass(frozen=True)
class Series:
    """One series of the suite with its protocol; x (n,) float64."""

    set: str
    name: str
    x: np.ndarray
    horizon: int
    period: int

    @property
    def key(self) -> str:
        return f"{self.set}/{self.name}"

    @property
    def n(self) -> int:
        return len(self.x)

    @property
    def tail(self) -> int:
        return tail_length(self.n, self.horizon)

    @property
    def n_train(self) -> int:
        return self.n - self.tail

    @cached_property
    def origins(self) -> np.ndarray:
        return origins_between(self.n_train, self.n - 1, self.horizon)  # (n_origins,)

    @cached_property
    def targets(self) -> np.ndarray:
        return targets_at(self.x, self.origins, self.horizon)  # (n_origins, H)

    @cached_property
    def scale(self) -> float:
        """The MASE denominator: in-sample MAE of the seasonal naive on x[:n_train]."""
        return mase_scale(self.x[: self.n_train], self.period)

    def skip_reason(self) -> str | None:
        """Why the series cannot be scored, or None."""
        if self.n_train <= self.period:
            return f"training part ({self.n_train} points) not longer than the period {self.period}"
        if len(self.origins) == 0:
            return f"no origin with {self.horizon} targets in the tail of {self.tail}"
        if not self.scale > 0:
            return f"MASE scale is 0: the training part is constant at lag {self.period}"
        return None

    def score(self, forecasts) -> dict:
        """RMSE, MAE, MAPE and MASE of forecasts (n_origins, H) against the tail's targets."""
        return forecast_errors(self.targets, forecasts, self.scale)

    def describe(self) -> dict:
        return {"set": self.set, "series": self.name, "n": self.n, "horizon": self.horizon,
                "period": self.period, "tail": self.tail, "n_train": self.n_train,
                "origins": len(self.origins), "scale": self.scale}


def warm_up_series() -> Series:
    """A synthetic monthly series (144 points: trend and a 12-month season), long enough for
    every part of a forecaster to run: an untimed fit on it compiles numba's kernels."""
    t = np.arange(144, dtype=np.float64)
    return Series("warm-up", "synthetic", 100 + t + 10 * np.sin(2 * np.pi * t / 12), 12, 12)


def aeon_data_dir() -> Path:
    """The data folder inside the installed aeon wheel."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("aeon is not installed here: use the benchmark environment "
                         "(.venv-bench, see benchmarks/forecast/README.md)")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def _raw_series(name: str) -> list[tuple[str, np.ndarray]]:
    """(series name, values) of one set, read from the aeon wheel."""
    import aeon.datasets as ad

    with warnings.catch_warnings():  # Lynx, ShampooSales, PBS: deprecated in aeon 1.6, kept
        warnings.simplefilter("ignore", FutureWarning)
        if name == "Airline":
            return [("Airline", ad.load_airline())]
        if name == "Lynx":
            return [("Lynx", ad.load_lynx())]
        if name == "ShampooSales":
            return [("ShampooSales", ad.load_shampoo_sales())]
        if name == "PBS":
            return [("PBS", ad.load_PBS_dataset())]
    if name == "Uschange":
        frame = ad.load_uschange(return_array=False)  # (5, 187), one row per series
        return [(str(label), row.to_numpy()) for label, row in frame.iterrows()]
    if name == "M1yearly":
        tsf = aeon_data_dir() / "m1_yearly_dataset" / "m1_yearly_dataset.tsf"
        frame, _ = ad.load_from_tsf_file(str(tsf))
        return [(str(r.series_name), np.asarray(r.series_value)) for r in frame.itertuples()]
    raise KeyError(name)


def load_suite(sets: list[str], limit: int | None = None) -> list[Series]:
    """The series of the given sets in suite order; limit keeps the first N M1 series."""
    series = []
    for name in sets:
        raw = _raw_series(name)
        if name == "M1yearly" and limit is not None:
            raw = raw[:limit]
        p = PROTOCOL[name]
        series += [Series(name, label, np.asarray(x, dtype=np.float64), p["horizon"],
                          p["period"]) for label, x in raw]
    return series
