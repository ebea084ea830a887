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

import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from rnnkit.cli.common import (
    TrainingOptions,
    add_common_arguments,
    emit,
    fit,
    log,
    out_dir,
    require_positive,
    save_figure,
    save_run,
)
from rnnkit.data.examples import Examples, Layout, read_examples, read_ts_examples
from rnnkit.data.preprocess import (
    channel_stats,
    class_order,
    fill_missing,
    standardise,
    stratified_split,
)
from rnnkit.errors import UsageError
from rnnkit.metrics.classification import confusion_matrix, f1_scores, macro_f1

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
    g.add_argument("--val-fraction", type=float, default=0.2,
                   help="fraction of the training set held out for early stopping "
                        "(stratified; default 0.2)")
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
    # GRU: on ItalyPowerDemand it varied less across seeds than the LSTM (5 seeds each)
    add_common_arguments(parser, epochs=300, hidden=64, cell="gru", lr=3e-3, batch_size=16,
                         patience=40, embedding_dim=32)


def plot_confusion(cm, classes, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    K = len(classes)
    size = min(3.0 + 0.45 * K, 14.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if K <= 40:
        names = [c if len(c) <= 12 else c[:11] + "~" for c in classes]
        ax.set_xticks(range(K), names, rotation=90 if K > 6 else 0)
        ax.set_yticks(range(K), names)
    if K <= 20:
        for i, j in np.ndindex(cm.shape):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    save_figure(fig, path)
    plt.close(fig)


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


def predict_logits(model, x, lengths, batch_size=256):
    """Logits (N, K) in eval mode, in batches; lengths only where series differ."""
    out = []
    for s in range(0, len(x), batch_size):
        xb, lb = x[s : s + batch_size], lengths[s : s + batch_size]
        out.append(model.forward(xb[:, : lb.max()], lengths=lb))
    return np.concatenate(out)


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
    if not 0.0 < args.val_fraction < 1.0:
        raise UsageError(f"--val-fraction must lie in (0, 1), got {args.val_fraction}")
    require_positive(args, "max_tokens", "min_count", "embedding_dim")


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
    fit_idx, val_idx = stratified_split(y_train, args.val_fraction,
                                        np.random.default_rng(args.seed))
    if len(val_idx) == 0:
        raise UsageError(f"{len(train)} training examples are too few to hold out a "
                         "validation set (need two or more of some class)")
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
    for part, ex, y in (("fit", fit_part, y_train[fit_idx]),
                        ("val", train.subset(val_idx), y_train[val_idx]),
                        ("test", test, y_test)):
        x, lengths = encode(ex, task)
        prepared.data[part] = (x, y, lengths)
    return prepared


def build_model(task, opts, embedding_dim=None):
    from rnnkit.nn.models import SequenceModel

    inputs = dict(input_size=task["channels"]) if task["mode"] == "series" else \
        dict(vocab_size=len(task["vocabulary"]), embedding_dim=embedding_dim)
    return SequenceModel(opts.cell, hidden_size=opts.hidden, output_size=len(task["classes"]),
                         num_layers=opts.layers, bidirectional=opts.bidirectional,
                         head="last", seed=opts.seed, **inputs)


def _describe(p: Prepared) -> str:
    (xf, _, lf), (_, yv, _), (xt, _, _) = p.data["fit"], p.data["val"], p.data["test"]
    n = len(xf) + len(yv)
    length = f"length {lf.min()}" + (f"-{lf.max()}" if lf.max() > lf.min() else "")
    shape = (f"{p.task['channels']} channel(s), {length}" if p.task["mode"] == "series" else
             f"{p.task['tokens']} tokens, vocabulary {len(p.task['vocabulary'])}, {length}")
    return (f"{p.name}: {n} training examples ({len(xf)} fit + {len(yv)} validation), "
            f"{len(xt)} test; {shape}; {len(p.task['classes'])} classes")


def run(args) -> int:
    from rnnkit.nn.losses import CrossEntropyLoss

    opts = TrainingOptions.from_args(args)
    p = prepare(args)
    out = out_dir(args, "classify")
    for note in p.notes:
        log(note)
    log(_describe(p))
    model = build_model(p.task, opts, args.embedding_dim)
    accuracy = {"accuracy": lambda out, y: float(np.mean(out.argmax(-1) == y))}
    start = time.perf_counter()
    history, _ = fit(model, CrossEntropyLoss(), p.data["fit"], p.data["val"], opts,
                     metrics=accuracy)
    seconds = time.perf_counter() - start
    x_val, y_val, len_val = p.data["val"]
    val_accuracy = float(np.mean(predict_logits(model, x_val, len_val).argmax(-1) == y_val))
    x_test, y_test, len_test = p.data["test"]
    pred = predict_logits(model, x_test, len_test).argmax(-1)  # (N,)
    K = len(p.task["classes"])
    cm = confusion_matrix(y_test, pred, K)
    best = int(np.argmin(history["val_loss"]))
    metrics = {
        "dataset": p.name, "mode": p.task["mode"], "classes": p.task["classes"],
        "n_train": len(p.data["fit"][1]), "n_val": len(p.data["val"][1]),
        "n_test": len(y_test),
        "test_accuracy": float(np.mean(pred == y_test)), "test_macro_f1": macro_f1(cm),
        "test_f1_per_class": f1_scores(cm),
        "confusion_matrix": cm,
        "majority_class_accuracy": float(np.bincount(y_test, minlength=K).max() / len(y_test)),
        "val_accuracy": val_accuracy, "best_epoch": best + 1,
        "epochs_run": len(history["loss"]), "train_seconds": round(seconds, 2),
    }
    save_run(out, model, p.task, metrics, history)
    plot_confusion(cm, p.task["classes"], out / "confusion_matrix.png",
                   f"{p.name}: test accuracy {metrics['test_accuracy']:.3f}, "
                   f"macro F1 {metrics['test_macro_f1']:.3f}")
    emit(metrics, args.json,
         f"{p.name}: test accuracy {metrics['test_accuracy']:.4f} "
         f"({int(np.trace(cm))}/{len(y_test)}), macro F1 {metrics['test_macro_f1']:.4f} "
         f"(majority class {metrics['majority_class_accuracy']:.4f}); "
         f"{metrics['epochs_run']} epochs in {seconds:.1f} s; saved to {out}")
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
