"""What a missed target of ``rnnkit bench``'s layer table asks of the machine: the row's
products in GFLOP, the rates both libraries reach, and the rate the target needs, beside the
fastest float32 matrix product this machine runs (issue 12).

A layer's float32 products, for G gate blocks of H units (RNN 1, GRU 3, LSTM 4), I inputs and
B * T rows:

    forward   x W_ih^T, h_{t-1} W_hh^T                        2 B T G H (I + H)
    backward  dG W_hh (to h_{t-1}), dG W_ih (to x),
              dW_ih = x^T dG and dW_hh = h^T dG                2 B T G H (2 I + 2 H)

so a training step as the table times it (dx included) does 3 times a forward's products.
The element-wise work (activations, state updates, copies) is not counted: a rate here is
products per second of the whole operation, and time spent elsewhere lowers it. The ceiling
is the fastest of NumPy's BLAS, ``torch.mm`` and rnnkit's own register-tiled product
(``rnnkit.core.gemm.matmul``, packing included) on one ``CEILING_N``^3 product on all their
threads, interleaved as the table is (``bench_timing.interleaved``): a rate that a tuned
product reaches on this machine, not a vendor's peak. Where NumPy's OpenBLAS runs narrower
vectors than the CPU has (``OPENBLAS_CORETYPE=Haswell`` on an AVX-512 machine) and torch.mm
is MKL off Intel, rnnkit's tile is the fastest of the three by far.
"""
from __future__ import annotations

import numpy as np

from rnnkit.cli.bench_timing import REPEAT, interleaved, judge
from rnnkit.core import gemm

GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # gate blocks of H in W_ih and W_hh
CEILING_N = 2048  # the square product whose rate is the ceiling
CEILING_HEAD = ("| kind | B, T, I, H | operation | verdict | GFLOP | rnnkit GFLOP/s "
                "| torch GFLOP/s | target asks, GFLOP/s | of the ceiling |\n" + "|---" * 9 + "|")


def layer_flops(kind: str, B: int, T: int, I: int, H: int, op: str) -> float:
    """Floating-point operations of one direction's products: ``op`` 'forward' or 'train'
    (forward and backward with dx), counted as in the module docstring."""
    forward = 2.0 * B * T * GATES[kind] * H * (I + H)
    return {"forward": forward, "train": 3.0 * forward}[op]


def gemm_ceiling(torch, repeat: int = REPEAT, warmup: int = 2, n: int | None = None) -> dict:
    """GFLOP/s of NumPy's, torch's and rnnkit's float32 (n x n)(n x n) product (n:
    CEILING_N), medians, interleaved: {'numpy': rate, 'torch.mm': rate, 'rnnkit': rate}."""
    n = CEILING_N if n is None else n
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    out = np.empty((n, n), np.float32)  # (n, n)
    at, bt = torch.from_numpy(a), torch.from_numpy(b)
    times = interleaved([lambda: np.matmul(a, b, out=out), lambda: torch.mm(at, bt),
                         lambda: gemm.matmul(a, b)], repeat, warmup)
    flops = 2.0 * n ** 3
    return {name: flops / float(np.median(t)) / 1e9
            for name, t in zip(("numpy", "torch.mm", "rnnkit"), times)}


def row_ratios(row, op):
    """A layer row's paired ratios of op (``rnnkit.cli.bench.benchmark``), or, in a row
    without them, its ratio of medians."""
    ratios = row.get("ratios", {}).get(op)
    return ratios if ratios is not None else [row[op][0] / row[op][1]]


def missed(rows, targets) -> list[tuple[dict, str, float]]:
    """(row, op, limit) for each of the layer table's rows and operations whose verdict
    against its target (``targets``: {kind: {op: limit}}) is not 'meets': it misses, or lies
    inside the noise (``rnnkit.cli.bench_timing.judge``)."""
    return [(row, op, limit) for row in rows for op, limit in targets[row["kind"]].items()
            if not judge(row_ratios(row, op), limit).startswith("meets")]


def ceiling_lines(rows, targets, ceiling: dict) -> list[str]:
    """The Markdown rows of the targets not met (``missed``): the verdict, GFLOP, each
    library's rate, the rate the target asks (GFLOP / (limit * torch's time)) and that
    rate's share of the ceiling."""
    best = max(ceiling.values())
    lines = []
    for row, op, limit in missed(rows, targets):
        flops = layer_flops(row["kind"], *row["shape"], op)
        ours, theirs = row[op]
        asks = flops / (limit * theirs)
        lines.append(f"| {row['kind']} | {', '.join(map(str, row['shape']))} | {op} "
                     f"| {judge(row_ratios(row, op), limit)} "
                     f"| {flops / 1e9:.2f} | {flops / ours / 1e9:.0f} | "
                     f"{flops / theirs / 1e9:.0f} | {asks / 1e9:.0f} "
                     f"| {100 * asks / best / 1e9:.0f}% |")
    return lines


def section_text(ceiling: dict) -> str:
    """The paragraph above the table: what is counted and the ceiling's rates."""
    rates = ", ".join(f"{name} {rate:.0f}" for name, rate in ceiling.items())
    return (f"For each layer row whose verdict is not 'meets' (it misses its target, or its "
            f"ratio's interval holds the target): the products' work in GFLOP "
            f"(element-wise work not counted), the rate at which each library did it, and "
            f"the rate the target asks (GFLOP / (target ratio x torch's time)), as a share of "
            f"the ceiling: the fastest float32 {CEILING_N}^3 product on this machine, in "
            f"GFLOP/s: {rates}.")
