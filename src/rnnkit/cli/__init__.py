"""The ``rnnkit`` command line: a thin layer of argparse over the application modules.

Each command is a module with ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Errors the user can fix (bad files, bad options, bad data) print one line to stderr and exit
with status 2, without a traceback; a run that fails while training exits with status 1.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from rnnkit.errors import UsageError
from rnnkit.version import __version__

# command name -> module implementing it
COMMANDS = {
    "demo": "rnnkit.cli.demo",
    "bench": "rnnkit.cli.bench",
    "predict": "rnnkit.cli.predict",
    "export": "rnnkit.cli.export",
    "forecast": "rnnkit.cli.forecast",
    "classify": "rnnkit.cli.classify",
    "textgen": "rnnkit.cli.textgen",
    "translate": "rnnkit.cli.translate",
    "inspect": "rnnkit.cli.inspect",
}




def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks from scratch in NumPy: train, evaluate, "
                    "predict, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from rnnkit.train.trainer import TrainingError

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
    except TrainingError as exc:
        print(f"rnnkit {args.command}: training failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rnnkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
