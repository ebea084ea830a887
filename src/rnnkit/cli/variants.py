"""The recurrent layers' variants (issue 13) as command-line options of the training commands:
``forecast``, ``classify`` and ``textgen`` build ``SequenceModel`` networks with them,
``translate`` its ``Seq2Seq`` (encoder and decoder; the learned initial state on the encoder)."""
from __future__ import annotations

from rnnkit.errors import UsageError

# the variants torch.nn's layers lack, so that --engine torch cannot train them
NOT_IN_TORCH = {"layer_norm": "--layer-norm", "peephole": "--peephole",
                "learn_initial_state": "--learn-initial-state",
                "recurrent_dropout": "--recurrent-dropout"}


def add_variant_arguments(parser, *, description: str | None = None,
                          initial_state_help: str = "learn h0 (and c0) as parameters") -> None:
    """The recurrent layers' variants (issue 13), off by default: ``--layer-norm``,
    ``--recurrent-dropout P``, ``--learn-initial-state``, ``--proj-size P`` (LSTM) and
    ``--peephole`` (LSTM). ``description`` and ``initial_state_help`` say where a command
    applies them when that is not its one recurrent stack."""
    g = parser.add_argument_group("recurrent-layer variants (off by default)", description)
    g.add_argument("--layer-norm", action="store_true",
                   help="layer-normalised LSTM/GRU (Ba, Kiros & Hinton 2016)")
    g.add_argument("--recurrent-dropout", type=float, default=0.0,
                   help="variational dropout on h_{t-1}, one mask per sequence (Gal & "
                        "Ghahramani 2016); default 0")
    g.add_argument("--learn-initial-state", action="store_true", help=initial_state_help)
    g.add_argument("--proj-size", type=int, default=0,
                   help="LSTM only: project h to this size, as torch.nn.LSTM's proj_size")
    g.add_argument("--peephole", action="store_true",
                   help="LSTM only: diagonal peephole connections (Gers & Schmidhuber 2000)")


def variant_options(args) -> dict:
    """The variants given on the command line, as SequenceModel (and Seq2Seq) keyword
    arguments (only those switched on, so that plain models keep their plain configs);
    refuses values out of range, LSTM-only options on another cell, and with
    ``--engine torch`` the variants torch.nn's layers do not have."""
    p = args.recurrent_dropout
    if not 0.0 <= p < 1.0:
        raise UsageError(f"--recurrent-dropout must be in [0, 1), got {p}")
    if args.proj_size < 0:
        raise UsageError(f"--proj-size must be at least 0, got {args.proj_size}")
    for flag, on in (("--proj-size", args.proj_size > 0), ("--peephole", args.peephole)):
        if on and args.cell != "lstm":
            raise UsageError(f"{flag} applies to the LSTM only (got --cell {args.cell})")
    if args.proj_size and args.proj_size >= args.hidden:
        raise UsageError(f"--proj-size {args.proj_size} must be smaller than --hidden "
                         f"{args.hidden}")
    if args.layer_norm and args.cell == "rnn":
        raise UsageError("--layer-norm applies to the LSTM and GRU (got --cell rnn)")
    for flag, on in (("--recurrent-dropout", p > 0), ("--layer-norm", args.layer_norm)):
        if on and args.proj_size:
            raise UsageError(f"{flag} cannot be combined with --proj-size")
    options = {"layer_norm": args.layer_norm, "recurrent_dropout": p,
               "learn_initial_state": args.learn_initial_state, "proj_size": args.proj_size,
               "peephole": args.peephole}
    options = {k: v for k, v in options.items() if v}
    if getattr(args, "engine", "numpy") == "torch":
        refused = [(flag, name) for name, flag in NOT_IN_TORCH.items() if name in options]
        if refused:
            flag, name = refused[0]
            raise UsageError(f"{flag} needs --engine numpy: torch.nn.{args.cell.upper()} "
                             f"has no {name}")
    return options
