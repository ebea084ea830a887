"""Small data sets that ship inside the package (sources in ``rnnkit/data/SOURCES.md``)."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

import numpy as np


@dataclass(frozen=True)
class SeriesInfo:
    file: str
    column: str
    period: int  # seasonal period, for the seasonal-naive baseline
    description: str


SERIES = {
    "airline": SeriesInfo("airline_passengers.csv", "passengers", 12,
                          "monthly airline passengers 1949-1960 (Box & Jenkins series G)"),
    "sunspots": SeriesInfo("sunspots_yearly.csv", "sunspots", 11,
                           "yearly sunspot numbers 1700-2008 (NOAA NGDC)"),
}


def load_series(name: str) -> np.ndarray:
    """A bundled univariate series as float64, shape (N,)."""
    if name not in SERIES:
        raise ValueError(f"Unknown bundled series {name!r}; expected one of {sorted(SERIES)}")
    info = SERIES[name]
    text = resources.files("rnnkit.data").joinpath(info.file).read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return np.array([float(r[info.column]) for r in rows], dtype=np.float64)
