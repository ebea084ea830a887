"""``rnnkit bench``: time rnnkit's recurrent layers against torch.nn in the same process.

For each kind and shape (B, T, I, H), both libraries get the same float32 weights and inputs
(batch-first), and two operations are timed, alternating rnnkit and torch repetitions after a
warm-up so that both see the same machine state:

* a training step: forward, then backward of sum(y * dy), with every parameter gradient and
  dx (torch: autograd on ``x.requires_grad_()``; rnnkit: ``layer.backward(dy)``);
* a forward pass (torch under ``no_grad``).

Medians over the repetitions are reported with the ratio rnnkit / torch (below 1: rnnkit is
faster). torch runs with its default number of threads. torch is optional:
``pip install 'rnnkit[torch]'``.
"""
from __future__ import annotations

import platform
import time

import numpy as np

HELP = "time training steps and forward passes against torch.nn"
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
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help="comma-separated layer kinds (default: rnn,lstm,gru)")
    parser.add_argument("--shapes", default="full",
                        help="'quick', 'full' (default), or B,T,I,H shapes separated by ';'")
    parser.add_argument("--repeat", type=int, default=11,
                        help="timed repetitions per library and operation (default: 11)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed repetitions first")


def _parse(args):
    from rnnkit.errors import UsageError

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise UsageError(f"--kinds: unknown kind(s) {bad}; expected some of {', '.join(KINDS)}")
    if args.shapes in SHAPES:
        shapes = SHAPES[args.shapes]
    else:
        try:
            shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes.split(";")]
        except ValueError:
            shapes = []
        if not shapes or any(len(s) != 4 or min(s) < 1 for s in shapes):
            raise UsageError(f"--shapes: expected quick, full or B,T,I,H[;B,T,I,H...] with "
                             f"positive integers, got {args.shapes!r}")
    if not (1 <= args.repeat <= MAX_REPEAT and 0 <= args.warmup <= MAX_REPEAT):
        raise UsageError(f"--repeat must be from 1 to {MAX_REPEAT} and --warmup from 0 to "
                         f"{MAX_REPEAT}")
    from rnnkit.cli.limits import check_memory, training_bytes

    for B, T, _, H in shapes:  # both libraries' forward and backward of the largest layer
        check_memory(2 * training_bytes(0, B, T, H, 1, cell="lstm"),
                     f"--shapes {B},{T},...,{H}", option=False)
    if args.repeat < 1 or args.warmup < 0:
        raise UsageError("--repeat must be >= 1 and --warmup >= 0")
    return kinds, shapes


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

    # the same weights must give the same outputs, or the timings compare different work
    with torch.no_grad():
        diff = np.abs(layer.forward(x)[0] - module(xt)[0].numpy()).max()
    if not diff < 1e-4:
        raise RuntimeError(f"{kind} {B, T, I, H}: rnnkit and torch outputs differ by {diff:.2e}")
    return {"train": (rnnkit_train, torch_train), "forward": (lambda: layer.forward(x),
                                                              torch_forward)}


def _median_times(fns, repeat, warmup):
    """Median seconds of each function, alternating them (and their order) every repetition.

    Each turn starts with one untimed call: the other library's thread pool may still be
    spinning from its last call (OpenMP and OpenBLAS workers busy-wait for a while), and on
    2 cores that would be charged to whichever library runs next.
    """
    times = [[] for _ in fns]
    for rep in range(warmup + repeat):
        order = range(len(fns)) if rep % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            fns[i]()  # absorbs the switch from the other library
            start = time.perf_counter()
            fns[i]()
            if rep >= warmup:
                times[i].append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def benchmark(kinds, shapes, repeat=11, warmup=2, log=print) -> list[dict]:
    """Rows of median times (seconds) and ratios, one per kind and shape."""
    torch = _import_torch()
    rows = []
    for kind in kinds:
        for B, T, I, H in shapes:
            row = {"kind": kind, "shape": (B, T, I, H)}
            for op, (ours, theirs) in _pair(torch, kind, B, T, I, H).items():
                row[op] = _median_times([ours, theirs], repeat, warmup)  # [rnnkit, torch]
            rows.append(row)
            log(_format_row(row))
    return rows


def _format_row(row) -> str:
    cells = [row["kind"], *map(str, row["shape"])]
    for op in ("train", "forward"):
        ours, theirs = row[op]
        cells += [f"{ours * 1e3:.3f}", f"{theirs * 1e3:.3f}", f"{ours / theirs:.2f}x"]
    return "| " + " | ".join(cells) + " |"


def table(rows) -> str:
    head = ("| kind | B | T | I | H | train rnnkit ms | train torch ms | train ratio "
            "| forward rnnkit ms | forward torch ms | forward ratio |")
    sep = "|" + "---|" * 11
    return "\n".join([head, sep, *map(_format_row, rows)])


def environment() -> str:
    import torch

    from rnnkit.core.backends import get_backend, numba_available

    numba = "numba " + __import__("numba").__version__ if numba_available() else "no numba"
    return (f"rnnkit backend `{get_backend('auto').__name__}`, numpy {np.__version__}, "
            f"{numba}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}, "
            f"{platform.machine()}, float32, times are medians in milliseconds")


def run(args) -> int:
    kinds, shapes = _parse(args)
    _import_torch()  # fail early, before any timing
    print(table([]))
    rows = benchmark(kinds, shapes, args.repeat, args.warmup)
    text = (f"# Benchmarks: rnnkit against torch.nn\n\nGenerated by `rnnkit bench` (interleaved "
            "in one process after warm-up; ratio = rnnkit time / torch time, below 1 means "
            "rnnkit is faster). What the numbers mean and where the time goes: "
            f"`benchmarks/README.md`.\n\n{environment()}\n\n{table(rows)}\n")
    if args.out:
        from rnnkit.io.files import atomic_write_text

        atomic_write_text(args.out, text)
        print(f"wrote {args.out}")
    return 0
