"""The rnnkit side of the forecasting benchmark: a worker process that fits and forecasts one
series per request, and the client through which the harness talks to it.

The worker is started once per benchmark run (numba compiles its kernels once) with the
rnnkit code under test first on PYTHONPATH. It reads one JSON request per line on stdin::

    {"method": "default" | "seasonal-naive", "options": {...}, "seed": S,
     "x": [...], "n_train": N, "horizon": H, "period": m, "origins": [...]}

or, for ``--method global`` (every series of a set trains one global model, as
``rnnkit forecast`` does with a file of several series), lists ``"xs"``, ``"n_trains"`` and
``"origins_list"`` (one entry per series) and answers ``"forecasts_list"``.

fits on x[:n_train] and forecasts from every origin, fed the actual values up to it::

    f = fit_forecaster(x[:n_train], horizon=H, period=m, seed=S, **options)
    F = f.predict_origins(x, origins)                     # (n_origins, H)

and answers with one JSON line: ``{"ok": true, "forecasts", "fit_seconds",
"predict_seconds", "look_ahead"}`` or ``{"ok": false, "error", "traceback"}``.
``look_ahead`` is the largest difference between the forecast from the first origin o and
the forecast from o given only x[:o+1], relative to the largest forecast value: anything
above float32 rounding (~1e-7) means the forecaster read values after its origin. Whatever
rnnkit prints goes to stderr, never into the answers.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

METHODS = ("default", "seasonal-naive", "global")


class SeasonalNaive:
    """rnnkit's seasonal-naive forecast behind the forecaster's interface (``--method
    seasonal-naive``): runs the harness end to end without training anything."""

    def __init__(self, horizon: int, period: int):
        self.horizon = horizon
        self.period = period

    def predict_origins(self, x, origins) -> np.ndarray:
        from rnnkit.data.timeseries import seasonal_naive_forecast

        return seasonal_naive_forecast(x, origins, self.horizon, self.period)


def fit(method: str, x_train: np.ndarray, horizon: int, period: int, seed: int, options: dict):
    """The fitted forecaster of a method; x_train (n_train,) float64."""
    if method == "seasonal-naive":
        return SeasonalNaive(horizon, period)
    from rnnkit.train.forecaster import fit_forecaster

    return fit_forecaster(x_train, horizon=horizon, period=period, seed=seed, **options)


def answer_global(job: dict) -> dict:
    """One global model on the training parts of every series of a set; the forecasts of
    each series from its own origins (the fit time is shared: divided by the series)."""
    from rnnkit.train.forecaster import fit_forecaster

    xs = [np.asarray(x, dtype=np.float64) for x in job["xs"]]
    H = job["horizon"]
    start = time.perf_counter()
    f = fit_forecaster([x[:n].copy() for x, n in zip(xs, job["n_trains"])], horizon=H,
                       period=job["period"], seed=job["seed"], **job["options"])
    fitted = time.perf_counter()
    out = [np.asarray(f.predict_origins(x, np.asarray(o, dtype=np.int64)), np.float64).tolist()
           for x, o in zip(xs, job["origins_list"])]
    done = time.perf_counter()
    return {"ok": True, "forecasts_list": out, "fit_seconds": fitted - start,
            "predict_seconds": done - fitted}


def answer(job: dict) -> dict:
    """Fit, forecast from every origin, time both, and check for look-ahead."""
    if job["method"] == "global":
        return answer_global(job)
    x = np.asarray(job["x"], dtype=np.float64)  # (n,)
    origins = np.asarray(job["origins"], dtype=np.int64)  # (n_origins,)
    H = job["horizon"]
    start = time.perf_counter()
    f = fit(job["method"], x[: job["n_train"]].copy(), H, job["period"], job["seed"],
            job["options"])
    fitted = time.perf_counter()
    F = np.asarray(f.predict_origins(x, origins), dtype=np.float64)  # (n_origins, H)
    done = time.perf_counter()
    if F.shape != (len(origins), H):
        raise ValueError(f"predict_origins returned shape {F.shape}, expected "
                         f"({len(origins)}, {H})")
    return {"ok": True, "forecasts": F.tolist(), "fit_seconds": fitted - start,
            "predict_seconds": done - fitted, "look_ahead": look_ahead(f, x, origins[0], F[0])}


def look_ahead(f, x: np.ndarray, o: int, forecast: np.ndarray) -> float | str:
    """Largest difference between the forecast from origin o given all of x and given only
    x[:o+1], relative to the largest forecast value (0, or float32 rounding when a network
    runs on batches of other sizes, if the forecaster reads nothing after its origin), or
    why the check failed."""
    try:
        alone = np.asarray(f.predict_origins(x[: o + 1].copy(), np.array([o])), np.float64)
    except Exception as exc:  # noqa: BLE001 - recorded beside the run, which still counts
        return f"{type(exc).__name__}: {exc}"[:200]
    scale = max(float(np.max(np.abs(forecast))), 1e-300)
    return float(np.nanmax(np.abs(alone[0] - forecast))) / scale  # alone (1, H)


def serve() -> None:
    """Answer requests from stdin until it closes; rnnkit's own output goes to stderr."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # fd 1 (print, numba, C code) now writes to stderr
    sys.stdout = sys.stderr
    for line in sys.stdin:
        try:
            reply = answer(json.loads(line))
        except Exception as exc:  # noqa: BLE001 - reported to the harness, which records it
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc()[-2000:]}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


class WorkerClient:
    """Starts the worker (again after a crash or a timeout) and sends it one request at a
    time; python is the interpreter, env the environment it runs with."""

    def __init__(self, python: str, env: dict, log: Path):
        self.python, self.env, self.log = python, env, log
        self.proc: subprocess.Popen | None = None

    def _start(self) -> None:
        with self.log.open("a") as stderr:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen([self.python, str(Path(__file__).resolve())],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=stderr, text=True, env=self.env)

    def _stderr_tail(self) -> str:
        return self.log.read_text(errors="replace")[-1500:] if self.log.is_file() else ""

    def ask(self, job: dict, timeout: float) -> dict:
        """The worker's answer to one request; a timeout or a dead worker is an answer
        with ``ok`` false (the worker is stopped and started anew for the next request)."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        except BrokenPipeError:
            ready = [self.proc.stdout]  # it died: readline() gives ""
        line = self.proc.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        self.close()
        if not ready:
            return {"ok": False, "status": "timeout", "error": f"no answer in {timeout:.0f} s"}
        return {"ok": False, "error": "the worker died", "traceback": self._stderr_tail()}

    def close(self, grace: float = 0) -> None:
        """Stop the worker: close its input, give it grace seconds to exit, then kill it."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


if __name__ == "__main__":
    serve()
