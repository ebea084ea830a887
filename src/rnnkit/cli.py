"""The ``rnnkit`` command line: a thin layer of argparse over typed configs.

Errors the user can fix (bad files, bad options, bad data) print one line to stderr and exit
with status 2; nothing is written.
"""
from __future__ import annotations

import argparse
import sys

from . import __version__


class UsageError(Exception):
    """A problem with the user's input: reported in one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks from scratch in NumPy: train, evaluate, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from . import bench, demo

    p = sub.add_parser("demo", help="train a small LSTM on a bundled series and show the loss fall")
    demo.add_arguments(p)
    p.set_defaults(run=demo.run)

    p = sub.add_parser("bench", help="time training steps and forward passes against torch.nn")
    bench.add_arguments(p)
    p.set_defaults(run=bench.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except UsageError as exc:
        print(f"rnnkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
