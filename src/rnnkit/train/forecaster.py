"""A forecaster that holds on series nobody tuned it for: a statistical base written here
(damped trend and drift, ``rnnkit.data.smoothing``) corrected by an
ensemble of recurrent networks trained on the base's own errors, in the spirit of ES-RNN
(Smyl 2020: exponential smoothing for level and season, a recurrent network for the rest).

    settings = choose_forecaster_settings(n_train=115, horizon=12, period=12)
    forecaster = fit_forecaster(x_train, horizon=12, period=12, seed=0)
    forecaster.predict(x[:o + 1])              # (H,) after the last value given
    forecaster.predict_origins(x, origins)     # (len(origins), H)

For an origin o (the index of the last value seen) the forecast is

    x_hat[o+h] = base_o(h) + s_o * mean_m net_m(w_o)[h],   h = 1..H
    w_o = (x[o-W+1 .. o] - x[o]) / s_o                     (the last W values, (W, 1))
    s_o = mean_t |x_t - x_{t-1}| over x[..o]               (the series' own step size)

with ``base_o`` the statistical forecast from x[..o] (refitted at every origin: it is cheap
and uses every value seen). Each network reads the normalised window and outputs the H
corrections; its head starts at zero, so an untrained network leaves the base as it is.
The networks are trained with MSE on the windows of the training part, targets
``(x[o+1..o+H] - base_o) / s_o``. A series with too few windows for a network to learn from
(``min_windows``) is forecast by the base alone, and the settings say so.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from rnnkit.core.init import seed_sequence
from rnnkit.data import smoothing
from rnnkit.nn.ensemble import MeanEnsemble
from rnnkit.nn.losses import MSELoss
from rnnkit.nn.models import SequenceModel
from rnnkit.nn.module import no_grad
from rnnkit.train.batches import ArrayData
from rnnkit.train.optim import AdamW
from rnnkit.train.schedules import WarmupCosineLR
from rnnkit.train.trainer import Trainer

MIN_HISTORY = 3  # values seen before the first training origin
# the base of a panel trained as one global model: the mean of the damped trend and the
# drift. The single-series median base (with growth rates from the logs) spoilt the global
# model's training on benchmarks/forecast's M1 yearly panel: geometric-mean MASE ratio to
# the per-series best peer 1.122 against 0.979 with this one
PANEL_BASE, PANEL_COMBINE = ("damped", "drift"), "mean"
# the recent-regime check (:func:`recent_regime_check`): the last RECENT_ORIGINS origins of
# the training part, the base dropped for the naive when its error there is RECENT_FACTOR
# times the naive's or more
RECENT_ORIGINS = 10
RECENT_FACTOR = 2.0


@dataclass
class ForecasterSettings:
    """How a forecaster is built and trained; ``reasons`` says why, for the log."""
    # statistical methods combined into the base: the damped trend and the drift of the
    # recent half, each on the series and on its logs (growth rates; the series itself where
    # a value is <= 0), and their median. Measured on benchmarks/forecast's 181 M1 yearly
    # series, base alone, geometric-mean MASE ratio to the per-series best of AutoETS,
    # AutoARIMA and AutoTheta: this median 1.044 and no series worse than twice the naive;
    # with the drift from the first value 1.043 but 2 such series (T24, T167: the rule of
    # 5 values in smoothing.statistical_forecast fixed T167); mean of the damped trend and
    # the drift 1.090; mean of the four 1.118
    base: tuple = ("damped", "local_drift", "damped_log", "local_drift_log")
    combine: str = "median"
    network: bool = True
    window: int = 24
    cell: str = "gru"
    hidden: int = 32
    layers: int = 1
    members: int = 5
    updates: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-2
    warmup_fraction: float = 0.1
    clip_norm: float = 1.0
    # fewer windows: no network (on the M1 series with 24-40 windows the networks' correction
    # was noise: mean MASE 3.31 with them, 3.26 without)
    min_windows: int = 40
    variants: dict = field(default_factory=dict)  # recurrent-layer variants (SequenceModel)
    reasons: list = field(default_factory=list)

    def model_config(self, horizon: int, seed) -> dict:
        return {"cell": self.cell, "input_size": 1, "hidden_size": self.hidden,
                "output_size": horizon, "num_layers": self.layers, "head": "last", "seed": seed,
                **self.variants}


def choose_forecaster_settings(lengths, horizon: int, period: int = 1,
                               **overrides) -> ForecasterSettings:
    """Settings from the training parts' lengths (one int for one series, or a list for a
    panel trained as one global model), the horizon and the period; ``overrides`` (not None)
    win over the rules. The window is two seasons or two horizons (at least 8); a series too
    short for ``min_windows`` full windows also trains on windows padded with its first value
    (see :func:`first_origin`). Too few training windows over all series: no network."""
    s = ForecasterSettings()
    given = {k for k, v in overrides.items() if v is not None}
    for key in given:
        setattr(s, key, overrides[key])
    lengths = [int(lengths)] if np.isscalar(lengths) else [int(n) for n in lengths]
    if "window" not in given:
        s.window = max(8, 2 * period, 2 * horizon)
    if len(lengths) > 1 and "base" not in given:
        s.base = PANEL_BASE
        if "combine" not in given:
            s.combine = PANEL_COMBINE
    windows = sum(count_windows(n, s, horizon) for n in lengths)
    if "network" not in given and windows < s.min_windows:
        s.network = False
    s.reasons = [f"statistical base: {s.combine} of {', '.join(s.base)}, refitted at every origin"]
    panel = f" of {len(lengths)} series, one global model" if len(lengths) > 1 else ""
    if s.network:
        s.reasons.append(f"{s.members} {s.cell.upper()}({s.hidden}) networks correct the base "
                         f"from the last {s.window} values ({windows} training windows{panel}, "
                         f"{s.updates} updates each)")
        padded = sum(first_origin(n, s, horizon) < s.window - 1 for n in lengths)
        if padded:
            s.reasons.append(
                f"{'the series is' if len(lengths) == 1 else f'{padded} series are'} too short "
                f"for {s.min_windows} full windows of {s.window}: windows reach back to origins "
                f"with only {MIN_HISTORY} values seen, padded with the first value")
    else:
        s.reasons.append(f"no network: {windows} training windows{panel}, fewer than the "
                         f"{s.min_windows} a network needs to learn from; the forecast is the "
                         "statistical base alone")
    return s


def recent_regime_check(x, settings: ForecasterSettings, horizon: int,
                        period: int) -> str | None:
    """Has the series left the regime the base extrapolates? On a series long enough for a
    network (``min_windows`` training windows), the base is refitted at each of the last
    ``RECENT_ORIGINS`` origins whose H targets lie in the training part; when its MAE there
    is ``RECENT_FACTOR`` times the naive's or more, the reason is returned (else None) and
    the caller forecasts with the naive alone (no network). Written for a series that stops: the PBS
    counts fall to zero for the last two years, where the trend methods, still fitted on
    the years before, forecast worse than twice the naive. Short series are not checked:
    on M1 yearly's series, 3-46 training values, the same check mostly picked noise
    (geometric-mean MASE ratio to the best peer 1.045 -> 1.060)."""
    x = np.asarray(x, dtype=np.float64)
    if count_windows(len(x), settings, horizon) < settings.min_windows:
        return None
    origins = np.arange(len(x) - horizon - RECENT_ORIGINS, len(x) - horizon)  # (V,)
    future = x[origins[:, None] + np.arange(1, horizon + 1)]  # (V, H)
    base = np.stack([smoothing.statistical_forecast(x[: o + 1], horizon, period,
                                                    methods=settings.base,
                                                    combine=settings.combine)["combined"]
                     for o in origins])  # (V, H)
    base_mae = float(np.mean(np.abs(future - base)))
    naive_mae = float(np.mean(np.abs(future - x[origins][:, None])))
    if base_mae < RECENT_FACTOR * naive_mae:
        return None
    return (f"recent regime: over the last {RECENT_ORIGINS} training origins the "
            f"{settings.combine} of {', '.join(settings.base)} erred {base_mae:.4g} (MAE) "
            f"against the naive's {naive_mae:.4g}: the forecast is the naive")


def first_origin(n: int, settings: ForecasterSettings, horizon: int) -> int:
    """The first training origin of a training part of n values: W-1 (a full window behind
    it) when that leaves ``min_windows`` windows, else earlier (padded windows), down to an
    origin with MIN_HISTORY values seen."""
    return max(MIN_HISTORY - 1, min(settings.window - 1, n - horizon - settings.min_windows))


def count_windows(n: int, settings: ForecasterSettings, horizon: int) -> int:
    """Training windows in a training part of n values: origins first_origin .. n-1-H."""
    return max(0, n - horizon - first_origin(n, settings, horizon))


def step_scale(x) -> float:
    """s = mean |x_t - x_{t-1}| (the in-sample naive error); 1 for a constant series."""
    x = np.asarray(x, dtype=np.float64)
    s = float(np.mean(np.abs(np.diff(x)))) if len(x) > 1 else 0.0
    return s if s > 0 else max(float(np.mean(np.abs(x))), 1.0)


class Forecaster:
    """The fitted forecaster: its settings, horizon, period, networks (a MeanEnsemble, or
    None for the base alone) and the interval widths of :meth:`calibrate`."""

    def __init__(self, settings: ForecasterSettings, horizon: int, period: int,
                 network=None, report=None, interval_scales=None, min_history=MIN_HISTORY,
                 floor=None):
        self.settings, self.horizon, self.period = settings, horizon, period
        # 0.0 when every training value was >= 0 (counts, sales, prices): no forecast or
        # interval goes below it; None for a series that can be negative
        self.floor = floor
        self.network = network
        self.min_history = min_history  # the fewest values the networks learned from
        self.report = report if report is not None else {}
        self.interval_scales = interval_scales or {}  # level -> (H,) in units of s_o

    def base(self, x) -> np.ndarray:
        """The statistical base forecast after the last value of x; (H,)."""
        out = smoothing.statistical_forecast(x, self.horizon, self.period,
                                             methods=self.settings.base,
                                             combine=self.settings.combine)
        return out["combined"]

    def _parts(self, x, origins):
        """(base (n, H), scales (n,), corrections (M, n, H)) at every origin."""
        x = np.asarray(x, dtype=np.float64)
        origins = np.asarray(origins, dtype=np.int64)
        base = np.stack([self.base(x[: o + 1]) for o in origins])  # (n, H)
        scales = np.array([step_scale(x[: o + 1]) for o in origins])  # (n,)
        if self.network is None:
            return base, scales, np.zeros((1, *base.shape))
        windows = normalised_windows(x, origins, self.settings.window, scales)  # (n, W, 1)
        with no_grad():
            corrections = np.stack([np.asarray(m.forward(windows.astype(np.float32)),
                                               np.float64)
                                    for m in self.network.modules.values()])  # (M, n, H)
        return base, scales, corrections

    def member_forecasts(self, x, origins) -> np.ndarray:
        """Every network's own forecast (base + its correction, not below ``floor``);
        (M, n, H), M = 1 without networks."""
        base, scales, corrections = self._parts(x, origins)
        members = base + scales[:, None] * corrections  # (M, n, H)
        return members if self.floor is None else np.maximum(members, self.floor)

    def predict_origins(self, x, origins) -> np.ndarray:
        """Forecasts of x[o+1..o+H] from every origin o, fed x[..o]: the base plus the
        networks' mean correction; (len(origins), H)."""
        return self.member_forecasts(x, origins).mean(axis=0)

    def predict(self, x) -> np.ndarray:
        """The H values after the last one of x; (H,)."""
        return self.predict_origins(x, [len(x) - 1])[0]

    def calibrate(self, series, levels=(80, 95), max_origins=200) -> dict:
        """Split-conformal interval widths from the rolling origins of the training part(s)
        (one (n,) array or a list): for each step h the ``level``% quantile of
        |x[o+h] - x_hat[o, h]| / s_o over the last ``max_origins`` origins of each series
        (the base is refitted at each, so its errors are out of sample; the networks saw
        these windows in training, so their part is in sample and the widths lean narrow:
        the coverage on the tail says how much). Stored and returned as {level: (H,)}."""
        H = self.horizon
        errors = []
        for x in as_series_list(series):
            origins = np.arange(max(MIN_HISTORY - 1, len(x) - H - max_origins), len(x) - H)
            if len(origins) == 0:
                continue
            forecast = self.predict_origins(x, origins)  # (n, H)
            actual = x[origins[:, None] + np.arange(1, H + 1)]  # (n, H)
            scales = np.array([step_scale(x[: o + 1]) for o in origins])  # (n,)
            errors.append(np.abs(actual - forecast) / scales[:, None])
        self.interval_scales = {}
        if not errors:
            return {}
        errors = np.concatenate(errors)  # (N, H)
        n = len(errors)
        for level in levels:
            q = min(1.0, math.ceil((n + 1) * level / 100) / n)  # finite-sample conformal rank
            self.interval_scales[int(level)] = np.quantile(errors, q, axis=0, method="higher")
        return self.interval_scales

    def intervals(self, x, origins, forecast=None) -> dict:
        """{level: (lower (n, H), upper (n, H))} around the forecasts from ``origins``."""
        x = np.asarray(x, dtype=np.float64)
        forecast = self.predict_origins(x, origins) if forecast is None else forecast
        scales = np.array([step_scale(x[: o + 1]) for o in origins])[:, None]  # (n, 1)
        low = -np.inf if self.floor is None else self.floor
        return {level: (np.maximum(forecast - w * scales, low), forecast + w * scales)
                for level, w in self.interval_scales.items()}

    def to_dict(self) -> dict:
        """Everything but the networks' weights, as plain JSON."""
        settings = asdict(self.settings)
        settings["base"] = list(settings["base"])
        return {"settings": settings, "horizon": self.horizon, "period": self.period,
                "network": self.network is not None, "min_history": self.min_history,
                "floor": self.floor,
                "interval_scales": {str(k): np.asarray(v).tolist()
                                    for k, v in self.interval_scales.items()}}

    @classmethod
    def from_dict(cls, d: dict, network=None) -> "Forecaster":
        # checkpoints written before ``combine`` existed averaged their base
        settings = ForecasterSettings(**{"combine": "mean", **d["settings"],
                                         "base": tuple(d["settings"]["base"])})
        scales = {int(k): np.asarray(v, dtype=np.float64)
                  for k, v in d.get("interval_scales", {}).items()}
        return cls(settings, int(d["horizon"]), int(d["period"]),
                   network if d.get("network") else None, interval_scales=scales,
                   min_history=int(d.get("min_history", MIN_HISTORY)),
                   floor=None if d.get("floor") is None else float(d["floor"]))


def normalised_windows(x, origins, window: int, scales) -> np.ndarray:
    """``(x[o-W+1..o] - x[o]) / s_o`` for every origin, positions before the series' start
    holding its first value; (n, W, 1) float64."""
    idx = np.maximum(np.asarray(origins)[:, None] + np.arange(1 - window, 1), 0)  # (n, W)
    w = (x[idx] - x[np.asarray(origins)][:, None]) / np.asarray(scales)[:, None]
    return w[..., None]


def training_windows(x_train, settings: ForecasterSettings, horizon: int, period: int):
    """Inputs (N, W, 1) float32 and targets (N, H) float32 from every origin of the training
    part with W values behind it and H ahead: the base's normalised errors."""
    x = np.asarray(x_train, dtype=np.float64)
    W, H = settings.window, horizon
    origins = np.arange(first_origin(len(x), settings, H), len(x) - H)  # (N,)
    scales = np.array([step_scale(x[: o + 1]) for o in origins])  # (N,)
    base = np.stack([smoothing.statistical_forecast(x[: o + 1], H, period,
                                                    methods=settings.base,
                                                    combine=settings.combine)["combined"]
                     for o in origins])  # (N, H)
    future = x[origins[:, None] + np.arange(1, H + 1)]  # (N, H)
    targets = (future - base) / scales[:, None]
    inputs = normalised_windows(x, origins, W, scales)
    return inputs.astype(np.float32), targets.astype(np.float32)


def fit_member(inputs, targets, settings: ForecasterSettings, horizon: int, seed, *,
               log=None, engine_factory=None, max_minutes=None):
    """One network on all training windows, its head starting at zero; (model, history)."""
    model = SequenceModel(**settings.model_config(horizon, seed))
    for name in ("fc.weight", "fc.bias"):
        model.params[name][...] = 0.0  # an untrained network leaves the base unchanged
    data = ArrayData(inputs, targets)
    batch = min(settings.batch_size, len(data))
    per_epoch = data.num_batches(batch)
    epochs = max(1, math.ceil(settings.updates / per_epoch))
    optimizer = AdamW(model, lr=settings.lr, weight_decay=settings.weight_decay)
    total = epochs * per_epoch
    schedule = WarmupCosineLR(optimizer, total, int(settings.warmup_fraction * total))
    engine = None if engine_factory is None else engine_factory(model, optimizer)
    trainer = Trainer(model, MSELoss(), optimizer, schedule=schedule,
                      clip_norm=settings.clip_norm, progress=False, engine=engine,
                      seed=np.random.default_rng(seed), log=log, max_minutes=max_minutes)
    history = trainer.fit(data, epochs=epochs, batch_size=batch, verbose=False)
    model.eval()
    return model, history, trainer


def as_series_list(series) -> list[np.ndarray]:
    """One 1-D series or a list of them -> list of float64 arrays, each checked."""
    many = list(series) if isinstance(series, (list, tuple)) else [series]
    out = []
    for i, x in enumerate(many):
        x = np.asarray(x, dtype=np.float64)
        name = f"series {i}" if len(many) > 1 else "the series"
        if x.ndim != 1 or len(x) < 2:
            raise ValueError(f"{name} must be 1-D with at least 2 values, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} holds NaN or infinite values")
        out.append(x)
    if not out:
        raise ValueError("no series to fit")
    return out


def fit_forecaster(series, horizon: int, period: int = 1, seed=0, *,
                   settings: ForecasterSettings | None = None, log=None, engine_factory=None,
                   max_minutes=None, store=None, **overrides) -> Forecaster:
    """Fit on a training part (n,), or on a list of them as one global model (every series'
    windows are normalised by its own step size, so they mix): the settings by rule (or as
    given), then, when the settings call for it, ``members`` networks with independent seeds
    on the base's errors. ``forecaster.report`` holds the training losses and seconds.
    ``engine_factory(model, optimizer)`` trains with another engine (``--engine torch``);
    ``max_minutes`` bounds the networks' training, each getting an equal share of what is
    left (a network cut short says so in the report). ``store``
    (:class:`rnnkit.train.members.MemberStore`) keeps each network as it finishes and hands
    back those a killed fit already trained."""
    many = as_series_list(series)
    start = time.perf_counter()
    if settings is None:
        settings = choose_forecaster_settings([len(x) for x in many], horizon, period,
                                              **overrides)
        if len(many) == 1 and overrides.get("base") is None:
            reason = recent_regime_check(many[0], settings, horizon, period)
            if reason is not None:  # the networks' windows are from the regime that ended
                settings.base, settings.combine, settings.network = ("naive",), "mean", False
                settings.reasons = [reason + "; no network (its training windows come "
                                    "from before the change)"]
    report = {"settings": asdict(settings), "members": [], "series": len(many)}
    network = None
    if settings.network:
        parts = [training_windows(x, settings, horizon, period) for x in many
                 if count_windows(len(x), settings, horizon)]
        inputs = np.concatenate([p[0] for p in parts])  # (N, W, 1)
        targets = np.concatenate([p[1] for p in parts])  # (N, H)
        members = []
        seeds = [int(s.generate_state(1)[0]) for s in seed_sequence(seed).spawn(settings.members)]
        for i, member_seed in enumerate(seeds):
            done = store.load(i) if store is not None else None
            if done is not None:
                members.append(done[0])
                report["members"].append(done[1])
                continue
            share = None
            if max_minutes is not None:
                left = max_minutes - (time.perf_counter() - start) / 60
                share = max(left / (settings.members - i), 1e-9)
            model, history, trainer = fit_member(inputs, targets, settings, horizon,
                                                 member_seed, log=log,
                                                 engine_factory=engine_factory,
                                                 max_minutes=share)
            members.append(model)
            report["members"].append({"train_loss": history["loss"][-1],
                                      "first_loss": history["loss"][0],
                                      "updates": trainer.step, "epochs": trainer.epoch,
                                      "stop_reason": trainer.stop_reason})
            if store is not None:
                store.save(i, model, report["members"][-1])
        network = MeanEnsemble(*members).eval()
        report["windows"] = len(inputs)
        report["base_loss"] = float(np.mean(targets.astype(np.float64) ** 2))
    report["seconds"] = time.perf_counter() - start
    least = min((first_origin(len(x), settings, horizon) + 1 for x in many
                 if count_windows(len(x), settings, horizon)), default=MIN_HISTORY)
    floor = 0.0 if all(np.min(x) >= 0 for x in many) else None  # never negative: stays so
    return Forecaster(settings, horizon, period, network, report,
                      min_history=least if network is not None else MIN_HISTORY, floor=floor)
