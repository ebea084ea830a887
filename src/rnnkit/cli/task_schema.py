"""What a run folder's task.json must hold, command by command, and how its model must
match it: checked by :func:`check_run` (through ``rnnkit.io.schema``) before ``rnnkit
predict`` or ``export`` builds anything from the folder, so that a tampered or mixed-up
folder is refused with what is wrong rather than failing half-way or answering nonsense.
"""
from __future__ import annotations

from rnnkit.cli.limits import MAX_MEMBERS
from rnnkit.errors import UsageError
from rnnkit.io.schema import (
    SchemaError,
    boolean,
    choice,
    dict_of,
    fields,
    integer,
    list_of,
    number,
    optional,
    text,
)

BIG = 10**9
CELLS = choice("rnn", "lstm", "gru")
VOCABULARY = list_of(text(), min_len=2, unique=True)

FORECASTER = fields(
    optional_keys=("min_history", "interval_scales", "floor"),
    settings=fields(base=list_of(text(), min_len=1), network=boolean(),
                    window=integer(1, BIG), cell=CELLS, hidden=integer(1, BIG),
                    layers=integer(1, 10**4), members=integer(1, MAX_MEMBERS)),
    horizon=integer(1, 10**6), period=integer(1, 10**6), network=boolean(),
    min_history=integer(1, BIG), interval_scales=dict_of(list_of(number(low=0))),
    floor=optional(number()),
)
TASKS = {
    "forecast": fields(
        optional_keys=("dates", "source", "names"),
        series=list_of(list_of(number(), min_len=2), min_len=1),
        names=list_of(text(), min_len=1), dates=optional(list_of(list_of(text()))),
        forecaster=FORECASTER),
    "forecast-legacy": fields(
        optional_keys=("column", "series_name"),
        transform=fields(kind=text(), mean=number(), std=number(low=0, low_open=True)),
        window=integer(1, 10**6), horizon=integer(1, 10**6),
        series=list_of(number(), min_len=2)),
    "classify-series": fields(
        optional_keys=("label_column", "source"),
        classes=list_of(text(), min_len=2, unique=True), label_column=optional(text()),
        channels=integer(1, 10**6), mean=list_of(number()),
        std=list_of(number(low=0, low_open=True))),
    "classify-text": fields(
        optional_keys=("label_column", "text_column", "source"),
        classes=list_of(text(), min_len=2, unique=True), label_column=optional(text()),
        text_column=optional(text()), tokens=choice("char", "word"), lower=boolean(),
        max_tokens=integer(1, BIG), vocabulary=VOCABULARY),
    "textgen": fields(tokens=VOCABULARY, default_prime=text(),
                      seq_len=integer(1, BIG)),
    "translate": fields(tokens=choice("char", "word"), source_vocabulary=VOCABULARY,
                        target_vocabulary=VOCABULARY, max_len=integer(1, 10**5)),
}


def _kind(task: dict) -> str:
    command = task.get("command")
    if command == "forecast":
        return "forecast" if "forecaster" in task else "forecast-legacy"
    if command == "classify":
        mode = choice("series", "text")(task.get("mode"), "task.json: mode")
        return f"classify-{mode}"
    if not isinstance(command, str) or command not in TASKS:
        raise SchemaError(f"task.json: 'command' must be one of forecast, classify, textgen, "
                          f"translate; got {task.get('command')!r:.40}")
    return command


def _members(model) -> list[dict]:
    """The configs of the model's networks: one, or each member of an ensemble."""
    from rnnkit.nn.registry import describe

    desc = describe(model)
    if "modules" in desc and desc["class"] in ("Ensemble", "MeanEnsemble"):
        return [(d["class"], d.get("config", {})) for d in desc["modules"].values()]
    return [(desc["class"], desc.get("config", {}))]


def _expect(members, where, cls, **values) -> None:
    for got_cls, config in members:
        if got_cls != cls:
            raise SchemaError(f"{where}: the model is a {got_cls}, but this run's task needs a "
                              f"{cls}")
        for key, value in values.items():
            if config.get(key) != value:
                raise SchemaError(f"{where}: the model's {key} is {config.get(key)!r}, but "
                                  f"task.json says {value!r}")


def check_model(kind: str, task: dict, model, where: str) -> None:
    """The model is the kind the task was trained with, with matching sizes."""
    if model is None and kind != "forecast":
        raise SchemaError(f"{where}: missing, and a {kind} run cannot do without its model")
    if kind == "forecast":
        if not task["forecaster"]["network"]:
            return
        if model is None:
            raise SchemaError(f"{where}: the forecaster has networks but the folder has no "
                              "model.safetensors")
        _expect(_members(model), where, "SequenceModel", input_size=1,
                output_size=task["forecaster"]["horizon"])
    elif kind == "forecast-legacy":
        _expect(_members(model), where, "SequenceModel", input_size=1,
                output_size=task["horizon"])
    elif kind == "classify-series":
        channels = task["channels"]
        if len(task["mean"]) != channels or len(task["std"]) != channels:
            raise SchemaError(f"{where}: task.json has {channels} channels but "
                              f"{len(task['mean'])} means and {len(task['std'])} deviations")
        _expect(_members(model), where, "SequenceModel", input_size=channels,
                output_size=len(task["classes"]))
    elif kind == "classify-text":
        _expect(_members(model), where, "SequenceModel", vocab_size=len(task["vocabulary"]),
                output_size=len(task["classes"]))
    elif kind == "textgen":
        V = len(task["tokens"])
        _expect(_members(model), where, "SequenceModel", vocab_size=V, output_size=V)
    elif kind == "translate":
        if not {"<bos>", "<eos>"} <= set(task["target_vocabulary"]):
            raise SchemaError(f"{where}: the target vocabulary lacks <bos> or <eos>")
        _expect(_members(model), where, "Seq2Seq",
                src_vocab_size=len(task["source_vocabulary"]),
                tgt_vocab_size=len(task["target_vocabulary"]))


def check_run(task, model, folder) -> None:
    """UsageError naming the folder and what is wrong when task.json does not have the form
    its command writes, or the model does not match it."""
    where = f"{folder}"
    try:
        if not isinstance(task, dict):
            raise SchemaError(f"task.json: expected an object, got {type(task).__name__}")
        kind = _kind(task)
        TASKS[kind](task, "task.json")
        if kind == "forecast":
            series, names = task["series"], task.get("names", [])
            if "names" in task and len(names) != len(series):
                raise SchemaError(f"task.json: {len(names)} names for {len(series)} series")
            dates = task.get("dates")
            if dates is not None and [len(d) for d in dates] != [len(s) for s in series]:
                raise SchemaError("task.json: the dates do not match the series' lengths")
        check_model(kind, task, model, "model.safetensors")
    except SchemaError as exc:
        raise UsageError(f"{where} is not a usable run folder: {exc}") from None

