"""The ``rnnkit`` command line: a thin layer of argparse over the application modules.

Each command is a module with ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Errors the user can fix (bad files, bad options, bad data) print one line to stderr and exit
with status 2, without a traceback; a run that fails while training exits with status 1.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from rnnkit.errors import RnnkitError, UsageError
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
    from rnnkit.cli.common import remove_created
    from rnnkit.train.trainer import TrainingError

    parser = build_parser()
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 0
    args.argv = argv
    exit_on_sigterm()
    flushed = _torch_flushes_subnormals()  # already, by a caller (rnnkit bench runs commands)
    try:
        if getattr(args, "resume", None) is not None:
            from rnnkit.cli.common import resume_args

            args = resume_args(parser, args)
        return int(args.run(args) or 0)
    except UsageError as exc:
        return _fail(args, f"error: {exc}", 2)
    except TrainingError as exc:
        remove_created(args, only_empty=True)
        print(f"rnnkit {args.command}: training failed: {exc}{_kept(args)}", file=sys.stderr)
        return 1
    except RnnkitError as exc:  # a file rnnkit refused (a damaged checkpoint, a .ts file)
        return _fail(args, f"error: {exc}", 2)
    except BrokenPipeError:
        # the reader of stdout went away (``rnnkit predict ... | head``): stop quietly, as a
        # command killed by SIGPIPE would, and keep Python from complaining at exit
        _silence_stdout()
        return 141
    except OSError as exc:  # an unreadable file, a full disk, a folder that became read-only
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(args, f"error: {where}{exc.strerror or exc}", 2)
    except MemoryError:
        return _fail(args, "error: out of memory; choose smaller settings (see --max-memory)",
                     2)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 130, only_empty=True)
    finally:
        if not flushed and _torch_flushes_subnormals():  # it ends with the command that set it
            sys.modules["rnnkit.interop.torch_engine"].restore_subnormals()


def _torch_flushes_subnormals() -> bool:
    """Whether ``--engine torch`` or ``rnnkit bench`` has torch flushing subnormal floats
    (``rnnkit.interop.torch_engine.flush_subnormals``), without importing that module."""
    engine = sys.modules.get("rnnkit.interop.torch_engine")
    return engine is not None and engine.flushing()


def exit_on_sigterm() -> None:
    """Let SIGTERM (``kill``, a scheduler's time limit) unwind like an exception, so that a
    half-written file's temporary is removed; the run folder and its checkpoint stay, for
    --resume. Exit status 143, as the signal's own."""
    import signal
    import threading

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, terminate)


def _fail(args, message: str, code: int, only_empty: bool = False) -> int:
    """Remove what the run created, print one line and return the exit status."""
    from rnnkit.cli.common import remove_created

    remove_created(args, only_empty)
    print(f"rnnkit {args.command}: {message}", file=sys.stderr)
    return code


def _kept(args) -> str:
    """Where the last good checkpoint of a failed run is, if it wrote one."""
    from rnnkit.cli.common import CHECKPOINT_FILE

    folder = getattr(args, "run_folder", None)
    if folder is not None and (folder / CHECKPOINT_FILE).is_file():
        return f" (the last good epoch: {folder / CHECKPOINT_FILE})"
    return ""


def _silence_stdout() -> None:
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError:
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
