"""``rnnkit predict --model DIR`` for a forecast run: the next H values after the end of each
series, with the 80% and 95% intervals and, when the series had dates, the future dates."""
from __future__ import annotations

import json

import numpy as np

from rnnkit.errors import UsageError


def _series(task, args):
    """(names, values, dates or None, source) to forecast from: the run's own series, or
    --csv read as in training (its --column, or every value column)."""
    from rnnkit.data.csv_series import read_series_table
    from rnnkit.data.frequency import parse_dates

    if args.csv is not None:
        table = read_series_table(args.csv, columns=[args.column] if args.column else None)
        return table.names, table.values, table.dates, str(args.csv)
    if args.column is not None:
        raise UsageError("--column needs --csv")
    dates = task.get("dates")
    return (list(task["names"]), [np.asarray(v, dtype=np.float64) for v in task["series"]],
            None if dates is None else [parse_dates(d) for d in dates],
            f"the run's series ({task.get('source')})")


def predict_run(model, task, args) -> int:
    from rnnkit.data.frequency import format_dates, future_dates, infer_frequency
    from rnnkit.train.forecaster import Forecaster

    if "forecaster" not in task:
        return predict_legacy(model, task, args)
    try:
        forecaster = Forecaster.from_dict(task["forecaster"], model)
    except (TypeError, ValueError, KeyError) as exc:
        raise UsageError(f"{args.model}/task.json: the forecaster cannot be rebuilt: {exc}") \
            from None
    if forecaster.settings.network and model is None:
        raise UsageError(f"{args.model}: the forecaster has networks but the folder has no "
                         "model.safetensors")
    names, values, dates, source = _series(task, args)
    H, least = forecaster.horizon, forecaster.min_history
    rows = []
    for i, (name, x) in enumerate(zip(names, values)):
        if len(x) < least:
            raise UsageError(f"{source}: series {name!r} has {len(x)} points; the forecaster "
                             f"learned from histories of {least} or more: at least {least} are "
                             "needed")
        forecast = forecaster.predict(x)  # (H,)
        bands = forecaster.intervals(x, [len(x) - 1], forecast[None])
        when = None
        if dates is not None:
            freq = infer_frequency(dates[i])
            when = format_dates(future_dates(dates[i], freq, H), freq)
        rows.append({"series": name, "points": len(x), "last": float(x[-1]),
                     "dates": when, "forecast": forecast.tolist(),
                     "intervals": {str(level): {"lower": lo[0].tolist(), "upper": hi[0].tolist()}
                                   for level, (lo, hi) in bands.items()}})
    if args.json:
        out = dict(rows[0], source=source, horizon=H)
        if len(rows) > 1:
            out["series_forecasts"] = rows
        print(json.dumps(out), flush=True)
        return 0
    for row in rows:
        print(f"next {H} values after the {row['points']} points of {row['series']} "
              f"({source}; last {row['last']:.6g}):")
        levels = sorted(row["intervals"], key=int)
        for h in range(H):
            label = row["dates"][h] if row["dates"] else f"t+{h + 1}"
            bands = "  ".join(f"{lv}% [{row['intervals'][lv]['lower'][h]:.6g}, "
                              f"{row['intervals'][lv]['upper'][h]:.6g}]" for lv in levels)
            print(f"{label:<12s} {row['forecast'][h]:.6g}  {bands}")
    return 0


def predict_legacy(model, task, args) -> int:
    """A run folder of rnnkit 0.2 and earlier: one network on a transformed window."""
    from rnnkit.data.timeseries import SeriesTransform

    if "transform" not in task or "window" not in task:
        raise UsageError(f"{args.model}/task.json is not a forecast run (no forecaster)")
    try:
        transform = SeriesTransform.from_dict(task["transform"])
    except (TypeError, ValueError, KeyError) as exc:
        raise UsageError(f"{args.model}/task.json: the transform cannot be rebuilt: {exc}") \
            from None
    window, H = int(task["window"]), int(task["horizon"])
    _, values, _, source = _series({**task, "names": [task.get("column")],
                                        "series": [task["series"]], "dates": None,
                                        "source": task.get("series_name")}, args)
    x = values[0]
    if len(x) < window + transform.lag:
        raise UsageError(f"{source} has {len(x)} points; the model reads the last {window}: "
                         f"at least {window + transform.lag} are needed")
    if transform.uses_log and np.any(x <= 0):
        raise UsageError(f"{source} has values <= 0, but the model was trained on the "
                         f"{transform.kind} transform, which needs positive values")
    z = transform.transform(x)[-window:]  # (W,)
    out = model.forward(z[None, :, None].astype(np.float32))  # (1, H) standardised
    forecast = transform.inverse(out, x[[-1]])[0]
    if args.json:
        print(json.dumps({"source": source, "points": len(x), "last": float(x[-1]),
                          "horizon": H, "forecast": forecast.tolist()}), flush=True)
    else:
        print(f"next {H} values after the {len(x)} points of {source} (last {x[-1]:.6g}):")
        for h, value in enumerate(forecast, 1):
            print(f"t+{h:<3d} {value:.6g}")
    return 0
