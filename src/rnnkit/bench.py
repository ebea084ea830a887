"""Benchmarks of the recurrent layers against torch.nn (placeholder until the kernels land)."""
from __future__ import annotations

HELP = "time training steps and forward passes against torch.nn"


def add_arguments(parser) -> None:
    parser.add_argument("--out", default=None, help="write the results table to this Markdown file")


def run(args) -> int:
    from .cli import UsageError

    raise UsageError("the benchmark is being written")
