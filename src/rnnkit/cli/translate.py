"""``rnnkit translate``: sequence-to-sequence translation with an attention encoder-decoder.

    source text --tokens char|word--> ids --Seq2Seq (bidirectional encoder, bridge, decoder,
    Luong attention; ``rnnkit.nn.seq2seq``)--> target tokens, trained by teacher forcing with
    softmax cross-entropy (padding ignored), Adam and early stopping on a validation part.

Data: ``--pairs PATH.tsv``, one pair per line, ``source<TAB>target`` (blank lines skipped),
or by default ``--num-pairs`` dates in many human formats with their ISO form
(``rnnkit.data.dates``). The pairs are shuffled with ``--seed`` and split into training (80%),
validation (10%, early stopping) and held-out test (10%) parts; the vocabularies
(``rnnkit.data.text``: <pad> = 0, <unk> = 1; the target adds <bos>, <eos>) come from the training
part. On the test part the command decodes greedily and with a beam of ``--beam`` K
(``rnnkit.nn.decoding``) and reports exact-match accuracy (the whole output equals the
reference) and corpus BLEU-4 (``rnnkit.metrics.bleu``) over the same tokens the model reads and
writes: characters for ``--tokens char``, words for ``--tokens word``. attention.png shows
the attention weights of one test example.

The recurrent-layer variants (``rnnkit.cli.variants``) apply to the encoder and the decoder;
``--learn-initial-state`` to the encoder only, since the decoder starts from the bridge.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
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

HELP = "translate sequences with an attention encoder-decoder (default: dates to ISO form)"
DEFAULT_NAME = "dates"
DEFAULT_NUM_PAIRS = 10000
MIN_PAIRS = 10  # enough for non-empty training, validation and test parts
VAL_FRACTION = TEST_FRACTION = 0.1
BOS, EOS = "<bos>", "<eos>"


def add_arguments(parser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--pairs", type=Path, default=None,
                   help="TSV file, one 'source<TAB>target' pair per line (default: "
                        "generated dates, e.g. 'March 3rd, 1998' -> '1998-03-03')")
    g.add_argument("--num-pairs", type=int, default=None,
                   help="how many dates to generate when no --pairs is given "
                        f"(default {DEFAULT_NUM_PAIRS})")
    g.add_argument("--tokens", choices=["char", "word"], default="char",
                   help="read and write characters or words (default char)")
    g.add_argument("--beam", type=int, default=5,
                   help="beam width for the test set, besides greedy decoding (default 5)")
    add_common_arguments(parser, epochs=10, hidden=64, cell="gru", lr=5e-3, batch_size=64,
                         patience=3, bidirectional_choice=False,  # the encoder always is
                         embedding_dim=32)
    add_variant_arguments(
        parser, description="applied to the encoder and the decoder alike, except "
                            "--learn-initial-state",
        initial_state_help="learn the encoder's h0 (and c0) as parameters (the decoder "
                           "starts from the bridge of the encoder's final states)")


# --- reading and encoding ------------------------------------------------------------------
def read_pairs(path: Path) -> list[tuple[str, str]]:
    """(source, target) pairs of a TSV file; errors name the file and line."""
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark is not data
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") \
            from None
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise UsageError(f"{path}:{number}: expected 2 tab-separated fields (source, "
                             f"target), got {len(fields)}")
        source, target = (f.strip() for f in fields)
        if not source or not target:
            raise UsageError(f"{path}:{number}: empty {'source' if not source else 'target'}")
        pairs.append((source, target))
    if not pairs:
        raise UsageError(f"{path} is empty: no pairs")
    return pairs


def encode_sources(texts, task) -> tuple[np.ndarray, np.ndarray]:
    """Source ids (N, Ts) zero-padded and lengths (N,); unknown tokens -> <unk>."""
    from rnnkit.data.text import Vocabulary, pad_ids, tokenize

    vocab = Vocabulary(task["source_vocabulary"])
    return pad_ids([vocab.encode(tokenize(t, task["tokens"])) for t in texts])


def encode_targets(texts, task) -> np.ndarray:
    """Labels (N, Tt) = target ids + <eos>, zero-padded (the loss ignores 0)."""
    from rnnkit.data.text import Vocabulary, pad_ids, tokenize

    vocab = Vocabulary(task["target_vocabulary"])
    eos = vocab.index[EOS]
    return pad_ids([np.append(vocab.encode(tokenize(t, task["tokens"])), eos)
                    for t in texts])[0]


def detokenize(tokens, level: str) -> str:
    return "".join(tokens) if level == "char" else " ".join(tokens)


@dataclass
class Prepared:
    """Everything validated and encoded before the run folder is created."""
    name: str
    task: dict
    parts: dict = field(default_factory=dict)  # "fit" / "val" / "test" -> list of pairs


def prepare(args) -> Prepared:
    from rnnkit.cli.limits import MAX_BEAM, MAX_PAIRS, check_at_most
    from rnnkit.data.text import Vocabulary, tokenize

    require_positive(args, "beam", "embedding_dim")
    check_at_most(args, beam=MAX_BEAM, num_pairs=MAX_PAIRS)
    if args.pairs is not None:
        if args.num_pairs is not None:
            raise UsageError("--num-pairs sets the size of the generated dates; "
                             "it does not apply to --pairs")
        name, pairs = args.pairs.name, read_pairs(args.pairs)
    else:
        from rnnkit.data.dates import generate_dates

        n = DEFAULT_NUM_PAIRS if args.num_pairs is None else args.num_pairs
        if n < MIN_PAIRS:
            raise UsageError(f"--num-pairs must be at least {MIN_PAIRS}, got {n}")
        name, pairs = DEFAULT_NAME, generate_dates(n, seed=args.seed)
    if len(pairs) < MIN_PAIRS:
        raise UsageError(f"{name} has only {len(pairs)} pairs; at least {MIN_PAIRS} are needed "
                         "for training, validation and a held-out test split")
    order = np.random.default_rng(args.seed).permutation(len(pairs))
    n_test = max(1, round(TEST_FRACTION * len(pairs)))
    n_val = max(1, round(VAL_FRACTION * len(pairs)))
    shuffled = [pairs[i] for i in order]
    parts = {"test": shuffled[:n_test], "val": shuffled[n_test:n_test + n_val],
             "fit": shuffled[n_test + n_val:]}
    level = args.tokens
    src_tokens = [tokenize(s, level) for s, _ in parts["fit"]]
    tgt_tokens = [tokenize(t, level) for _, t in parts["fit"]]
    task = {"command": "translate", "source": name, "tokens": level,
            "source_vocabulary": Vocabulary.build(src_tokens).tokens,
            "target_vocabulary": Vocabulary.build(tgt_tokens, specials=(BOS, EOS)).tokens,
            "max_len": 2 * max(len(t) for t in tgt_tokens) + 10}
    return Prepared(name, task, parts)


def check_size(args, opts, p: Prepared) -> None:
    """Refuse, before any work, a model whose training would not fit in memory."""
    from rnnkit.cli.limits import check_memory, recurrent_parameters, training_bytes
    from rnnkit.data.text import tokenize

    E, H, L = args.embedding_dim, opts.hidden, opts.layers
    Vs, Vt = len(p.task["source_vocabulary"]), len(p.task["target_vocabulary"])
    params = (Vs + Vt) * E + recurrent_parameters(opts.cell, E, H, L, True) \
        + recurrent_parameters(opts.cell, E + H, H, L) + 4 * H * H + (H + 1) * Vt
    steps = max(len(tokenize(s, p.task["tokens"])) for s, _ in p.parts["fit"]) \
        + p.task["max_len"] // 2
    batch = min(opts.batch_size, len(p.parts["fit"]))
    need = training_bytes(params, batch, steps, H, L, cell=opts.cell, bidirectional=True,
                          outputs=Vt)
    check_memory(need, f"{opts.cell.upper()} encoder and decoder of hidden size {H}, {L} "
                 f"layer(s), embedding {E}, batches of {batch}", getattr(args, "max_memory", None))


# --- decoding, metrics and the picture -----------------------------------------------------
def translate_texts(model, texts, task, beam: int, with_attention=False):
    """Outputs as token lists, greedy (beam 1) or by beam search; with_attention (greedy
    only): also each output's attention weights."""
    from rnnkit.data.text import Vocabulary
    from rnnkit.nn.decoding import greedy_decode, translate_ids

    vocab = Vocabulary(task["target_vocabulary"])
    src, lengths = encode_sources(texts, task)
    ids = dict(bos=vocab.index[BOS], eos=vocab.index[EOS], max_len=task["max_len"])
    if with_attention:
        outputs, weights = greedy_decode(model, src[:, :lengths.max()], lengths, **ids)
        return [vocab.decode(o) for o in outputs], weights
    return [vocab.decode(o) for o in translate_ids(model, src, lengths, beam=beam, **ids)]


def score(outputs, references, level: str) -> dict:
    """Exact match (share of outputs equal to their reference) and corpus BLEU-4."""
    from rnnkit.data.text import tokenize
    from rnnkit.metrics.bleu import corpus_bleu

    refs = [tokenize(r, level) for r in references]
    return {"exact_match": float(np.mean([o == r for o, r in zip(outputs, refs)])),
            "bleu": corpus_bleu(outputs, refs)}


def pick_example(sources) -> int:
    """The test example drawn: the longest source among the first 20."""
    return int(np.argmax([len(s) for s in sources[:20]]))


def plot_attention(weights, source_tokens, output_tokens, path, title) -> None:
    """Heat map of weights (len(output) + 1, len(source)): row = output token (<eos> last),
    column = source token."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(output_tokens) + [EOS][:weights.shape[0] - len(output_tokens)]

    def show(token):
        return "␣" if token == " " else token  # a visible space
    fig, ax = plt.subplots(figsize=(max(4.0, 0.3 * len(source_tokens) + 2),
                                    max(3.0, 0.3 * len(rows) + 1.5)))
    im = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    ax.set_xticks(range(len(source_tokens)), [show(t) for t in source_tokens],
                  rotation=90 if max(map(len, source_tokens)) > 2 else 0)
    ax.set_yticks(range(len(rows)), [show(t) for t in rows])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(title)
    save_figure(fig, path)
    plt.close(fig)


# --- the command ---------------------------------------------------------------------------
def run(args) -> int:
    from rnnkit.data.text import tokenize
    from rnnkit.nn.losses import CrossEntropyLoss
    from rnnkit.nn.seq2seq import Seq2Seq
    from rnnkit.train.tasks import TeacherForcingTask

    opts = TrainingOptions.from_args(args)
    variants = variant_options(args)
    p = prepare(args)
    check_size(args, opts, p)
    out = out_dir(args, "translate")
    task, level = p.task, p.task["tokens"]
    data = {}
    for part, pairs in p.parts.items():
        x, lengths = encode_sources([s for s, _ in pairs], task)
        data[part] = (x, encode_targets([t for _, t in pairs], task), lengths)
    log(f"{p.name}: {len(p.parts['fit'])} training pairs, {len(p.parts['val'])} validation, "
        f"{len(p.parts['test'])} test; {level} tokens, vocabularies "
        f"{len(task['source_vocabulary'])} -> {len(task['target_vocabulary'])}")
    model = Seq2Seq(len(task["source_vocabulary"]), len(task["target_vocabulary"]),
                    args.embedding_dim, opts.hidden, cell=opts.cell, num_layers=opts.layers,
                    seed=opts.seed, **variants)
    loss = CrossEntropyLoss(ignore_index=0)
    bos = task["target_vocabulary"].index(BOS)
    start = time.perf_counter()
    history, _ = fit(model, loss, data["fit"], data["val"], opts,
                     task=TeacherForcingTask(loss, bos), out=out,
                     resume=args.resume is not None)
    seconds = time.perf_counter() - start

    sources, references = zip(*p.parts["test"])
    start = time.perf_counter()
    greedy = translate_texts(model, sources, task, 1)
    beam = greedy if args.beam == 1 else translate_texts(model, sources, task, args.beam)
    decode_seconds = time.perf_counter() - start
    scores, scores_greedy = score(beam, references, level), score(greedy, references, level)
    best = int(np.argmin(history["val_loss"]))
    metrics = {
        "dataset": p.name, "tokens": level, "beam": args.beam,
        "exact_match": scores["exact_match"], "bleu": scores["bleu"],
        "exact_match_greedy": scores_greedy["exact_match"], "bleu_greedy": scores_greedy["bleu"],
        "n_train": len(p.parts["fit"]), "n_val": len(p.parts["val"]),
        "n_test": len(p.parts["test"]), "val_loss": history["val_loss"][best],
        "best_epoch": best + 1, "epochs_run": len(history["loss"]),
        "train_seconds": round(seconds, 2), "decode_seconds": round(decode_seconds, 2),
    }
    for s, r, o in list(zip(sources, references, beam))[:5]:
        log(f"  {s!r} -> {detokenize(o, level)!r}  (reference {r!r})")
    save_run(out, model, task, metrics, history)
    finish_run(out)
    k = pick_example(sources)
    outputs, weights = translate_texts(model, [sources[k]], task, 1, with_attention=True)
    plot_attention(weights[0], tokenize(sources[k], level), outputs[0], out / "attention.png",
                   f"{sources[k]!r} -> {detokenize(outputs[0], level)!r}")
    emit(metrics, args.json,
         f"{p.name}: held-out exact match {metrics['exact_match']:.4f} with beam {args.beam} "
         f"({metrics['exact_match_greedy']:.4f} greedy), BLEU {metrics['bleu']:.4f} "
         f"({metrics['bleu_greedy']:.4f} greedy) on {len(sources)} pairs; "
         f"{metrics['epochs_run']} epochs in {seconds:.1f} s; saved to {out}")
    return 0


def predict(model, task, args) -> int:
    """``rnnkit predict --model DIR [--input FILE] [--beam K]``: one translation per line of
    the input (stdin by default); ``--json``: also all of them as one JSON object."""
    from rnnkit.cli.limits import MAX_BEAM, check_at_most

    if args.beam < 1:
        raise UsageError(f"--beam must be at least 1, got {args.beam}")
    check_at_most(args, beam=MAX_BEAM)
    if args.input is not None:
        if not args.input.is_file():
            raise UsageError(f"no such file: {args.input}")
        try:
            text = args.input.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"{args.input} is not UTF-8 text ({exc.reason} at byte "
                             f"{exc.start})") from None
    else:
        text = sys.stdin.read()
    lines = [line.strip() for line in text.splitlines()]
    for number, line in enumerate(lines, start=1):
        if not line:
            raise UsageError(f"line {number} of the input is empty: nothing to translate")
    if not lines:
        raise UsageError("no input: give lines to translate on stdin or with --input FILE")
    outputs = [detokenize(o, task["tokens"])
               for o in translate_texts(model, lines, task, args.beam)]
    emit({"translations": outputs, "beam": args.beam}, args.json, "\n".join(outputs))
    return 0
