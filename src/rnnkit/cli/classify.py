"""``rnnkit classify``: label whole sequences, time series or texts, with a recurrent network.

    x (B, T, C) series or (B, T) token ids -> embedding? -> RNN/LSTM/GRU (default a GRU of
    64 units) -> its output at each sequence's last valid step -> Linear -> logits (B, K);
    softmax cross-entropy, Adam, early stopping on a validation part held out (stratified,
    seeded) from the training set. Seed 001's text classifier is ``--cell lstm --layers 2
    --hidden 128`` (without its dropout).

Inputs (``--train`` and ``--test``; without ``--test``, a stratified quarter of ``--train``
is held out as the test set):
    .ts    UCR/UEA format (``rnnkit.data.tsfile``): univariate or multivariate, equal or unequal length
    .csv   one series per row, a label column (``--label-column``, default "label", else the
    .tsv   last column), the other columns its time steps; empty cells at the end of a row
           make that series shorter. A file whose first row is all numbers has no header:
           its columns are named 0, 1, 2, ... (UCR's .tsv files: ``--label-column 0``).
    .npz   arrays X (N, T) or (N, T, C), y (N,) and optionally lengths (N,)
Text classification reads a CSV/TSV with a text and a label column (``--text``,
``--text-column``, or automatically when the one other column, or a column called "text",
holds words), tokenised by character or word (``--tokens``) into a vocabulary built on the
training part (``rnnkit.data.text``), then embedded.

Missing values (``?`` in .ts, empty cells or NaN elsewhere): those after the last observed
step of every channel shorten the series; the others are filled by linear interpolation in
time (before the first observed value: that value). Each channel is then standardised with
the mean and standard deviation of the training part only (the training set without its
validation part; padding stays zero). The metrics are
computed on the test set: accuracy, macro F1 (the mean F1 over the classes that occur in
its labels or predictions, as scikit-learn's default) and the confusion matrix (rows: true
class, columns: predicted), drawn in confusion_matrix.png. ``rnnkit predict --model DIR
--input FILE`` prints the predicted label of each example in FILE (same formats; the label
column may be left out), and the accuracy when FILE has labels.

Default data: ItalyPowerDemand from the UCR archive (Dau et al. 2019) with its official split,
67 training and 1029 test days of 24 hourly values, class 1 = October-March, 2 = April-
September (``rnnkit/data/SOURCES.md``).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from rnnkit.cli.classify_report import history_csv, honesty, plot_confusion
from rnnkit.cli.common import (
    TrainingOptions,
    add_common_arguments,
    emit,
    finish_run,
    is_main_process,
    log,
    member_store,
    out_dir,
    require_positive,
    save_run,
    torch_engine,
)
from rnnkit.cli.variants import add_variant_arguments, variant_options
from rnnkit.data.examples import Examples, Layout, read_examples, read_ts_examples
from rnnkit.data.preprocess import (
    channel_stats,
    class_order,
    fill_missing,
    standardise,
    stratified_split,
)
from rnnkit.errors import UsageError
from rnnkit.io.files import atomic_write_text
from rnnkit.metrics.classification import confusion_matrix, f1_scores, macro_f1
from rnnkit.train.classifier import accuracy, fit_classifier, predict_logits

HELP = "classify time series (.ts, CSV, NPZ) or texts (CSV/TSV) with a recurrent network"
DEFAULT = "ItalyPowerDemand"
TEST_FRACTION = 0.25  # held out of --train when no --test is given


def add_arguments(parser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--train", type=Path, help="training file: .ts, .csv, .tsv or .npz "
                   f"(default: the bundled {DEFAULT} set with its official test set)")
    g.add_argument("--test", type=Path, help="test file in the same format "
                   f"(default: a stratified {TEST_FRACTION * 100:.0f}%% of --train)")
    g.add_argument("--label-column", help="CSV/TSV: the label column (default 'label', "
                   "else the last column)")
    g.add_argument("--val-fraction", type=float, default=0.0,
                   help="fraction of the training set held out to report a validation "
                        "accuracy (stratified; default 0: train on all of it)")
    g = parser.add_argument_group("text classification (CSV/TSV)")
    g.add_argument("--text", action="store_true", help="the file holds texts, not series")
    g.add_argument("--text-column", help="the text column (implies --text; default 'text', "
                   "else the one column besides the label)")
    g.add_argument("--tokens", choices=["char", "word"], default="word",
                   help="tokenise by character or word (default word, lower-cased)")
    g.add_argument("--max-tokens", type=int, default=200,
                   help="keep the first N tokens of each text (default 200)")
    g.add_argument("--min-count", type=int, default=1,
                   help="vocabulary: tokens seen at least this often in training (default 1)")
    g = parser.add_argument_group("training budget (defaults follow from the data's shape)")
    g.add_argument("--updates", type=int, default=None,
                   help="optimizer updates per network (default 500 for an ensemble of "
                        "patched series, else 1000), with warm-up and cosine decay")
    g.add_argument("--members", type=int, default=None,
                   help="networks in the ensemble, each with its own seed (default 5 for "
                        "small data, fewer for large)")
    g.add_argument("--patch", type=int, default=None,
                   help="series: steps per patch before the recurrence (default: about "
                        "length / 32, at most 30)")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="series: jitter and scaling of training batches (default yes)")
    add_common_arguments(parser, epochs=None, hidden=128, cell="gru", lr=3e-3, batch_size=None,
                         bidirectional=True, embedding_dim=32)
    add_variant_arguments(parser)


# --- from examples to arrays ---------------------------------------------------------------
def encode(examples: Examples, task: dict):
    """(x, lengths) model inputs: standardised series (N, T, C) float32, or token ids
    (N, T) int64; lengths (N,) int64. Raises UsageError for data the task cannot take."""
    if task["mode"] == "series":
        if examples.x.shape[2] != task["channels"]:
            raise UsageError(f"{examples.source} has {examples.x.shape[2]} channels; the "
                             f"model was trained on {task['channels']}")
        x, lengths, _ = fill_missing(examples.x, examples.lengths, examples.where)
        x = x[:, : lengths.max()]
        return standardise(x, lengths, np.array(task["mean"]), np.array(task["std"])), lengths
    from rnnkit.data.text import Vocabulary, pad_ids, tokenize

    vocab = Vocabulary(task["vocabulary"])
    ids = []
    for text, where in zip(examples.texts, examples.where):
        tokens = tokenize(text, task["tokens"], lower=task["lower"])
        if not tokens:
            raise UsageError(f"{where}: empty text")
        ids.append(vocab.encode(tokens))
    return pad_ids(ids, task["max_tokens"])


def label_ids(labels, classes, source):
    """Class indices (N,) of labels; labels outside ``classes`` are an error naming them."""
    index = {c: i for i, c in enumerate(classes)}
    unseen = sorted(set(labels) - set(index))
    if unseen:
        shown = ", ".join(repr(u) for u in unseen[:10]) + (" ..." if len(unseen) > 10 else "")
        raise UsageError(f"labels in {source} not seen in training: {shown}")
    return np.array([index[s] for s in labels], dtype=np.int64)


# --- the command ---------------------------------------------------------------------------
@dataclass
class Prepared:
    """Everything validated and encoded before the run folder is created."""
    name: str
    task: dict
    notes: list = field(default_factory=list)  # logged once the run starts
    data: dict = field(default_factory=dict)  # "fit" / "val" / "test" -> (x, y, lengths)


def _load(args):
    """(name, train Examples, test Examples, note) from the options, or the bundled set."""
    if args.train is None:
        if args.test is not None:
            raise UsageError("--test needs --train")
        if args.text or args.text_column:
            raise UsageError("text classification needs --train FILE (a CSV/TSV of texts)")
        data = resources.files("rnnkit.data")
        train, test = (read_ts_examples(data.joinpath(f"{DEFAULT}_{part}.ts").read_text(
            encoding="utf-8").splitlines(), f"{DEFAULT}_{part}.ts") for part in ("TRAIN", "TEST"))
        return DEFAULT, train, test, ""
    layout = Layout(label_column=args.label_column, text=args.text or None,
                    text_column=args.text_column)
    train = read_examples(args.train, layout)
    if args.test is None:
        rng = np.random.default_rng(args.seed)
        keep, held = stratified_split(np.array(train.labels), TEST_FRACTION, rng)
        if len(held) == 0:
            raise UsageError(f"{args.train}: too few examples to hold out a test set "
                             "(need two or more of some class); give --test")
        note = (f"no --test: holding out {len(held)} of the {len(train)} examples of "
                f"{args.train} as the test set")
        return _name(args.train), train.subset(keep), train.subset(held), note
    test_layout = Layout(label_column=train.label_column, text=train.mode == "text",
                         text_column=train.text_column)
    return _name(args.train), train, read_examples(args.test, test_layout), ""


def _name(path: Path) -> str:
    """The data set's name: the file name without its extension and a _TRAIN suffix."""
    stem = path.stem
    return stem[:-6] if stem.upper().endswith("_TRAIN") and len(stem) > 6 else stem


def _check_options(args):
    if not 0.0 <= args.val_fraction < 1.0:
        raise UsageError(f"--val-fraction must lie in [0, 1), got {args.val_fraction}")
    require_positive(args, "max_tokens", "min_count", "embedding_dim")
    require_positive(args, *(n for n in ("updates", "members", "patch")
                             if getattr(args, n) is not None))
    from rnnkit.cli.limits import MAX_MEMBERS, MAX_UPDATES, check_at_most

    check_at_most(args, members=MAX_MEMBERS, updates=MAX_UPDATES)


def prepare(args) -> Prepared:
    """Read, check and encode the data; split off the validation part; the task dict."""
    _check_options(args)
    name, train, test, note = _load(args)
    notes = [note] if note else []
    for ex in (train, test):
        if ex.labels is None:
            raise UsageError(f"{ex.source} has no class labels")
    classes = class_order(train.labels)
    if len(classes) < 2:
        raise UsageError(f"the training set has only one class ({classes[0]!r}); "
                         "classification needs at least two")
    y_train = label_ids(train.labels, classes, train.source)
    y_test = label_ids(test.labels, classes, test.source)
    fit_idx, val_idx = np.arange(len(y_train)), np.arange(0)
    if args.val_fraction > 0:
        fit_idx, val_idx = stratified_split(y_train, args.val_fraction,
                                            np.random.default_rng(args.seed))
        if len(val_idx) == 0:
            raise UsageError(f"{len(train)} training examples are too few to hold out a "
                             "validation set (need two or more of some class)")
        notes.append(f"holding out {len(val_idx)} of the {len(y_train)} training examples "
                     f"({len(val_idx) / len(y_train):.0%}) to report a validation accuracy")
    task = {"command": "classify", "mode": train.mode, "classes": classes,
            "label_column": train.label_column, "source": name}
    fit_part = train.subset(fit_idx)
    if train.mode == "series":
        x, lengths, filled = fill_missing(fit_part.x, fit_part.lengths, fit_part.where)
        if filled:
            notes.append(f"{filled} missing values in the training part filled in")
        mean, std = channel_stats(x, lengths)
        task.update(channels=train.x.shape[2], mean=mean, std=std)
    else:
        from rnnkit.data.text import Vocabulary, tokenize

        lower = args.tokens == "word"
        vocab = Vocabulary.build((tokenize(t, args.tokens, lower) for t in fit_part.texts),
                                 min_count=args.min_count)
        task.update(text_column=train.text_column, tokens=args.tokens, lower=lower,
                    max_tokens=args.max_tokens, vocabulary=vocab.tokens)
    prepared = Prepared(name, task, notes)
    parts = [("fit", fit_part, y_train[fit_idx]), ("test", test, y_test)]
    if len(val_idx):
        parts.append(("val", train.subset(val_idx), y_train[val_idx]))
    for part, ex, y in parts:
        x, lengths = encode(ex, task)
        prepared.data[part] = (x, y, lengths)
    return prepared


def settings_for(p: Prepared, opts, args):
    """The classifier's settings: rules from the data's shape, then the options given."""
    from rnnkit.train.classifier import choose_settings

    x, y, lengths = p.data["fit"]
    text = p.task["mode"] == "text"
    return choose_settings(len(y), int(lengths.max()), 1 if text else x.shape[2],
                           len(p.task["classes"]), text=text,
                           median_steps=float(np.median(lengths)), cell=opts.cell,
                           hidden=opts.hidden, layers=opts.layers,
                           bidirectional=opts.bidirectional, lr=opts.lr,
                           batch_size=opts.batch_size, updates=args.updates,
                           members=args.members, patch_size=args.patch,
                           augment=None if args.augment else False,
                           inputs=model_inputs(p.task, args.embedding_dim),
                           variants=variant_options(args) or None)


def check_size(p: Prepared, settings, args) -> None:
    """Refuse, before any work, patches longer than the series and an ensemble whose
    training would not fit in memory (``rnnkit.cli.limits``)."""
    from rnnkit.cli.limits import check_memory, recurrent_parameters, training_bytes

    _, y, lengths = p.data["fit"]
    steps = int(lengths.max())
    if args.patch is not None and args.patch > steps:
        raise UsageError(f"--patch {args.patch} is longer than the longest series ({steps} "
                         "steps)")
    s, K = settings, len(p.task["classes"])
    d = 2 if s.bidirectional else 1
    if p.task["mode"] == "series":
        diffs = any(s.reads_differences(i) for i in range(s.members))
        size = p.task["channels"] * (2 if diffs else 1)  # a series beside its differences
        first = size * s.patch_size * s.hidden + s.hidden if s.patch_size > 1 else 0
        size = s.hidden if s.patch_size > 1 else size
    else:
        embedding = s.inputs["embedding_dim"]
        first, size = s.inputs["vocab_size"] * embedding, embedding
    params = first + recurrent_parameters(s.cell, size, s.hidden, s.layers, s.bidirectional) \
        + (2 * d * s.hidden + 1) * K
    batch = min(s.batch_size, len(y))
    need = training_bytes(params, batch, -(-steps // max(1, s.patch_size)), s.hidden, s.layers,
                          cell=s.cell, bidirectional=s.bidirectional, members=s.members)
    if s.conv_channels:  # the convolution's windows, outputs and their gradients, float32
        need += 4 * batch * steps * 2 * (p.task["channels"] * s.conv_kernel + 2 * s.conv_channels)
    check_memory(need, f"{s.members} {s.cell.upper()} network(s) of hidden size {s.hidden}, "
                 f"{s.layers} layer(s), batches of {batch}", getattr(args, "max_memory", None))


def model_inputs(task, embedding_dim) -> dict:
    """The model's input arguments: channels of a series, or a vocabulary of tokens."""
    if task["mode"] == "series":
        return dict(input_size=task["channels"])
    return dict(vocab_size=len(task["vocabulary"]), embedding_dim=embedding_dim)


def _describe(p: Prepared) -> str:
    (_, yf, lf), (xt, _, _) = p.data["fit"], p.data["test"]
    n_val = len(p.data["val"][1]) if "val" in p.data else 0
    length = f"length {lf.min()}" + (f"-{lf.max()}" if lf.max() > lf.min() else "")
    shape = (f"{p.task['channels']} channel(s), {length}" if p.task["mode"] == "series" else
             f"{p.task['tokens']} tokens, vocabulary {len(p.task['vocabulary'])}, {length}")
    val = f" (+ {n_val} held out for validation)" if n_val else ""
    return (f"{p.name}: {len(yf)} training examples{val}, {len(xt)} test; {shape}; "
            f"{len(p.task['classes'])} classes")


def _accuracy_on(model, part):
    """Accuracy on a part (x, y, lengths), or None without that part."""
    if part is None:
        return None
    x, y, lengths = part
    return accuracy(predict_logits(model, x, lengths), y)


def run(args) -> int:
    from rnnkit.nn.losses import CrossEntropyLoss
    from rnnkit.train.tasks import SupervisedTask

    opts = TrainingOptions.from_args(args)
    p = prepare(args)
    settings = settings_for(p, opts, args)
    check_size(p, settings, args)
    out = out_dir(args, "classify")
    for note in p.notes + [f"{p.name}: {r}" for r in settings.reasons]:
        log(note)
    log(_describe(p))
    loss = CrossEntropyLoss()
    engine = torch_engine(opts, loss, SupervisedTask(loss), settings.clip_norm) \
        if opts.engine == "torch" else None
    x, y, lengths = p.data["fit"]
    K = len(p.task["classes"])
    model, report = fit_classifier(x, y, lengths, settings, K, seed=opts.seed, log=log,
                                   engine_factory=engine, max_minutes=opts.max_minutes,
                                   store=member_store(out, args))
    x_test, y_test, len_test = p.data["test"]
    pred = predict_logits(model, x_test, len_test).argmax(-1)  # (N,)
    cm = confusion_matrix(y_test, pred, K)
    test_acc = float(np.mean(pred == y_test))
    warnings = honesty(report["train_accuracy"], test_acc, pred, y, y_test, K)
    metrics = {
        "dataset": p.name, "mode": p.task["mode"], "classes": p.task["classes"],
        "n_train": len(y), "n_val": len(p.data["val"][1]) if "val" in p.data else 0,
        "n_test": len(y_test), "held_out_fraction": args.val_fraction,
        "train_accuracy": report["train_accuracy"],
        "test_accuracy": test_acc, "test_macro_f1": macro_f1(cm),
        "test_f1_per_class": f1_scores(cm), "confusion_matrix": cm,
        "majority_class_accuracy": float(np.bincount(y_test, minlength=K).max() / len(y_test)),
        "val_accuracy": _accuracy_on(model, p.data.get("val")),
        "networks": len(report["members"]), "probe": report["probe"],
        "updates_per_network": report["members"][0]["updates"],
        "member_train_accuracy": [m["train_accuracy"] for m in report["members"]],
        "patch_size": settings.patch_size, "batch_size": settings.batch_size,
        "stop_reason": report["stop_reason"], "warnings": warnings,
        "train_seconds": round(report["seconds"], 2),
    }
    save_run(out, model, p.task, metrics)
    finish_run(out)
    if is_main_process():
        atomic_write_text(out / "history.csv", history_csv(report))
    plot_confusion(cm, p.task["classes"], out / "confusion_matrix.png",
                   f"{p.name}: test accuracy {test_acc:.3f}, "
                   f"macro F1 {metrics['test_macro_f1']:.3f}")
    for w in warnings:
        log(f"warning: {w}")
    emit(metrics, args.json,
         f"{p.name}: test accuracy {test_acc:.4f} ({int(np.trace(cm))}/{len(y_test)}), "
         f"macro F1 {metrics['test_macro_f1']:.4f} (majority class "
         f"{metrics['majority_class_accuracy']:.4f}); training accuracy "
         f"{report['train_accuracy']:.4f}; {len(report['members'])} network(s) x "
         f"{metrics['updates_per_network']} updates in {report['seconds']:.1f} s; {report['stop_reason']}; "
         f"saved to {out}" + "".join(f"\nwarning: {w}" for w in warnings))
    return 0


def predict(model, task, args) -> int:
    """``rnnkit predict --model DIR --input FILE``: one predicted label per line, then the
    accuracy when the file has labels (``--json``: all as one JSON object)."""
    if args.input is None:
        raise UsageError("give --input FILE with the series or texts to classify")
    layout = Layout(label_column=task["label_column"], text=task["mode"] == "text",
                    text_column=task.get("text_column"), labels_optional=True)
    examples = read_examples(args.input, layout)
    x, lengths = encode(examples, task)
    y = None if examples.labels is None else \
        label_ids(examples.labels, task["classes"], examples.source)
    pred = predict_logits(model, x, lengths).argmax(-1)  # (N,)
    labels = [task["classes"][k] for k in pred]
    result = {"predictions": labels}
    lines = list(labels)
    if y is not None:
        result["accuracy"] = float(np.mean(pred == y))
        lines.append(f"accuracy {result['accuracy']:.4f} ({int(np.sum(pred == y))}/{len(y)})")
    emit(result, args.json, "\n".join(lines))
    return 0
