"""The saved runs ``rnnkit inspect`` reads, and their own data: a textgen run's text, a
classify run's examples (the bundled test set, or ``--input``), a forecast run's series and
windows, and batches of one length for a loss at the last step."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnkit.errors import UsageError


def recurrent_model(model, folder):
    """The run's SequenceModel (an ensemble's first member) and a note saying which."""
    from rnnkit.nn.ensemble import Ensemble
    from rnnkit.nn.models import SequenceModel

    note = ""
    if model is None:
        raise UsageError(f"{folder} holds no network to inspect (a forecaster that is the "
                         "statistical base alone)")
    if isinstance(model, Ensemble):
        model, note = next(iter(model.modules.values())), "the ensemble's first member"
    if not isinstance(model, SequenceModel):
        raise UsageError(f"{folder}: inspect reads classify, forecast and textgen runs (a "
                         f"SequenceModel); this run holds a {type(model).__name__}")
    return model, note


def run_text(task: dict, args, folder) -> str:
    """A textgen run's text: --input, else the run's source (the bundled text or its file)."""
    from rnnkit.cli.textgen import DEFAULT_CHARS, default_text, read_text

    if args.input is not None:
        return read_text(args.input)
    source = task.get("source", "")
    if source == "Python's pydoc topics":
        return default_text()[:DEFAULT_CHARS]
    if source and Path(source).is_file():
        return read_text(Path(source))
    raise UsageError(f"{folder}: the run's text ({source!r}) is not here; give --input FILE")


def run_examples(task: dict, args, folder):
    """(x, labels, source) of a classify run: --input, else the bundled test set."""
    from importlib import resources

    from rnnkit.cli.classify import DEFAULT, encode, label_ids
    from rnnkit.data.examples import Layout, read_examples, read_ts_examples

    if args.input is not None:
        layout = Layout(label_column=task["label_column"], text=task["mode"] == "text",
                        text_column=task.get("text_column"), labels_optional=True)
        examples = read_examples(args.input, layout)
    elif task.get("source") == DEFAULT:
        name = f"{DEFAULT}_TEST.ts"
        examples = read_ts_examples(resources.files("rnnkit.data").joinpath(name).read_text(
            encoding="utf-8").splitlines(), name)
    else:
        raise UsageError(f"{folder}: the run's data ({task.get('source')!r}) is not bundled; "
                         "give --input FILE")
    x, lengths = encode(examples, task)
    labels = None if examples.labels is None else \
        label_ids(examples.labels, task["classes"], examples.source)
    return x, lengths, labels, examples.source


def run_forecaster(task: dict, args):
    """(Forecaster, series list, names) of a forecast run: its own series (no --input)."""
    from rnnkit.train.forecaster import Forecaster

    if args.input is not None:
        raise UsageError("a forecast run is inspected on its own series; leave out --input")
    if "forecaster" not in task:
        raise UsageError("this forecast run was written by an older rnnkit; run "
                         "`rnnkit forecast` again to inspect it")
    series = [np.asarray(v, dtype=np.float64) for v in task["series"]]
    return Forecaster.from_dict(task["forecaster"]), series, list(task["names"])


def forecast_window(task: dict, args):
    """(window (1, W, 1) float32, description): the last W values of series ``--index``,
    normalised as the networks read them (x - x_o) / s_o."""
    from rnnkit.train.forecaster import normalised_windows, step_scale

    fc, series, names = run_forecaster(task, args)
    if not 0 <= args.index < len(series):
        raise UsageError(f"--index must lie in 0..{len(series) - 1} (the run has "
                         f"{len(series)} series)")
    x, W = series[args.index], fc.settings.window
    window = normalised_windows(x, [len(x) - 1], W, [step_scale(x)])  # (1, W, 1)
    return window.astype(np.float32), (f"the last {W} values of series "
                                       f"{names[args.index]!r}, normalised")


def model_batch(model, task, args, folder, n):
    """(x, target, loss, description) of up to n sequences of one length from the run's data."""
    from rnnkit.nn.losses import CrossEntropyLoss

    command = task.get("command")
    if command == "forecast":
        from rnnkit.nn.losses import MSELoss
        from rnnkit.train.forecaster import training_windows

        fc, series, _ = run_forecaster(task, args)
        parts = [training_windows(x, fc.settings, fc.horizon, fc.period) for x in series]
        X = np.concatenate([p[0] for p in parts])[-n:]  # (n, W, 1)
        Y = np.concatenate([p[1] for p in parts])[-n:]  # (n, H)
        if len(X) == 0:
            raise UsageError(f"{folder}: the series are too short for a window and a horizon")
        return X, Y, MSELoss(), (f"MSE of the correction to the base forecast (the networks' "
                                 f"training loss), the last {len(X)} windows")
    if command == "textgen":
        from rnnkit.data.text import Vocabulary

        vocab = Vocabulary(task["tokens"])
        steps = args.steps or int(task.get("seq_len", 100))
        ids = vocab.encode(list(run_text(task, args, folder)))
        if len(ids) < steps + 1:
            raise UsageError(f"the text has {len(ids)} characters; {steps + 1} are needed "
                             f"({steps} steps and the character after them)")
        starts = np.linspace(0, len(ids) - steps - 1, n).astype(int)  # spread over the text
        X = np.stack([ids[s : s + steps] for s in starts])  # (n, steps)
        return X, ids[starts + steps], CrossEntropyLoss(), (
            f"cross-entropy of the next character after {steps}, {len(X)} places in the text")
    if command == "classify":
        x, lengths, labels, source = run_examples(task, args, folder)
        if labels is None:
            raise UsageError(f"{source} has no labels: the loss needs them")
        full = np.flatnonzero(lengths == lengths.max())[:n]  # sequences of one length
        return x[full], labels[full], CrossEntropyLoss(), (
            f"cross-entropy of the class, {len(full)} examples of {source}")
    raise UsageError(f"{folder}/task.json names {command!r}: inspect reads classify, "
                     "forecast and textgen runs")
