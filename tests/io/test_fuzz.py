"""Fuzzing (hypothesis) of every reader of user files and of checkpoint loading: whatever the
bytes, a reader returns its result or raises one of rnnkit's own errors (RnnkitError), never
a traceback of another type, a hang or a memory blow-up. Fixed example counts and
``derandomize=True`` keep the run short (about 15 s) and the same on every machine."""
from __future__ import annotations

import io
import json
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnkit
from rnnkit.data.csv_series import read_csv_column, read_series_table
from rnnkit.data.examples import Layout, read_examples
from rnnkit.data.frequency import infer_frequency, parse_date, parse_dates
from rnnkit.data.tsfile import parse_ts
from rnnkit.errors import RnnkitError
from rnnkit.io.schema import load_json
from rnnkit.nn.models import SequenceModel

FUZZ = settings(max_examples=300, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
FOLDER = Path(tempfile.mkdtemp(prefix="rnnkit-fuzz-"))


def attempt(read, *args, **kwargs):
    """Run a reader; only rnnkit's own errors may come out of it."""
    try:
        read(*args, **kwargs)
    except RnnkitError:
        pass


def file_with(data: bytes | str, suffix: str) -> Path:
    path = FOLDER / f"input{suffix}"
    path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    return path


# --- text that looks like the formats, with mutations ---------------------------------------
NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.integers(-10**30, 10**30).map(str),
                   st.sampled_from(["1e308", "-1e308", "1e-320", "?", "", "nan", "inf", "²⁰",
                                    "١٢", "0x10", "1_000", " 3 ", "--1", "1e", "NaN"]))
WORD = st.one_of(NUMBER, st.text(max_size=12),
                 st.sampled_from(["date", "value", "id", "time", "label", "text", "1949-01",
                                  "1990Q1", "2020-01-31", "2020-02-30", "1949", "a", "b"]))


def rows(delimiter: str):
    row = st.lists(WORD, min_size=0, max_size=6).map(delimiter.join)
    return st.lists(row, min_size=0, max_size=12).map("\n".join)


TS_HEADER = st.sampled_from([
    "@problemName x", "@timeStamps false", "@timeStamps true", "@missing true",
    "@univariate true", "@univariate false", "@dimensions 2", "@dimensions ²",
    "@dimensions 0", "@equalLength true", "@equalLength false", "@seriesLength 3",
    "@seriesLength ²⁰", "@seriesLength 99999999999999999999", "@classLabel true a b",
    "@classLabel true a a", "@classLabel false", "@targetLabel true", "@data", "@data x",
    "# comment", "% comment", "", "@unknown tag"])
TS_CASE = st.lists(st.lists(NUMBER, min_size=0, max_size=5).map(",".join), min_size=1,
                   max_size=3).map(":".join)
TS_LINE = st.one_of(TS_HEADER, TS_CASE, TS_CASE.map(lambda c: c + ":a"),
                    TS_CASE.map(lambda c: c + ":b"), st.text(max_size=20))


@FUZZ
@given(st.lists(TS_LINE, max_size=15))
def test_ts_reader(lines):
    attempt(parse_ts, lines, "fuzz.ts")


@FUZZ
@given(st.one_of(rows(","), rows(";"), rows("\t"), st.binary(max_size=200)))
def test_csv_series_readers(text):
    path = file_with(text, ".csv")
    attempt(read_series_table, path)
    attempt(read_csv_column, path)


@FUZZ
@given(st.one_of(rows(","), rows("\t"), st.binary(max_size=200)), st.booleans(),
       st.sampled_from([None, "label", "0", "text"]))
def test_example_table_reader(text, tsv, label):
    path = file_with(text, ".tsv" if tsv else ".csv")
    attempt(read_examples, path, Layout(label_column=label))
    attempt(read_examples, path, Layout(text=True, labels_optional=True))


ARRAY = st.one_of(
    st.builds(lambda shape, fill: np.full(shape, fill),
              st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple),
              st.sampled_from([0.0, 1.0, np.inf, np.nan, 1e308, -3, 2**62])),
    st.builds(lambda n: np.array(["a", "b"] * n), st.integers(0, 3)),
    st.just(np.array([1 + 2j, 3])), st.just(np.array(True)), st.just(np.zeros((2, 3), "u1")))


@FUZZ
@given(st.dictionaries(st.sampled_from(["X", "x", "y", "lengths", "other"]), ARRAY,
                       max_size=4), st.sampled_from(["whole", "truncated", "junk"]))
def test_npz_reader(arrays, damage):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "junk":
        with zipfile.ZipFile(buf := io.BytesIO(), "w") as z:
            z.writestr("X.npy", b"\x93NUMPY junk")
        data = buf.getvalue()
    attempt(read_examples, file_with(data, ".npz"), Layout())


@FUZZ
@given(st.lists(WORD, max_size=8))
def test_date_parsing(cells):
    for cell in cells:
        parse_date(cell)  # a date or None, never an error
    attempt(parse_dates, cells)
    try:
        dates = parse_dates(cells)
    except RnnkitError:
        return
    attempt(infer_frequency, dates)


# --- checkpoints ----------------------------------------------------------------------------
def good_checkpoint() -> bytes:
    path = FOLDER / "good.safetensors"
    rnnkit.save(SequenceModel("gru", input_size=2, hidden_size=3, output_size=2, seed=0), path)
    return path.read_bytes()


GOOD = good_checkpoint()
(N,) = struct.unpack("<Q", GOOD[:8])
HEADER = json.loads(GOOD[8:8 + N])
JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def mutate_header(path, value):
    """Replace the value at a path of keys in the header (and re-frame the file)."""
    header = json.loads(json.dumps(HEADER))
    target = header
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + GOOD[8 + N:]


DESCRIPTION = json.loads(HEADER["__metadata__"]["model"])
CONFIG_KEYS = sorted(DESCRIPTION["config"])
TENSOR_PATHS = [(name, field) for name in HEADER if name != "__metadata__"
                for field in ("dtype", "shape", "data_offsets")]


def config_mutation(key, value):
    desc = {**DESCRIPTION, "config": {**DESCRIPTION["config"], key: value}}
    return mutate_header(("__metadata__", "model"), json.dumps(desc))


CHECKPOINT = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda i, b: GOOD[:i] + bytes([b]) + GOOD[i + 1:],
              st.integers(0, len(GOOD) - 1), st.integers(0, 255)),
    st.builds(lambda n: GOOD[:n], st.integers(0, len(GOOD))),
    st.builds(mutate_header, st.sampled_from(TENSOR_PATHS), JSON_VALUE),
    st.builds(lambda key, v: mutate_header(("__metadata__", key), v),
              st.sampled_from(["model", "training", "format"]),
              st.one_of(JSON_VALUE.map(json.dumps), st.text(max_size=20))),
    st.builds(config_mutation, st.sampled_from(CONFIG_KEYS),
              st.one_of(JSON_VALUE, st.integers(-10**12, 10**12),
                        st.sampled_from([10**9, 10**6, 10**4, -1, 0]))),
)


@FUZZ
@given(CHECKPOINT)
def test_checkpoint_loading(data):
    path = file_with(data, ".safetensors")
    attempt(rnnkit.load, path)
    attempt(rnnkit.io.checkpoint.load_checkpoint, path)


@FUZZ
@given(st.one_of(st.binary(max_size=200), JSON_VALUE.map(json.dumps),
                 st.integers(1, 5000).map(lambda n: "[" * n + "]" * n)))
def test_json_of_task_files(data):
    attempt(load_json, data, "task.json")


@pytest.fixture(autouse=True, scope="module")
def _cleanup():
    yield
    import shutil

    shutil.rmtree(FOLDER, ignore_errors=True)


# --- task.json of a run folder -----------------------------------------------------------------
def _tasks():
    from rnnkit.nn.seq2seq import Seq2Seq

    vocab = ["<pad>", "<unk>", "a", "b"]
    forecaster = {"settings": {"base": ["damped"], "network": True, "window": 8, "cell": "gru",
                               "hidden": 4, "layers": 1, "members": 1},
                  "horizon": 2, "period": 1, "network": True, "interval_scales": {"80": [1.0]}}
    tasks = [
        {"command": "forecast", "series": [[1.0, 2.0, 3.0]], "names": ["x"], "dates": None,
         "forecaster": forecaster},
        {"command": "forecast", "transform": {"kind": "log", "mean": 0.0, "std": 1.0},
         "window": 4, "horizon": 2, "series": [1.0, 2.0, 3.0]},
        {"command": "classify", "mode": "series", "classes": ["a", "b"], "label_column": None,
         "channels": 1, "mean": [0.0], "std": [1.0]},
        {"command": "classify", "mode": "text", "classes": ["a", "b"], "tokens": "word",
         "lower": True, "max_tokens": 5, "vocabulary": vocab},
        {"command": "textgen", "tokens": vocab, "default_prime": "a", "seq_len": 5},
        {"command": "translate", "tokens": "char", "source_vocabulary": vocab,
         "target_vocabulary": vocab + ["<bos>", "<eos>"], "max_len": 10},
    ]
    models = [None, SequenceModel("gru", input_size=1, hidden_size=2, output_size=2),
              SequenceModel("gru", vocab_size=4, embedding_dim=2, hidden_size=2, output_size=4),
              Seq2Seq(4, 6, 2, 2)]
    return tasks, models


TASKS, MODELS = _tasks()


def mutate_task(task, where, key, value, remove):
    """A copy of ``task`` with one key of one of its objects (the ``where``-th, counting the
    nested ones) set to ``value`` or removed."""
    task = json.loads(json.dumps(task))
    objects, stack = [], [task]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            objects.append(item)
            stack.extend(item.values())
    target = objects[where % len(objects)]
    if remove:
        target.pop(key if key in target else next(iter(target), None), None)
    else:
        target[key] = value
    return task


KEYS = sorted({k for t in TASKS for k in t} | {"settings", "window", "horizon", "network",
                                                "mean", "std", "kind", "members", "hidden"})


@FUZZ
@given(st.sampled_from(range(len(TASKS))), st.sampled_from(range(len(MODELS))),
       st.integers(0, 5), st.text(max_size=12) | st.sampled_from(KEYS), JSON_VALUE,
       st.booleans())
def test_task_json_check(which, model, where, key, value, remove):
    from rnnkit.cli.task_schema import check_run

    attempt(check_run, mutate_task(TASKS[which], where, key, value, remove), MODELS[model],
            "run")
