"""``rnnkit textgen``: a character-level language model (embedding -> recurrent stack -> linear
over the characters at every step) trained with truncated backpropagation through time,
compared on a held-out tail with a smoothed character bigram model, and sampled from.

Data: ``--text PATH`` (UTF-8) or, by default, the help texts bundled with every Python
(``pydoc_data.topics.topics``), joined in sorted-key order, typographic quotes and dashes made
ASCII, first ``DEFAULT_CHARS`` characters. The first ``1 - val_fraction`` of the text trains
(the vocabulary and the bigram counts come from it alone); the rest is the validation tail,
where characters unseen in training become ``<unk>``.

Metrics, in nats per character on the tail, read as one stream from a zero state (each
character predicted from all before it in the tail):
    val_loss = -mean log p_model(c_t | c_<t),       val_perplexity = exp(val_loss)
    bigram_val_loss = -mean log p_bigram(c_t | c_t-1), p = (C[a, b] + k) / (C[a] + k V)
with k chosen by leave-one-out likelihood on the training part (Chen & Goodman 1999).
The curves' val_loss (for early stopping) reads the tail as a few parallel streams.

The recurrent-layer variants (``--layer-norm``, ``--recurrent-dropout``,
``--learn-initial-state``, ``--proj-size``, ``--peephole``; ``rnnkit.cli.variants``) build the
LSTM/GRU with them; sampling and ``rnnkit predict`` run the same layer step by step.

Sampling (``rnnkit.nn.sampling``): ``--prime`` (default a newline) goes through the model's
``step``, then ``--length`` characters are drawn at ``--temperature`` from the ``--top-k``,
reproducibly from ``--seed`` and keeping only the current state. A prime with characters unseen
in training is refused, naming them; ``<pad>`` and ``<unk>`` are never drawn.

Defaults, chosen by measurement on 2 cores: LSTM(256) over a 32-dim embedding, windows of 100
characters in 32 streams, Adam at 8e-3, 6 epochs: about 1.13 nats/char against the bigram's
2.37, in about a minute on a quiet machine. Training stops after --max-minutes (default 2 here)
keeping the best epoch, so a busy machine gets fewer epochs (2 epochs: about 1.25).

References: Karpathy (2015), "The Unreasonable Effectiveness of Recurrent Neural Networks"
(char-rnn); Chen & Goodman (1999), "An Empirical Study of Smoothing Techniques for Language
Modeling".
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from rnnkit.cli.common import (
    TrainingOptions,
    add_common_arguments,
    emit,
    finish_run,
    fit,
    log,
    out_dir,
    require_positive,
    save_figure,
    save_run,
)
from rnnkit.cli.variants import add_variant_arguments, variant_options
from rnnkit.errors import UsageError

HELP = "character-level language model (truncated BPTT) vs a bigram baseline; samples text"
DEFAULT_CHARS = 400_000  # of the bundled help texts: a few epochs fit the time budget
DEFAULT_MAX_MINUTES = 2.0  # training stops cleanly here (keeping the best epoch)
MIN_VAL_CHARS = 100
VAL_STREAMS = 8  # parallel streams for the per-epoch validation loss
TO_ASCII = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                          "\u2013": "-", "\u2014": "-", "\u2026": "..."})
K_GRID = np.logspace(-3, 1, 25)  # add-k candidates for the bigram


def add_arguments(parser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--text", type=Path, default=None,
                   help="UTF-8 text file (default: Python's bundled pydoc help texts)")
    g.add_argument("--chars", type=int, default=None,
                   help=f"use the first N characters (default all of --text, "
                        f"{DEFAULT_CHARS} of the bundled text)")
    g.add_argument("--val-fraction", type=float, default=0.1,
                   help="held-out tail for validation (default 0.1)")
    g.add_argument("--seq-len", type=int, default=100,
                   help="truncated-BPTT window in characters (default 100)")
    g = parser.add_argument_group("sampling")
    g.add_argument("--prime", default=None,
                   help="text to start the sample from (default: a newline)")
    g.add_argument("--length", type=int, default=400, help="characters to sample (default 400)")
    g.add_argument("--temperature", type=float, default=0.8,
                   help="sampling temperature > 0 (default 0.8; lower is more conservative)")
    g.add_argument("--top-k", type=int, default=None,
                   help="sample only from the k most likely characters (default: all)")
    add_common_arguments(parser, epochs=6, hidden=256, cell="lstm", lr=8e-3, batch_size=32,
                         patience=2, bidirectional_choice=False, embedding_dim=32)
    add_variant_arguments(parser)
    parser.set_defaults(max_minutes=DEFAULT_MAX_MINUTES)
    parser.epilog = (f"Training stops cleanly after --max-minutes (default "
                     f"{DEFAULT_MAX_MINUTES:g} here), keeping the best epoch.")


# --- text in -------------------------------------------------------------------------------
def default_text() -> str:
    """Python's bundled help topics, sorted by key, with ASCII quotes/dashes; other non-ASCII
    characters (a handful) are dropped to keep the vocabulary small."""
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise UsageError("this Python has no pydoc_data (the default text); give --text PATH") \
            from None
    text = "\n".join(topics[key] for key in sorted(topics)).translate(TO_ASCII)
    return text.encode("ascii", "ignore").decode("ascii")


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path`` with newlines made ``\\n``; UsageError when it cannot be."""
    if not path.exists():
        raise UsageError(f"--text {path}: no such file")
    if not path.is_file():
        raise UsageError(f"--text {path} is not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--text {path}: cannot read it ({exc.strerror})") from None
    if b"\x00" in data:
        raise UsageError(f"--text {path} looks binary (it contains NUL bytes); "
                         "a UTF-8 text file is expected")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"--text {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                         f"offset {exc.start}): a binary file or another encoding") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise UsageError(f"--text {path} is empty" + (" (whitespace only)" if text else ""))
    return text


def split_text(text: str, val_fraction: float, batch_size: int, seq_len: int, name: str):
    """(training part, validation tail); UsageError when either is too short to use."""
    n_val = int(len(text) * val_fraction)
    need_train = batch_size * seq_len + 1  # every stream gets one full window
    if n_val < MIN_VAL_CHARS or len(text) - n_val < need_train:
        raise UsageError(
            f"{name} has {len(text)} characters, too few: the training part (first "
            f"{1 - val_fraction:.0%}) needs at least {need_train} (batch size {batch_size} x "
            f"seq len {seq_len} + 1) and the validation tail (last {val_fraction:.0%}) at "
            f"least {MIN_VAL_CHARS}")
    return text[: len(text) - n_val], text[len(text) - n_val :]


def encode_prime(vocab, prime: str) -> np.ndarray:
    """Ids of ``prime``; UsageError naming any character the model never saw in training."""
    if prime == "":
        raise UsageError("--prime is empty; leave it out to start from a newline")
    unseen = sorted(set(prime) - set(vocab.index))
    if unseen:
        raise UsageError(f"--prime has characters the model never saw in training: "
                         f"{', '.join(repr(c) for c in unseen)}")
    return vocab.encode(list(prime))


def check_sampling_args(args) -> None:
    if not (math.isfinite(args.temperature) and args.temperature > 0):
        raise UsageError(f"--temperature must be a positive number, got {args.temperature}")
    if args.top_k is not None and args.top_k < 1:
        raise UsageError(f"--top-k must be at least 1, got {args.top_k}")
    if args.length < 1:
        raise UsageError(f"--length must be at least 1, got {args.length}")
    from rnnkit.cli.common import check_seed
    from rnnkit.cli.limits import MAX_LENGTH, check_at_most

    check_at_most(args, length=MAX_LENGTH)
    check_seed(args.seed)


# --- the bigram baseline and per-character losses ------------------------------------------
def fit_bigram(ids: np.ndarray, V: int):
    """Add-k bigram ``log p(b | a) = log (C[a, b] + k) - log (C[a] + k V)``, (V, V), from the
    id sequence ``ids``; k from ``K_GRID`` maximises the leave-one-out log-likelihood
    ``sum_ab C[a, b] log (C[a, b] - 1 + k) - sum_a C[a] log (C[a] - 1 + k V)``.
    Returns (log_p (V, V), k)."""
    C = np.zeros((V, V))  # (V, V) counts of a followed by b
    np.add.at(C, (ids[:-1], ids[1:]), 1.0)
    C_a = C.sum(axis=1)  # (V,)
    pair, ctx = C[C > 0], C_a[C_a > 0]

    def loo(k):
        return (pair * np.log(pair - 1 + k)).sum() - (ctx * np.log(ctx - 1 + k * V)).sum()

    k = float(max(K_GRID, key=loo))
    return np.log(C + k) - np.log(C_a + k * V)[:, None], k


def bigram_nll(log_p: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """-log p(ids[t] | ids[t-1]) for t = 1..N-1, (N-1,)."""
    return -log_p[ids[:-1], ids[1:]]


def stream_nll(model, ids: np.ndarray, chunk: int = 2000) -> np.ndarray:
    """-log p_model(ids[t] | ids[:t]) for t = 1..N-1, (N-1,): ``ids`` read as one stream from a
    zero state, ``chunk`` steps at a time with the state carried over."""
    from rnnkit.nn.losses import log_softmax

    nll = np.empty(len(ids) - 1)  # (N-1,)
    state = None
    for s in range(0, len(ids) - 1, chunk):
        e = min(s + chunk, len(ids) - 1)
        logits, state = model.forward(ids[None, s:e], state=state, return_state=True)  # (1,c,V)
        logp = log_softmax(logits[0].astype(np.float64))  # (c, V)
        nll[s:e] = -logp[np.arange(e - s), ids[s + 1 : e + 1]]
    return nll


CLASSES = ("letters", "digits", "space", "newline", "other")


def char_class(c: str) -> str:
    return ("letters" if c.isalpha() else "digits" if c.isdigit() else "space" if c == " "
            else "newline" if c == "\n" else "other")


# --- the command ---------------------------------------------------------------------------
def load_data(args):
    """Validate the options and read and split the text; returns (train, val, source)."""
    require_positive(args, "seq_len", "embedding_dim")
    if not 0 < args.val_fraction < 1:
        raise UsageError(f"--val-fraction must lie strictly between 0 and 1, "
                         f"got {args.val_fraction}")
    if args.chars is not None and args.chars < 1:
        raise UsageError(f"--chars must be at least 1, got {args.chars}")
    check_sampling_args(args)
    if args.text is None:
        text, source = default_text()[: args.chars or DEFAULT_CHARS], "Python's pydoc topics"
    else:
        text, source = read_text(args.text)[: args.chars], str(args.text)
    train, val = split_text(text, args.val_fraction, args.batch_size, args.seq_len,
                            "the bundled text" if args.text is None else f"--text {args.text}")
    return train, val, source


def run(args) -> int:
    from rnnkit.data.text import Vocabulary, tokenize
    from rnnkit.nn.losses import CrossEntropyLoss
    from rnnkit.nn.models import SequenceModel
    from rnnkit.train.batches import StreamData
    from rnnkit.train.tasks import TBPTTTask

    start = time.perf_counter()
    opts = TrainingOptions.from_args(args)
    variants = variant_options(args)
    train_text, val_text, source = load_data(args)
    vocab = Vocabulary.build([tokenize(train_text, "char")])
    prime = default_prime(vocab) if args.prime is None else args.prime
    prime_ids = encode_prime(vocab, prime)
    train_ids = vocab.encode(list(train_text))  # (N_train,)
    val_ids = vocab.encode(list(val_text))  # (N_val,), <unk> for unseen characters
    V = len(vocab)
    check_size(args, opts, V)
    out = out_dir(args, "textgen")

    unknown = int((val_ids == vocab.unk_id).sum())
    log(f"textgen: {len(train_text)} training and {len(val_text)} validation characters from "
        f"{source}; vocabulary {V} ({unknown} validation characters unseen in training)")
    model = SequenceModel(opts.cell, vocab_size=V, embedding_dim=args.embedding_dim,
                          hidden_size=opts.hidden, output_size=V, num_layers=opts.layers,
                          head="all", seed=opts.seed, **variants)
    loss = CrossEntropyLoss()
    streams = max(1, min(VAL_STREAMS, (len(val_ids) - 1) // args.seq_len))
    t0 = time.perf_counter()
    history, trainer = fit(model, loss, StreamData(train_ids, opts.batch_size, args.seq_len),
                           StreamData(val_ids, streams, args.seq_len), opts,
                           task=TBPTTTask(loss), out=out, resume=args.resume is not None)
    train_seconds = time.perf_counter() - t0

    nll = stream_nll(model, val_ids)  # (N_val - 1,)
    log_p, k = fit_bigram(train_ids, V)  # the baseline sees the same training characters
    nll_bigram = bigram_nll(log_p, val_ids)  # (N_val - 1,), the same targets
    rng = np.random.default_rng(opts.seed)
    sample = prime + sample_text(model, vocab, prime_ids, args, rng)
    metrics = {
        "val_loss": nll.mean(), "val_perplexity": math.exp(nll.mean()),
        "val_bits_per_char": nll.mean() / math.log(2),
        "bigram_val_loss": nll_bigram.mean(), "bigram_val_perplexity": math.exp(nll_bigram.mean()),
        "bigram_add_k": k, "train_chars": len(train_text), "val_chars": len(val_text),
        "vocab_size": V, "unknown_val_chars": unknown, "epochs": len(history["loss"]),
        "stopped": trainer.stop_reason, "sample": sample, "prime": prime,
        "temperature": args.temperature, "top_k": args.top_k,
        "train_seconds": train_seconds, "seconds": time.perf_counter() - start,
    }
    task = {"command": "textgen", "tokens": vocab.tokens, "default_prime": default_prime(vocab),
            "source": source, "seq_len": args.seq_len}
    save_run(out, model, task, metrics, history)
    finish_run(out)
    classes = np.array([char_class(c) for c in vocab.decode(val_ids[1:])])  # (N_val - 1,)
    plot_validation(nll, nll_bigram, classes, out / "model_vs_bigram.png")
    log(f"saved the run to {out}")
    emit(metrics, args.json, summary(metrics, model, train_seconds))
    return 0


def check_size(args, opts, V: int) -> None:
    """Refuse, before any work, a model whose training would not fit in memory."""
    from rnnkit.cli.limits import check_memory, recurrent_parameters, training_bytes

    E, H = args.embedding_dim, opts.hidden
    params = V * E + recurrent_parameters(opts.cell, E, H, opts.layers) + (H + 1) * V
    need = training_bytes(params, opts.batch_size, args.seq_len, H, opts.layers,
                          cell=opts.cell, outputs=V)
    check_memory(need, f"{opts.cell.upper()} of hidden size {H}, {opts.layers} layer(s), "
                 f"embedding {E}, batches of {opts.batch_size} x {args.seq_len} characters",
                 getattr(args, "max_memory", None))


def default_prime(vocab) -> str:
    """A newline (the start of a paragraph) when the text has one, else its commonest char."""
    return "\n" if "\n" in vocab.index else vocab.tokens[2]


def sample_text(model, vocab, prime_ids, args, rng, write=None) -> str:
    """``args.length`` characters after ``prime_ids``; ``write`` receives each as it comes."""
    from rnnkit.nn.sampling import generate

    chars = []
    for token in generate(model, prime_ids, args.length, rng=rng, temperature=args.temperature,
                          top_k=args.top_k, exclude=(vocab.pad_id, vocab.unk_id)):
        chars.append(vocab.tokens[token])
        if write is not None:
            write(chars[-1])
    return "".join(chars)


def summary(m: dict, model, train_seconds: float) -> str:
    s = model.settings
    return (f"{s['cell'].upper()}(embedding {s['embedding_dim']}, hidden {s['hidden_size']}, "
            f"layers {s['num_layers']}) on {m['train_chars']} characters, {m['epochs']} epochs "
            f"in {train_seconds:.0f} s\n"
            f"validation tail ({m['val_chars']} characters): {m['val_loss']:.3f} nats/char "
            f"(perplexity {m['val_perplexity']:.2f}, {m['val_bits_per_char']:.2f} bits/char)\n"
            f"add-k bigram baseline (k={m['bigram_add_k']:.3g}): {m['bigram_val_loss']:.3f} "
            f"nats/char (perplexity {m['bigram_val_perplexity']:.2f})\n"
            f"sample (temperature {m['temperature']}, top-k {m['top_k'] or 'all'}):\n"
            f"{m['sample']}")


def predict(model, task, args) -> int:
    """``rnnkit predict --model DIR``: stream ``--length`` sampled characters to stdout."""
    from rnnkit.data.text import Vocabulary

    check_sampling_args(args)
    try:
        vocab = Vocabulary(task["tokens"])
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"{args.model}/task.json has no valid character vocabulary") from None
    if model.settings.get("vocab_size") != len(vocab):
        raise UsageError(f"{args.model}: the model's vocabulary size does not match task.json")
    prime = task["default_prime"] if args.prime is None else args.prime
    prime_ids = encode_prime(vocab, prime)
    rng = np.random.default_rng(args.seed)
    sys.stdout.write(prime)
    sample = prime + sample_text(model, vocab, prime_ids, args, rng, write=sys.stdout.write)
    print(flush=True)
    if args.json:
        print(json.dumps({"sample": sample, "prime": prime, "temperature": args.temperature,
                          "top_k": args.top_k, "length": args.length, "seed": args.seed}),
              flush=True)
    return 0


# --- the task's picture --------------------------------------------------------------------
def plot_validation(nll: np.ndarray, nll_bigram: np.ndarray, classes: np.ndarray, path):
    """Left: loss along the validation tail (moving average), model vs bigram. Right: mean
    loss by the kind of character predicted, with each kind's share of the tail."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 2]})
    w = max(1, min(1000, len(nll) // 20))  # moving-average window
    box = np.ones(w) / w
    pos = np.arange(w, len(nll) + 1)  # (N - w + 1,) position of each window's last char
    for values, name in ((nll, "model"), (nll_bigram, "bigram")):
        ax.plot(pos, np.convolve(values, box, mode="valid"),
                label=f"{name} (mean {values.mean():.3f})", lw=1)
    ax.set_xlabel("character position in the validation tail")
    ax.set_ylabel(f"nats/char, {w}-character moving average")
    ax.set_title("loss along the held-out text")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right")
    kinds = [c for c in CLASSES if (classes == c).any()]
    x = np.arange(len(kinds))
    for i, (values, name) in enumerate(((nll, "model"), (nll_bigram, "bigram"))):
        bx.bar(x + (i - 0.5) * 0.4, [values[classes == c].mean() for c in kinds], 0.4,
               label=name)
    bx.set_xticks(x, [f"{c}\n{(classes == c).mean():.1%}" for c in kinds])
    bx.set_ylabel("mean nats/char")
    bx.set_title("loss by the kind of character predicted")
    bx.legend()
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
