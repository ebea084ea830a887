"""What every application command shares: options, the run folder, training, saving, output.

A run folder (``--out``, default ``runs/<command>-<timestamp>``) receives
    model.safetensors   the trained model (``rnnkit.load`` rebuilds it)
    task.json           what ``rnnkit predict`` needs besides the weights (scalers, vocabularies)
    metrics.json        the metrics, also printed as the last stdout line with ``--json``
    *.png               training curves and the task's own picture
Every file is written atomically. Input is validated before the folder is created, so a run
refused for bad input writes nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.errors import CheckpointError, UsageError
from rnnkit.io.files import atomic_write_bytes, atomic_write_text


@dataclass
class TrainingOptions:
    """The training options every command takes (from argparse); None where a command has
    no such option (classify sizes training in updates, not epochs) or chooses it itself."""
    seed: int
    hidden: int
    layers: int
    cell: str
    bidirectional: bool
    lr: float
    max_minutes: float | None
    epochs: int | None = None
    patience: int | None = None
    batch_size: int | None = None
    engine: str = "numpy"

    @classmethod
    def from_args(cls, args) -> "TrainingOptions":
        opts = cls(**{f: getattr(args, f, None) for f in cls.__dataclass_fields__})
        opts.engine = opts.engine or "numpy"
        require_positive(args, *(name for name in ("epochs", "hidden", "layers", "batch_size",
                                                   "patience") if getattr(opts, name) is not None))
        check_seed(opts.seed)
        if not 0 < opts.lr <= MAX_LR:  # also refuses NaN
            raise UsageError(f"--lr must be a number > 0 and <= {MAX_LR:g} (Adam moves each "
                             f"weight by about lr per update), got {opts.lr}")
        if opts.max_minutes is not None and not opts.max_minutes > 0:
            raise UsageError(f"--max-minutes must be positive, got {opts.max_minutes}")
        max_memory = getattr(args, "max_memory", None)
        if max_memory is not None and not 0 < max_memory < float("inf"):
            raise UsageError(f"--max-memory must be a positive number of GB, got {max_memory}")
        check_out(getattr(args, "out", None))
        if opts.engine == "torch":
            import importlib.util

            if importlib.util.find_spec("torch") is None:
                raise UsageError("--engine torch needs PyTorch: pip install 'rnnkit[torch]'")
        return opts


MAX_LR = 1.0


def check_seed(seed: int) -> None:
    if not 0 <= seed < 2**63:
        raise UsageError(f"--seed must be a whole number from 0 to 2**63 - 1, got {seed}")


def out_path(text: str) -> Path:
    """argparse type of --out: a path, never empty (that would write into the current
    folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path would write into the current "
                                         "folder; give a folder name")
    return Path(text)


def check_out(path: Path | None) -> None:
    """UsageError, before any work, for a --out that cannot become a run folder: a file, a
    path below a file, or a folder this user cannot write into."""
    if path is None:
        return
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {path} exists and is not a folder")
    parent = path
    while not parent.exists():  # the nearest existing folder, where mkdir will write
        if parent.parent == parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"--out {path}: {parent} is a file, not a folder")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {path}: cannot write into {parent} (permission denied)")


def require_positive(args, *names) -> None:
    """UsageError naming the first option among ``names`` that is below 1."""
    for name in names:
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, "
                             f"got {getattr(args, name)}")


def add_common_arguments(parser, *, epochs, hidden, layers=1, cell="lstm", lr=1e-2,
                         batch_size=32, patience=10, bidirectional_choice=True,
                         bidirectional=False, embedding_dim=None) -> None:
    """The run and training options. ``epochs=None``: no --epochs and --patience (the command
    sizes training otherwise); ``batch_size=None``: chosen from the data unless given;
    ``bidirectional``: the default of --bidirectional/--no-bidirectional;
    ``embedding_dim``: the default of --embedding-dim, for commands that read tokens."""
    g = parser.add_argument_group("run")
    g.add_argument("--out", type=out_path, default=None,
                   help="folder for the model, metrics.json and plots "
                        "(default runs/<command>-<timestamp>)")
    g.add_argument("--json", action="store_true",
                   help="print the metrics as one JSON object on the last line of stdout")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--max-minutes", type=float, default=None,
                   help="stop cleanly when time is up, keeping the best model")
    g.add_argument("--max-memory", type=float, default=None, metavar="GB",
                   help="refuse settings whose estimated memory exceeds this many GB "
                        "(default: the memory available)")
    g.add_argument("--engine", choices=["numpy", "torch"], default="numpy",
                   help="train with rnnkit's NumPy code (default) or with PyTorch; under "
                        "torchrun --nproc_per_node N the torch engine trains with "
                        "DistributedDataParallel")
    g = parser.add_argument_group("model and training")
    g.add_argument("--cell", choices=["rnn", "lstm", "gru"], default=cell,
                   help=f"recurrent cell (default {cell})")
    g.add_argument("--hidden", type=int, default=hidden, help=f"hidden size (default {hidden})")
    g.add_argument("--layers", type=int, default=layers,
                   help=f"recurrent layers (default {layers})")
    if bidirectional_choice:
        g.add_argument("--bidirectional", action=argparse.BooleanOptionalAction,
                       default=bidirectional,
                       help=f"bidirectional layers (default {'yes' if bidirectional else 'no'})")
    else:
        parser.set_defaults(bidirectional=False)
    if epochs is not None:
        g.add_argument("--epochs", type=int, default=epochs, help=f"at most this many epochs "
                       f"(default {epochs}; early stopping on the validation loss)")
        g.add_argument("--patience", type=int, default=patience,
                       help=f"early-stopping patience in epochs (default {patience})")
    parser.add_argument("--resume", type=Path, default=None, metavar="DIR",
                        help="continue a run that was killed, from what its folder DIR holds "
                             "(a checkpoint after every epoch, or the networks of an ensemble "
                             "trained so far), with the options it was started with (others "
                             "given are ignored); it ends as the uninterrupted run would have")
    g.add_argument("--lr", type=float, default=lr, help=f"learning rate (default {lr})")
    g.add_argument("--batch-size", type=int, default=batch_size,
                   help="mini-batch size (default " + (f"{batch_size})" if batch_size else
                                                        "chosen from the data size)"))
    if embedding_dim is not None:
        g.add_argument("--embedding-dim", type=int, default=embedding_dim,
                       help=f"size of the token embeddings (default {embedding_dim})")


def is_main_process() -> bool:
    """False in the extra processes of a distributed (torchrun) run: they write nothing."""
    from rnnkit.interop.torch_engine import world

    return world()[0] == 0


def log(message: str) -> None:
    """Progress and notes go to stderr; stdout is for results."""
    if is_main_process():
        print(message, file=sys.stderr, flush=True)


def out_dir(args, command: str) -> Path:
    """The run folder, created now (call only after the input has been validated). The
    topmost folder this call creates is remembered in ``args.created_out``, for
    :func:`remove_created` to take away when the run then fails."""
    path = args.out or Path("runs") / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}"
    check_out(path)
    if is_main_process():
        top = path
        while not top.parent.exists() and top.parent != top:
            top = top.parent
        created = None if top.exists() else top
        path.mkdir(parents=True, exist_ok=True)
        args.created_out, args.run_folder = created, path
        if getattr(args, "resume", None) is None and getattr(args, "argv", None) is not None \
                and hasattr(args, "resume"):
            atomic_write_text(path / COMMAND_FILE, json.dumps({"argv": args.argv}))
    return path


COMMAND_FILE = "command.json"  # the command line of a run that --resume can continue
CHECKPOINT_FILE = "checkpoint.safetensors"  # written after every epoch, removed at the end
MEMBERS_FOLDER = "members"  # an ensemble's networks as they finish, removed at the end


def resume_args(parser, args):
    """The options of the run that ``--resume DIR`` continues: its command line, read from
    DIR/command.json and parsed again, with ``out`` = DIR and ``resume`` = DIR. (A run killed
    before its first checkpoint starts again from the beginning.)"""
    from rnnkit.io.schema import SchemaError, fields, list_of, load_json, text

    folder = args.resume
    if not (folder / COMMAND_FILE).is_file():
        raise UsageError(f"--resume {folder}: no run to continue there (no {COMMAND_FILE}; a "
                         "run that finished keeps none)")
    try:
        saved = load_json((folder / COMMAND_FILE).read_bytes(), COMMAND_FILE, max_bytes=2**20)
        argv = fields(argv=list_of(text(), min_len=1, max_len=1000))(saved, COMMAND_FILE)["argv"]
    except SchemaError as exc:
        raise UsageError(f"--resume {folder}: {exc}") from None
    if argv[0] != args.command:
        raise UsageError(f"--resume {folder}: that folder holds a {argv[0]!r} run")
    try:
        again = parser.parse_args(argv)
    except SystemExit:
        raise UsageError(f"--resume {folder}: its saved command line no longer parses") \
            from None
    again.out, again.resume, again.argv = folder, folder, argv
    return again


def remove_created(args, only_empty: bool = False) -> None:
    """Remove the run folder (and the parents) that :func:`out_dir` created for a run that
    then failed, so that a refused run leaves nothing behind; ``only_empty``: only when
    nothing but its command line was written into it (a failed training keeps what it
    saved)."""
    import shutil

    created = getattr(args, "created_out", None)
    if created is None or (only_empty and any(p.is_file() and p.name != COMMAND_FILE
                                              for p in created.rglob("*"))):
        return
    shutil.rmtree(created, ignore_errors=True)
    args.created_out = None


def torch_engine(opts: TrainingOptions, loss, task, clip_norm):
    """A factory ``(model, optimizer) -> TorchEngine`` for ``--engine torch``, with torch's
    subnormal floats flushed to zero from here to the command's end, as rnnkit's kernels
    flush theirs (``torch_engine.flush_subnormals``: a many-to-one LSTM over 200 steps
    took 4-10x as long an update without, benchmarks/README.md, session 16)."""
    from rnnkit.interop.torch_engine import TorchEngine, flush_subnormals

    flush_subnormals()  # before torch's first operation, so that its threads inherit it
    return lambda model, optimizer: TorchEngine(model, loss, task, optimizer=optimizer,
                                                clip_norm=clip_norm, seed=opts.seed)


def fit(model, loss, train, val, opts: TrainingOptions, *, task=None, metrics=None,
        clip_norm=1.0, out: Path | None = None, resume: bool = False):
    """Adam + gradient clipping + early stopping on val_loss (best weights restored) + the
    time limit, with the NumPy engine or (``--engine torch``) the PyTorch engine driving the
    same Trainer. With ``out`` (the run folder), a checkpoint there after every epoch,
    removed when training ends; ``resume``: continue from it. Returns (history, trainer)."""
    from rnnkit.train.callbacks import EarlyStopping, ModelCheckpoint
    from rnnkit.train.optim import Adam
    from rnnkit.train.tasks import SupervisedTask
    from rnnkit.train.trainer import Trainer

    task = task if task is not None else SupervisedTask(loss)
    optimizer = Adam(model, lr=opts.lr)
    engine = torch_engine(opts, loss, task, clip_norm)(model, optimizer) \
        if opts.engine == "torch" else None
    callbacks = [EarlyStopping(patience=opts.patience)]
    checkpoint = None
    if out is not None and is_main_process():
        checkpoint = out / CHECKPOINT_FILE
        callbacks.append(ModelCheckpoint(checkpoint))
    trainer = Trainer(model, loss, optimizer, task=task, clip_norm=clip_norm, engine=engine,
                      callbacks=callbacks, metrics=metrics, seed=opts.seed,
                      max_minutes=opts.max_minutes, log=log)
    if resume and checkpoint is not None and checkpoint.is_file():
        log(f"resuming from {checkpoint}")
        try:
            history = trainer.fit(train, val, epochs=opts.epochs, batch_size=opts.batch_size,
                                  resume=checkpoint)
        except CheckpointError as exc:
            raise UsageError(f"--resume: {exc}") from None
    else:
        history = trainer.fit(train, val, epochs=opts.epochs, batch_size=opts.batch_size)
    model.eval()
    return history, trainer


def member_store(out: Path, args):
    """Where an ensemble's networks are kept as they finish (``out/members``), for
    --resume; None in the extra processes of a distributed run."""
    from rnnkit.train.members import MemberStore

    if not is_main_process():
        return None
    return MemberStore(out / MEMBERS_FOLDER, resume=getattr(args, "resume", None) is not None)


def finish_run(out: Path) -> None:
    """Remove the checkpoint, the networks kept and the command line of a run that has
    ended (nothing to resume)."""
    import shutil

    if not is_main_process():
        return
    for name in (CHECKPOINT_FILE, COMMAND_FILE):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / MEMBERS_FOLDER, ignore_errors=True)


def to_jsonable(value):
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def save_run(out: Path, model, task: dict, metrics: dict, history: dict | None = None) -> None:
    """model.safetensors, task.json, metrics.json and training_curves.png, atomically
    (by the main process only). ``model`` None (a forecaster without networks): no weights,
    and task.json says ``"model": null``."""
    from rnnkit.io.checkpoint import save

    if not is_main_process():
        return
    if model is None:
        task = {**task, "model": None}
        (out / "model.safetensors").unlink(missing_ok=True)  # a stale one would mislead
    else:
        save(model, out / "model.safetensors")
    atomic_write_text(out / "task.json", json.dumps(to_jsonable(task), indent=2))
    atomic_write_text(out / "metrics.json", json.dumps(to_jsonable(metrics), indent=2))
    if history:
        plot_history(history, out / "training_curves.png")


def load_run(folder):
    """(model, task dict) from a run folder written by :func:`save_run`. task.json is read
    with a size and a depth cap and checked against its command's schema, and the model
    against the task (``rnnkit.cli.task_schema``), before anything is used."""
    from rnnkit.cli.task_schema import check_run
    from rnnkit.io.checkpoint import load
    from rnnkit.io.files import CheckpointError
    from rnnkit.io.schema import SchemaError, load_json

    folder = Path(folder)
    if not (folder / "task.json").is_file():
        raise UsageError(f"{folder} is not an rnnkit run folder (model.safetensors and "
                         "task.json expected)")
    try:
        task = load_json((folder / "task.json").read_bytes(), "task.json")
    except SchemaError as exc:
        raise UsageError(f"{folder}: {exc}") from None
    weightless = isinstance(task, dict) and "model" in task and task["model"] is None
    model = None
    if not weightless:
        if not (folder / "model.safetensors").is_file():
            raise UsageError(f"{folder} is not an rnnkit run folder (model.safetensors and "
                             "task.json expected)")
        try:
            model = load(folder / "model.safetensors")
        except CheckpointError as exc:
            raise UsageError(str(exc)) from None
        model.eval()
    check_run(task, model, folder)
    return model, task


def emit(metrics: dict, as_json: bool, summary: str) -> None:
    """The human summary on stdout, then (``--json``) the metrics as the last line."""
    if not is_main_process():
        return
    print(summary, flush=True)
    if as_json:
        print(json.dumps(to_jsonable(metrics)), flush=True)


def save_figure(fig, path: Path) -> None:
    import io

    if not is_main_process():
        return
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def plot_history(history: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in ("loss", "val_loss"):
        if key in history:
            ax.plot(np.arange(1, len(history[key]) + 1), history[key], label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title("training curves")
    save_figure(fig, path)
    plt.close(fig)
