"""``rnnkit forecast``: forecast one series or many H steps ahead, and say honestly how the
forecast compares with the naive, seasonal-naive and damped-trend forecasts on a held-out
tail, with prediction intervals and their coverage.

The pipeline (the forecaster is ``rnnkit.train.forecaster``):
1. The series: a bundled one (``--dataset airline|sunspots``) or ``--csv PATH``: one value
   column, several (``--column A --column B`` or every numeric column: one series each), or
   the long format (id, time, value rows). A date column gives the frequency, hence the
   period and the default horizon; ``--period`` sets the period; otherwise it is estimated
   from the autocorrelation, and the output says how sure that estimate is.
2. Split, in time order: training part | held-out tail (``--test-size``, default the larger
   of 2H and 20% of the points). Nothing from the tail is seen in training.
3. The forecaster: a statistical base (the median of the damped trend and the drift, on the
   series and on its logs; refitted at every origin)
   corrected by an ensemble of recurrent networks trained on the base's errors over the
   training part; several series train one global model. Short series get padded windows,
   or no network, and a line saying so.
4. Evaluation by rolling origins over the tail: from every origin o whose targets
   x[o+1..o+H] lie in the tail, the forecaster (fed the actual values up to o), the naive
   (x[o]), the seasonal-naive and the damped-trend forecasts are scored on the same targets.
   RMSE, MAE, MAPE and MASE pool all origins and steps; MASE divides by the in-sample MAE of
   the one-step seasonal-naive forecast on the training part, at the period in use.
5. The verdict compares MASEs and says "level" when a baseline lies inside the spread of the
   ensemble's members; intervals (80% and 95%) come from the conformal residuals of the
   training part's rolling origins, and their coverage is measured on the tail.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rnnkit.cli.common import (
    TrainingOptions,
    add_common_arguments,
    emit,
    finish_run,
    log,
    member_store,
    out_dir,
    save_run,
    torch_engine,
)
from rnnkit.cli.forecast_report import evaluate, run_metrics, summary
from rnnkit.cli.variants import add_variant_arguments, variant_options
from rnnkit.data import timeseries as ts
from rnnkit.errors import UsageError

HELP = ("forecast one or many series H steps ahead; compare with the naive, seasonal-naive "
        "and damped-trend forecasts")
TEST_FRACTION = 0.2
MIN_TRAIN = 3  # values in the training part, at least (and more than the period)
LEVELS = (80, 95)
# default horizon by the dates' frequency (the M competitions' horizons where they exist)
HORIZONS = {"yearly": 6, "quarterly": 8, "monthly": 12, "weekly": 13, "daily": 14,
            "business-daily": 10, "hourly": 48, "half-hourly": 48}
DEFAULT_HORIZON = 12


def add_arguments(parser) -> None:
    from rnnkit.data.datasets import SERIES

    g = parser.add_argument_group("data")
    g.add_argument("--dataset", choices=sorted(SERIES), default=None,
                   help="bundled series: airline (monthly, period 12) or sunspots (yearly, "
                        "period 11); default airline unless --csv is given")
    g.add_argument("--csv", default=None,
                   help="CSV file: one or several value columns (one series each), with or "
                        "without a date column, or the long format (id, time, value rows)")
    g.add_argument("--column", action="append", default=None,
                   help="value column of --csv (repeat for several series; default every "
                        "numeric column that is not a date or a row count)")
    g.add_argument("--id-column", default=None, help="long format: the series id column")
    g.add_argument("--time-column", default=None, help="the date or time column")
    g.add_argument("--value-column", default=None, help="long format: the value column")
    g.add_argument("--horizon", type=int, default=None,
                   help="steps to forecast (default from the dates' frequency: yearly 6, "
                        "quarterly 8, monthly 12, weekly 13, daily 14; else 12)")
    g.add_argument("--test-size", type=int, default=None,
                   help="points in the held-out tail (default max(2*horizon, 20%% of the "
                        "series))")
    g.add_argument("--period", type=int, default=None,
                   help="seasonal period (default: from the dates' frequency, or the bundled "
                        "series' own, else estimated from the autocorrelation of the "
                        "training part, with how sure the estimate is)")
    g = parser.add_argument_group("forecaster")
    g.add_argument("--window", type=int, default=None,
                   help="past values the networks read (default max(8, 2 periods, 2 "
                        "horizons))")
    g.add_argument("--members", type=int, default=None,
                   help="networks in the ensemble (default 5)")
    g.add_argument("--updates", type=int, default=None,
                   help="optimiser updates per network (default 300)")
    g.add_argument("--network", action=argparse_bool(), default=None,
                   help="correct the statistical base with networks (default: when the "
                        "training part gives enough windows)")
    add_common_arguments(parser, epochs=None, hidden=32, cell="gru", lr=3e-3,
                         batch_size=None, bidirectional_choice=False)
    add_variant_arguments(parser)


def argparse_bool():
    import argparse

    return argparse.BooleanOptionalAction


# --- input ------------------------------------------------------------------------------------
@dataclass
class SeriesSet:
    """The series to forecast: values (one (N_i,) array each), optional dates and how the
    period was found."""
    names: list
    values: list
    dates: list | None
    frequency: object  # rnnkit.data.frequency.Frequency or None
    source: str
    period: int | None  # known period (bundled series or dates), None when to be estimated
    period_source: str | None


def load_input(args) -> SeriesSet:
    from rnnkit.data.csv_series import read_series_table
    from rnnkit.data.datasets import SERIES, load_series

    if args.csv is None:
        for option in ("column", "id_column", "time_column", "value_column"):
            if getattr(args, option) is not None:
                raise UsageError(f"--{option.replace('_', '-')} needs --csv")
        from importlib import resources

        name = args.dataset or "airline"
        info = SERIES[name]
        with resources.as_file(resources.files("rnnkit.data") / info.file) as path:
            table = read_series_table(path, columns=[info.column])
        return SeriesSet([info.column], [load_series(name)], table.dates, table.frequency,
                         name, info.period, f"the bundled {name} series")
    if args.dataset is not None:
        raise UsageError("give either --dataset or --csv, not both")
    table = read_series_table(args.csv, columns=args.column, id_column=args.id_column,
                              time_column=args.time_column, value_column=args.value_column)
    freq = table.frequency
    period = freq.period if freq is not None else None
    source = f"the dates ({freq.name})" if freq is not None else None
    return SeriesSet(table.names, table.values, table.dates, freq, str(args.csv), period,
                     source)


def check_options(args) -> None:
    from rnnkit.cli.limits import MAX_MEMBERS, MAX_UPDATES, check_at_most

    for option in ("horizon", "window", "test_size", "period", "members", "updates",
                   "hidden", "layers", "batch_size"):
        value = getattr(args, option, None)
        if value is not None and value < 1:
            raise UsageError(f"--{option.replace('_', '-')} must be at least 1, got {value}")
    check_at_most(args, members=MAX_MEMBERS, updates=MAX_UPDATES)


def check_size(args, opts, setup: Setup) -> None:
    """Refuse, before any work, a window longer than every training part and networks whose
    training would not fit in memory (``rnnkit.cli.limits``)."""
    from rnnkit.cli.limits import check_memory, recurrent_parameters, training_bytes

    if args.network is False:
        return
    longest = max(setup.n_train)
    if args.window is not None and args.window > longest:
        raise UsageError(f"--window {args.window} is longer than the longest training part "
                         f"({longest} points)")
    H = setup.horizon
    window = args.window or max(8, 2 * setup.period, 2 * H)
    members = args.members or 5
    batch = min(opts.batch_size or 32, sum(setup.n_train))
    params = recurrent_parameters(opts.cell, 1, opts.hidden, opts.layers) + (opts.hidden + 1) * H
    need = training_bytes(params, batch, window, opts.hidden, opts.layers, cell=opts.cell,
                          members=members)
    check_memory(need, f"{members} {opts.cell.upper()} networks of hidden size {opts.hidden}, "
                 f"{opts.layers} layer(s), windows of {window}, batches of {batch}",
                 getattr(args, "max_memory", None))


# --- the split --------------------------------------------------------------------------------
def tail_size(n: int, horizon: int, test_size=None) -> int:
    return test_size if test_size is not None else max(2 * horizon, round(TEST_FRACTION * n))


def points_needed(horizon: int, least_train: int, test_size=None) -> int:
    """The fewest points that leave ``least_train`` values before the tail (closed form,
    then a few steps up for the rounding of 20%)."""
    if test_size is not None:
        return least_train + test_size
    need = max(2 * horizon + least_train, int(np.ceil(least_train / (1 - TEST_FRACTION))))
    while need - tail_size(need, horizon) < least_train:
        need += 1
    return need


def check_length(name: str, n: int, horizon: int, period: int, test_size=None) -> int:
    """The training part's length, or a UsageError saying how many points would do."""
    least = max(MIN_TRAIN, period + 1)
    if n - tail_size(n, horizon, test_size) < least:
        need = points_needed(horizon, least, test_size)
        raise UsageError(f"{name} has {n} points, too few for horizon {horizon} with a held-out "
                         f"tail of {tail_size(n, horizon, test_size)} and {least} or more "
                         f"values to train on (period {period}): at least {need} are needed "
                         "(try a smaller --horizon or --test-size)")
    return n - tail_size(n, horizon, test_size)


# --- period and horizon -------------------------------------------------------------------------
@dataclass
class Setup:
    horizon: int
    period: int
    period_source: str
    period_sure: bool
    n_train: list  # per series


def prepare(args, data: SeriesSet) -> Setup:
    """Horizon, period (with where it came from and how sure) and each series' split."""
    freq_name = data.frequency.name if data.frequency is not None else None
    H = args.horizon or HORIZONS.get(freq_name, DEFAULT_HORIZON)
    if args.test_size is not None and args.test_size < H:
        raise UsageError(f"--test-size {args.test_size} is smaller than the horizon {H}: the "
                         "tail must hold at least one full forecast")
    shortest = min(len(v) for v in data.values)
    if args.period:
        period, source, sure = args.period, "--period", True
    elif data.period:
        period, source, sure = data.period, data.period_source, True
    else:
        # the estimate reads the training part of the first series, differenced
        x = data.values[0]
        n_train = max(2, len(x) - tail_size(len(x), H, args.test_size))
        z = np.diff(np.log(x[:n_train]) if np.all(x > 0) else x[:n_train])
        found = ts.find_period(z, max(2, n_train // 3), of="the training part")
        period, source, sure = found.period, found.reason, found.sure
    if period >= shortest:
        raise UsageError(f"the period {period} is not shorter than the series ({shortest} "
                         "points)")
    n_train = [check_length(name if len(data.values) > 1 else "the series", len(v), H, period,
                            args.test_size) for name, v in zip(data.names, data.values)]
    return Setup(H, period, source, sure, n_train)


# --- evaluation -------------------------------------------------------------------------------
# --- the command ------------------------------------------------------------------------------
def run(args) -> int:
    from rnnkit.train.forecaster import fit_forecaster

    opts = TrainingOptions.from_args(args)
    check_options(args)
    data = load_input(args)
    setup = prepare(args, data)
    check_size(args, opts, setup)
    H, period = setup.horizon, setup.period
    train_parts = [v[:n] for v, n in zip(data.values, setup.n_train)]
    overrides = {"window": args.window, "members": args.members, "updates": args.updates,
                 "network": args.network, "cell": opts.cell, "hidden": opts.hidden,
                 "layers": opts.layers, "lr": opts.lr, "batch_size": opts.batch_size,
                 "variants": variant_options(args) or None}
    engine = None
    if opts.engine == "torch":
        from rnnkit.nn.losses import MSELoss
        from rnnkit.train.tasks import SupervisedTask

        engine = torch_engine(opts, MSELoss(), SupervisedTask(MSELoss()), 1.0)

    out = out_dir(args, "forecast")
    many = len(data.values) > 1
    log(f"{data.source}: {len(data.values)} series of {min(map(len, data.values))}"
        + (f"-{max(map(len, data.values))}" if many else "") + f" points; horizon {H}; "
        f"period {period} ({setup.period_source})")
    start = time.perf_counter()
    forecaster = fit_forecaster(train_parts if many else train_parts[0], H, period,
                                seed=opts.seed, log=log, engine_factory=engine,
                                max_minutes=opts.max_minutes, store=member_store(out, args),
                                **overrides)
    for reason in forecaster.settings.reasons:
        log(reason)
    forecaster.calibrate(train_parts, LEVELS)
    seconds = time.perf_counter() - start

    results = [evaluate(forecaster, v, n, H, period)
               for v, n in zip(data.values, setup.n_train)]
    metrics = run_metrics(data, setup, forecaster, results, seconds)
    task = {"command": "forecast", "series": data.values,
            "names": data.names, "source": data.source,
            "dates": None if data.dates is None else [d.astype(str).tolist() for d in data.dates],
            "forecaster": forecaster.to_dict()}
    save_run(out, forecaster.network, task, metrics, history=None)
    finish_run(out)
    from rnnkit.cli.forecast_plot import plot_forecasts

    plot_forecasts(results, data, setup, forecaster, out / "forecast.png")
    emit(metrics, args.json, summary(metrics, results, data, setup) + f"\nrun folder: {out}")
    return 0


# --- rnnkit predict ---------------------------------------------------------------------------
def predict(model, task, args) -> int:
    """The next H values after the end of each series (the run's own, or --csv read the way
    training read it), with dates when known and the 80% and 95% intervals."""
    from rnnkit.cli.forecast_predict import predict_run

    return predict_run(model, task, args)
