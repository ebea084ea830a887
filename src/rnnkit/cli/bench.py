"""``rnnkit bench``: time rnnkit against torch in the same process.

Sections (``--sections``, all by default): ``layers``, the table below; ``model``, ``stream``
and ``commands``, a model's training step, streaming inference and each command's default
training against torch (``rnnkit.cli.bench_sections``), each row with its target from
issue 12. How the two libraries are interleaved: ``rnnkit.cli.bench_timing``.

The layer table: for each kind and shape (B, T, I, H), both libraries get the same float32
weights and inputs (batch-first), and two operations are timed, alternating rnnkit and torch
repetitions after a warm-up so that both see the same machine state:

* a training step: forward, then backward of sum(y * dy), with every parameter gradient and
  dx (torch: autograd on ``x.requires_grad_()``; rnnkit: ``layer.backward(dy)``);
* a forward pass, inference: torch under ``torch.no_grad``, rnnkit under
  ``rnnkit.nn.no_grad`` (neither keeps what a backward would need).

Medians over the repetitions are reported with the ratio rnnkit / torch (below 1: rnnkit is
faster). torch runs with its default number of threads. torch is optional:
``pip install 'rnnkit[torch]'``.
"""
from __future__ import annotations

import platform

import numpy as np

from rnnkit.cli import bench_ceilings, bench_sections
from rnnkit.cli.bench_timing import ABSORB, REPEAT, interleaved, judge, ratio_cell

HELP = "time training steps and forward passes against torch.nn"
SECTIONS = ("layers", "model", "stream", "commands")
KINDS = ("rnn", "lstm", "gru")
SHAPES = {  # (B, T, I, H)
    "quick": [(1, 100, 10, 20), (32, 50, 1, 64)],
    "full": [(1, 100, 10, 20), (32, 50, 1, 64), (64, 100, 128, 128), (16, 200, 64, 256),
             (64, 100, 256, 512)],
}


MAX_REPEAT = 10_000


def add_arguments(parser) -> None:
    parser.add_argument("--out", default=None,
                        help="write the results table to this Markdown file")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help="comma-separated, some of layers (the layer table), model (a "
                             "model's training step), stream (streaming inference), commands "
                             "(each command's default training, numpy against torch engine); "
                             "default: all")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help="comma-separated layer kinds (default: rnn,lstm,gru)")
    parser.add_argument("--shapes", default="full",
                        help="'quick', 'full' (default), or B,T,I,H shapes separated by ';'")
    parser.add_argument("--repeat", type=int, default=REPEAT,
                        help="timed repetitions per library and operation (default: "
                             f"{REPEAT})")
    parser.add_argument("--warmup", type=int, default=2, help="untimed repetitions first")
    parser.add_argument("--model-shapes", default=_format_shapes(bench_sections.MODEL_SHAPES),
                        help="B,T,I,H shapes of the model section separated by ';' "
                             "(default: %(default)s)")
    parser.add_argument("--stream-steps", type=int, default=200,
                        help="steps per timed streaming repetition (default 200)")
    parser.add_argument("--commands", default=",".join(bench_sections.COMMANDS),
                        help="comma-separated commands of the commands section "
                             "(default: all four)")


def _format_shapes(shapes) -> str:
    return ";".join(",".join(map(str, s)) for s in shapes)


def _shapes(text: str, option: str):
    """B,T,I,H shapes from 'B,T,I,H;B,T,I,H...' (UsageError naming ``option``), checked
    against the memory available."""
    from rnnkit.cli.limits import check_memory, training_bytes
    from rnnkit.errors import UsageError

    try:
        shapes = [tuple(int(v) for v in s.split(",")) for s in text.split(";")]
    except ValueError:
        shapes = []
    if not shapes or any(len(s) != 4 or min(s) < 1 for s in shapes):
        raise UsageError(f"{option}: expected B,T,I,H[;B,T,I,H...] with positive integers, "
                         f"got {text!r}")
    for B, T, _, H in shapes:  # both libraries' forward and backward of the largest layer
        check_memory(2 * training_bytes(0, B, T, H, 1, cell="lstm"),
                     f"{option} {B},{T},...,{H}", option=False)
    return shapes


def _names(text: str, known, option: str) -> list[str]:
    """The comma-separated names of ``text``, each one of ``known`` (else UsageError)."""
    from rnnkit.errors import UsageError

    names = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in names if k not in known]
    if bad or not names:
        raise UsageError(f"{option}: unknown {bad}; expected some of {', '.join(known)}")
    return names


def _parse(args):
    """The checked options: sections, kinds, layer shapes, model shapes and commands."""
    from rnnkit.errors import UsageError

    sections = _names(args.sections, SECTIONS, "--sections")
    kinds = _names(args.kinds, KINDS, "--kinds")
    shapes = SHAPES.get(args.shapes) or _shapes(args.shapes, "--shapes")
    model_shapes = _shapes(args.model_shapes, "--model-shapes")
    commands = _names(args.commands, bench_sections.COMMANDS, "--commands")
    if not (1 <= args.repeat <= MAX_REPEAT and 0 <= args.warmup <= MAX_REPEAT):
        raise UsageError(f"--repeat must be from 1 to {MAX_REPEAT} and --warmup from 0 to "
                         f"{MAX_REPEAT}")
    if not 1 <= args.stream_steps <= MAX_REPEAT:
        raise UsageError(f"--stream-steps must be from 1 to {MAX_REPEAT}")
    return sections, kinds, shapes, model_shapes, commands


def _import_torch():
    from rnnkit.errors import UsageError

    try:
        import torch
    except ImportError:
        raise UsageError("the benchmark compares against torch, which is not installed: "
                         "pip install 'rnnkit[torch]'") from None
    return torch


def _pair(torch, kind, B, T, I, H, seed=0):
    """Matching rnnkit and torch layers and the four workloads: {op: (rnnkit_fn, torch_fn)}."""
    from rnnkit.interop.torch_convert import to_torch
    from rnnkit.nn.module import no_grad
    from rnnkit.nn.recurrent import LAYERS

    layer = LAYERS[kind](I, H, dtype=np.float32, seed=seed)
    module = to_torch(layer)  # the same weights, batch first
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, I)).astype(np.float32)  # (B, T, I)
    dy = rng.standard_normal((B, T, H)).astype(np.float32)  # (B, T, H)
    xt, dyt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dy)

    def rnnkit_train():
        layer.zero_grad()
        layer.forward(x)
        layer.backward(dy)

    def torch_train():
        module.zero_grad(set_to_none=True)
        xt.grad = None
        y, _ = module(xt)
        (y * dyt).sum().backward()

    def torch_forward():
        with torch.no_grad():
            module(xt)

    def rnnkit_forward():
        with no_grad():
            layer.forward(x)

    # the same weights must give the same outputs, or the timings compare different work
    with torch.no_grad():
        diff = np.abs(layer.forward(x)[0] - module(xt)[0].numpy()).max()
    if not diff < 1e-4:
        raise RuntimeError(f"{kind} {B, T, I, H}: rnnkit and torch outputs differ by {diff:.2e}")
    return {"train": (rnnkit_train, torch_train), "forward": (rnnkit_forward, torch_forward)}


def benchmark(kinds, shapes, repeat=REPEAT, warmup=2, log=print) -> list[dict]:
    """Rows of median times (seconds) and ratios, one per kind and shape."""
    torch = _import_torch()
    rows = []
    for kind in kinds:
        for B, T, I, H in shapes:
            row = {"kind": kind, "shape": (B, T, I, H)}
            for op, (ours, theirs) in _pair(torch, kind, B, T, I, H).items():
                times = interleaved([ours, theirs], repeat, warmup)  # [rnnkit s], [torch s]
                row[op] = [float(np.median(t)) for t in times]  # [rnnkit, torch]
                row.setdefault("ratios", {})[op] = times[0] / times[1]  # paired, per repetition
            rows.append(row)
            log(_format_row(row))
    return rows


# issue 12's targets, ratio rnnkit / torch at most: {kind: {op: limit}}
TARGETS = {"lstm": {"train": 1.0, "forward": 1.0}, "gru": {"train": 0.6},
           "rnn": {"train": 0.6}}


def _format_row(row) -> str:
    """A layer row's cells: per operation the medians, and the median of the paired ratios
    with its 95% interval (``bench_timing.ratio_cell``); then the targets and the verdict,
    'meets' or which operations miss or lie inside the noise (``bench_timing.judge``)."""
    cells = [row["kind"], *map(str, row["shape"])]
    ratios = {op: bench_ceilings.row_ratios(row, op) for op in ("train", "forward")}
    for op in ("train", "forward"):
        ours, theirs = row[op]
        cells += [f"{ours * 1e3:.3f}", f"{theirs * 1e3:.3f}", ratio_cell(ratios[op])]
    targets = TARGETS[row["kind"]]
    cells.append(", ".join(f"{op} <= {limit}x" for op, limit in targets.items()))
    verdicts = {op: judge(ratios[op], limit) for op, limit in targets.items()}
    not_met = [f"{op} {v}" for op, v in verdicts.items() if not v.startswith("meets")]
    cells.append("; ".join(not_met) if not_met else next(iter(verdicts.values())))
    return "| " + " | ".join(cells) + " |"


def table(rows) -> str:
    head = ("| kind | B | T | I | H | train rnnkit ms | train torch ms | train ratio "
            "| forward rnnkit ms | forward torch ms | forward ratio | target | verdict |")
    sep = "|" + "---|" * 13
    return "\n".join([head, sep, *map(_format_row, rows)])


def environment() -> str:
    import torch

    from rnnkit.core.backends import get_backend, numba_available

    from rnnkit.core import memory

    numba = "numba " + __import__("numba").__version__ if numba_available() else "no numba"
    malloc = {"applied": "glibc keeps freed memory (rnnkit.core.memory; for torch too)",
              "user": "glibc's malloc as the user set it",
              "unavailable": "malloc as the C library has it"}.get(memory.applied, "")
    return (f"rnnkit backend `{get_backend('auto').__name__}`, numpy {np.__version__}, "
            f"{numba}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}, "
            f"{platform.machine()}, {malloc}, subnormal floats flushed to zero "
            "(torch.set_flush_denormal before torch's threads start; rnnkit's kernels flush "
            "their own), float32, times are medians in milliseconds")


RATIO_TEXT = ("the ratio is the median of the repetitions' paired ratios with its 95% "
              "interval, and the verdict 'meets' or 'misses' only where that interval lies "
              "wholly on one side of the target, else 'inside the noise'")
MODEL_TEXT = ("SequenceModel(\"lstm\", head=\"last\") + MSE + Adam against its torch twin, "
              f"each through its engine; times in ms, median (interquartile range); {RATIO_TEXT}.")
STREAM_TEXT = ("`layer.step` at batch 1, {inputs} inputs, against torch's cell under no_grad, "
               "{steps} steps per repetition; median (interquartile range); the verdict from the "
               "95% interval of the median time. Memory: tracemalloc's peak over the steps.")
COMMANDS_TEXT = ("Updates of the command's default model on its first default batch (forward, "
                 "loss, backward, clipping, optimizer), `--engine numpy` against `--engine "
                 f"torch`, in sequences per second: median (interquartile range); {RATIO_TEXT}.")


def _section(title: str, text: str, *tables) -> str:
    """A Markdown section: its title, a paragraph, and tables given as lists of lines."""
    return f"## {title}\n\n{text}\n\n" + "\n\n".join("\n".join(t) for t in tables)


def _ceilings(torch, rows, repeat, warmup) -> str:
    """The section on what the layer targets not met ask (``bench_ceilings``), printed too."""
    if not bench_ceilings.missed(rows, TARGETS):
        return _section("What the missed targets ask", "Every layer row meets its target.")
    ceiling = bench_ceilings.gemm_ceiling(torch, repeat, warmup)
    lines = bench_ceilings.ceiling_lines(rows, TARGETS, ceiling)
    text = bench_ceilings.section_text(ceiling)
    print(text, bench_ceilings.CEILING_HEAD, *lines, sep="\n")
    return _section("What the missed targets ask", text, [bench_ceilings.CEILING_HEAD, *lines])


def run(args) -> int:
    from rnnkit.interop.torch_engine import flush_subnormals

    sections, kinds, shapes, model_shapes, commands = _parse(args)
    torch = _import_torch()  # fail early, before any timing
    flush_subnormals()  # before torch starts its threads, which inherit it (main restores it)
    parts = [(f"# Benchmarks: rnnkit against torch\n\nGenerated by `rnnkit bench` "
              f"(interleaved in one process after warm-up, {ABSORB * 1e3:.0f} ms of untimed "
              "calls after each "
              "switch of library, while the other's threads stop spinning; ratio = rnnkit "
              "time / torch time, below 1 means rnnkit is faster, the median of the ratios of "
              "the repetitions' paired calls with its distribution-free 95% interval in "
              "brackets; a verdict is 'meets' or 'misses' only where the whole interval is "
              "on one side of the target, else 'inside the noise'). "
              "What the numbers mean and where the time goes: `benchmarks/README.md`.\n\n"
              f"{environment()}")]
    if "layers" in sections:
        print(table([]))
        rows = benchmark(kinds, shapes, args.repeat, args.warmup)
        parts.append(f"## Layers\n\n{table(rows)}")
        parts.append(_ceilings(torch, rows, args.repeat, args.warmup))
    if "model" in sections:
        print(bench_sections.MODEL_HEAD)
        rows = bench_sections.model_step(model_shapes, args.repeat, args.warmup)
        parts.append(_section("A model's training step", MODEL_TEXT,
                              [bench_sections.MODEL_HEAD, *rows]))
    if "stream" in sections:
        print(bench_sections.STREAM_HEAD)
        rows, memory = bench_sections.streaming(torch, bench_sections.STREAM_SIZES,
                                                args.stream_steps, args.repeat, args.warmup)
        parts.append(_section("Streaming inference", STREAM_TEXT.format(
            inputs=bench_sections.STREAM_INPUT, steps=args.stream_steps),
            [bench_sections.STREAM_HEAD, *rows], [bench_sections.MEMORY_HEAD, *memory]))
    if "commands" in sections:
        print(bench_sections.COMMANDS_HEAD)
        rows = bench_sections.commands(commands, args.repeat, args.warmup)
        parts.append(_section("Each command's default training", COMMANDS_TEXT,
                              [bench_sections.COMMANDS_HEAD, *rows]))
    if args.out:
        from rnnkit.io.files import atomic_write_text

        atomic_write_text(args.out, "\n\n".join(parts) + "\n")
        print(f"wrote {args.out}")
    return 0
