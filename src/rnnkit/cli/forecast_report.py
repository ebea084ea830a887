"""What ``rnnkit forecast`` measures on the held-out tail and says about it: the rolling-origin
forecasts of the forecaster, its networks and the baselines on the same targets, the verdict
("level" inside the ensemble's spread), interval coverage, the summary lines and
metrics.json."""
from __future__ import annotations

import numpy as np

from rnnkit.data import timeseries as ts
from rnnkit.metrics import forecast as fm


# --- evaluation -------------------------------------------------------------------------------
def damped_baseline(x, origins, horizon, period) -> np.ndarray:
    """The statistical baseline: damped-trend exponential smoothing (seasonally adjusted
    when the series is seasonal), refitted at every origin; (n, H)."""
    from rnnkit.data.smoothing import statistical_forecast

    return np.stack([statistical_forecast(x[: o + 1], horizon, period,
                                          methods=("damped",))["combined"] for o in origins])


BASELINES = {"naive": "naive", "seasonal_naive": "seasonal-naive",
             "damped_trend": "damped-trend"}


def evaluate(forecaster, x, n_train: int, horizon: int, period: int) -> dict:
    """Rolling-origin forecasts over the tail by the forecaster, its members and the
    baselines, on the same targets: errors, errors by step, member spread, interval
    coverage."""
    origins = ts.origins_between(n_train, len(x) - 1, horizon)
    actual = ts.targets_at(x, origins, horizon)  # (n, H)
    members = forecaster.member_forecasts(x, origins)  # (M, n, H)
    model = members.mean(axis=0)
    forecasts = {"model": model,
                 "naive": ts.naive_forecast(x, origins, horizon),
                 "seasonal_naive": ts.seasonal_naive_forecast(x, origins, horizon, period),
                 "damped_trend": damped_baseline(x, origins, horizon, period)}
    scale = fm.mase_scale(x[:n_train], period)
    member_mase = [fm.forecast_errors(actual, f, scale)["mase"] for f in members]
    intervals = forecaster.intervals(x, origins, model)
    coverage = {level: fm.interval_coverage(actual, lo, hi)
                for level, (lo, hi) in intervals.items()}
    return {"origins": origins, "actual": actual, "forecasts": forecasts, "scale": scale,
            "errors": {k: fm.forecast_errors(actual, f, scale) for k, f in forecasts.items()},
            "by_step": {k: fm.errors_by_step(actual, f) for k, f in forecasts.items()},
            "member_mase": member_mase, "intervals": intervals, "coverage": coverage}


def _num(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def verdict(errors: dict, member_mase: list) -> tuple[dict, str]:
    """For each baseline "better", "worse" or "level" by MASE: level when the baseline's MASE
    lies inside the range of the ensemble members' MASEs (the seed-to-seed spread) or within
    1% of the forecaster's; and one sentence saying so."""
    m = errors["model"]["mase"]
    if m is None:
        return {k: "n/a" for k in BASELINES}, "MASE is undefined (a constant training part)"
    lo, hi = min(member_mase), max(member_mase)
    outcome = {}
    for key in BASELINES:
        b = errors[key]["mase"]
        if lo <= b <= hi or abs(b - m) <= 0.01 * m:
            outcome[key] = "level"
        else:
            outcome[key] = "better" if m < b else "worse"
    words = {"better": "beats", "worse": "does NOT beat", "level": "is level with"}
    parts = [f"{words[outcome[k]]} the {name} forecast (MASE {m:.3f} vs "
             f"{errors[k]['mase']:.3f})" for k, name in BASELINES.items()]
    spread = (f"; the {len(member_mase)} networks' own MASEs span {lo:.3f}-{hi:.3f}"
              if len(member_mase) > 1 else "")
    return outcome, "the forecaster " + ", ".join(parts) + " on the held-out tail" + spread


# --- what is said and saved ------------------------------------------------------------------
def summary(metrics, results, data, setup) -> str:
    lines = []
    for i, (name, ev) in enumerate(zip(data.names, results)):
        if i == 5 and len(results) > 6:
            lines.append(f"... {len(results) - 5} more series in metrics.json")
            break
        lines.append(f"{name}: {setup.horizon}-step forecasts from {len(ev['origins'])} "
                     f"origins over the last {len(data.values[i]) - setup.n_train[i]} points "
                     f"(period {setup.period})")
        for k, e in ev["errors"].items():
            lines.append(f"  {k.replace('_', ' '):15s} RMSE {_num(e['rmse'], '.4g')}  MAE "
                         f"{_num(e['mae'], '.4g')}  MAPE {_num(e['mape'], '.2f')}%  MASE "
                         f"{_num(e['mase'], '.3f')}")
        cov = ", ".join(f"{lv}% interval covers {c:.0%}" for lv, c in ev["coverage"].items())
        if cov:
            lines.append(f"  {cov} of the tail's values")
    if len(results) > 1:
        s = metrics["summary"]
        lines.append(f"over {len(results)} series: mean MASE {s['mean_mase']['model']:.3f} "
                     f"(naive {s['mean_mase']['naive']:.3f}, seasonal naive "
                     f"{s['mean_mase']['seasonal_naive']:.3f}, damped trend "
                     f"{s['mean_mase']['damped_trend']:.3f})")
    lines.append(metrics["verdict"][0].upper() + metrics["verdict"][1:] + ".")
    if not setup.period_sure:
        lines.append(f"Note: the period {setup.period} is a guess ({setup.period_source}).")
    return "\n".join(lines)


def _series_metrics(name, ev, points, n_train, period) -> dict:
    outcome, sentence = verdict(ev["errors"], ev["member_mase"])
    return {
        "series": name, "metrics": ev["errors"]["model"],
        "baselines": {k: ev["errors"][k] for k in BASELINES},
        "outcome": outcome, "verdict": sentence,
        "beats_naive": outcome["naive"] == "better",
        "beats_seasonal_naive": outcome["seasonal_naive"] == "better",
        "member_mase": ev["member_mase"],
        "interval_coverage": {str(k): v for k, v in ev["coverage"].items()},
        "mase_scale": {"value": ev["scale"], "period": period, "definition": (
            f"in-sample MAE of the one-step seasonal-naive forecast (m={period})"
            if period > 1 else "in-sample MAE of the one-step naive forecast")
            + " on the training part"},
        "split": {"points": points, "train": n_train, "test": points - n_train,
                  "test_origins": len(ev["origins"])},
        "by_step": ev["by_step"],
    }


def stop_reason(forecaster) -> str:
    """Why the networks' training stopped: the first that was cut short, else complete."""
    members = forecaster.report.get("members", [])
    if not members:
        return "no networks trained"
    cut = [m["stop_reason"] for m in members if m["stop_reason"]]
    return cut[0] if cut else f"schedule complete: {members[0]['updates']} updates per network"


def run_metrics(data, setup, forecaster, results, seconds) -> dict:
    per_series = [_series_metrics(name, ev, len(v), n, setup.period)
                  for name, ev, v, n in zip(data.names, results, data.values, setup.n_train)]
    first = per_series[0]
    metrics = dict(first)
    metrics.update({
        "source": data.source, "series_count": len(per_series),
        "horizon": setup.horizon, "period": setup.period,
        "period_source": setup.period_source, "period_sure": setup.period_sure,
        "frequency": data.frequency.name if data.frequency is not None else None,
        "forecaster": {"reasons": forecaster.settings.reasons,
                       "network": forecaster.network is not None,
                       "members": len(forecaster.network.modules) if forecaster.network
                       else 0, "window": forecaster.settings.window,
                       "base": list(forecaster.settings.base),
                       "parameters": forecaster.network.num_parameters()
                       if forecaster.network else 0},
        "training": {"seconds": seconds, "windows": forecaster.report.get("windows", 0),
                     "members": forecaster.report.get("members", []),
                     "stop_reason": stop_reason(forecaster)},
    })
    if len(per_series) > 1:
        keys = ("model", *BASELINES)
        mase = {k: [m["metrics"]["mase"] if k == "model" else m["baselines"][k]["mase"]
                    for m in per_series] for k in keys}
        ok = [i for i in range(len(per_series)) if all(mase[k][i] for k in keys)]
        metrics["summary"] = {
            "mean_mase": {k: float(np.mean([mase[k][i] for i in ok])) for k in keys},
            "geomean_ratio": {k: float(np.exp(np.mean([np.log(mase["model"][i] / mase[k][i])
                                                      for i in ok]))) for k in BASELINES},
            "series_scored": len(ok)}
        better = {k: sum(m["outcome"][k] == "better" for m in per_series) for k in BASELINES}
        metrics["verdict"] = "over the series, the forecaster beats " + ", ".join(
            f"the {name} forecast on {better[k]} of {len(per_series)}"
            for k, name in BASELINES.items()) + " (geometric-mean MASE ratio " + ", ".join(
            f"{metrics['summary']['geomean_ratio'][k]:.3f} to the {name}"
            for k, name in BASELINES.items()) + ")"
        metrics["series_results"] = per_series
    return metrics
