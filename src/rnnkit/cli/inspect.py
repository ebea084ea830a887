"""``rnnkit inspect``: see inside a recurrent network, on rnnkit's exact gradients.

    rnnkit inspect gradients [--cells rnn,lstm,gru] [--steps T] [--model DIR]
        ||dL/dh_t|| (and ||dL/dc_t||) for every t, for a loss at the last step: freshly
        initialised networks of each kind on a random input (with the vanilla RNN at several
        spectral radii of W_hh, and what norm clipping does to it), or a saved run on its own
        data; a log-scale plot, and ``--json`` with ``gradient_norms`` and ``decay_per_step``
    rnnkit inspect states --model DIR [--input F]
        heat maps of the states and gates over time for one input; for a text model, the text
        coloured by one unit (HTML and PNG) and the units most correlated with simple features
    rnnkit inspect bptt --cell rnn|lstm|gru
        a 2-3-2 network over 3 steps from seed 002's numbers, forward and backward written out
        with every number and its equation, checked against finite differences

Library functions: ``rnnkit.nn.unroll`` (states, gates, per-step gradients),
``rnnkit.train.gradient_flow`` (norms, decay, spectral radius, clipping),
``rnnkit.nn.worked_bptt`` and ``rnnkit.data.text_features``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rnnkit.cli.common import emit, load_run, out_dir, out_path, to_jsonable
from rnnkit.errors import UsageError
from rnnkit.io.files import atomic_write_text

HELP = "see inside a network: gradient flow through time, states and gates, BPTT by hand"
DEFAULT_RADII = "0.5,0.9,1.0,1.1,1.5,3.0"
KINDS = ("rnn", "lstm", "gru")


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    g = sub.add_parser("gradients", help="gradient norms through time (fresh or a saved run)",
                       description="Norms of dL/dh_t for a loss at the last step.")
    g.add_argument("--cells", default="rnn,lstm,gru", help="fresh cells (default rnn,lstm,gru)")
    g.add_argument("--steps", type=int, default=None,
                   help="time steps T (default 50; with --model of a textgen run: characters "
                        "per sequence, default the run's seq_len)")
    g.add_argument("--hidden", type=int, default=128, help="hidden units (default 128)")
    g.add_argument("--input-size", type=int, default=8, help="input features (default 8)")
    g.add_argument("--batch", type=int, default=16, help="sequences (default 16)")
    g.add_argument("--forget-bias", type=float, default=1.0,
                   help="also show the LSTM with this forget-gate bias (default 1; 0: no)")
    g.add_argument("--radii", default=DEFAULT_RADII,
                   help=f"spectral radii of the RNN's W_hh to compare (default {DEFAULT_RADII})")
    g.add_argument("--clip", type=float, default=1.0, help="clipping norm shown (default 1)")
    g.add_argument("--model", type=Path, default=None,
                   help="a run folder (classify, forecast, textgen): its model on its own data")
    g.add_argument("--input", type=Path, default=None,
                   help="with --model: a data file instead of the run's own (classify, textgen)")
    g.set_defaults(inspect=gradients)
    s = sub.add_parser("states", help="states and gates over time; a text coloured by a unit",
                       description="Heat maps of every state and gate for one input.")
    s.add_argument("--model", type=Path, required=True, help="a run folder")
    s.add_argument("--input", type=Path, default=None,
                   help="textgen: a UTF-8 text file; classify: a data file")
    s.add_argument("--chars", type=int, default=600, help="textgen: characters read (600)")
    s.add_argument("--index", type=int, default=0,
                   help="classify: which example; forecast: which series (default 0)")
    s.add_argument("--unit", type=int, default=None,
                   help="textgen: the unit colouring the text (default: the one most "
                        "correlated with being inside quotes, else position in line)")
    s.set_defaults(inspect=states)
    for p in (g, s):
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--out", type=out_path, default=None,
                       help="folder for the pictures (default runs/inspect-<what>-<time>)")
        p.add_argument("--json", action="store_true",
                       help="print the results as one JSON object on the last line")
    b = sub.add_parser("bptt", help="BPTT step by step on a tiny network (seed 002's numbers)",
                       description="Forward and backward of a 2-3-2 network over 3 steps, "
                                   "every number with its equation, checked on the spot.")
    b.add_argument("--cell", choices=KINDS, default="rnn", help="cell kind (default rnn)")
    b.add_argument("--json", action="store_true", help="print the lines as one JSON object")
    b.set_defaults(inspect=bptt)


def run(args) -> int:
    return args.inspect(args)


# --- gradients ---------------------------------------------------------------------------
def _numbers(text: str, option: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{option} takes comma-separated numbers, got {text!r}") from None
    if not values or not all(np.isfinite(v) and v > 0 for v in values):
        raise UsageError(f"{option} takes positive numbers, got {text!r}")
    return values


def _check_gradient_options(args) -> tuple[list[str], list[float]]:
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    unknown = [c for c in cells if c not in KINDS]
    if unknown or not cells:
        raise UsageError(f"--cells takes a comma-separated list of rnn, lstm, gru; got "
                         f"{args.cells!r}")
    if args.steps is None and args.model is None:
        args.steps = 50
    for name in ("steps", "hidden", "input_size", "batch"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, "
                             f"got {getattr(args, name)}")
    if args.steps is not None and args.steps < 2:
        raise UsageError(f"--steps must be at least 2 to measure a decay, got {args.steps}")
    if not (np.isfinite(args.clip) and args.clip > 0):
        raise UsageError(f"--clip must be a positive number, got {args.clip}")
    if not np.isfinite(args.forget_bias):
        raise UsageError(f"--forget-bias must be a number, got {args.forget_bias}")
    _check_size(args, cells)
    return list(dict.fromkeys(cells)), _numbers(args.radii, "--radii")


def _check_size(args, cells) -> None:
    """The seed's range, and the memory the fresh cells' backpropagation needs (float64:
    twice the float32 estimate of ``rnnkit.cli.limits``, for each cell and the LSTM with
    its forget bias), checked before any array is made."""
    from rnnkit.cli.common import check_seed
    from rnnkit.cli.limits import check_memory, recurrent_parameters, training_bytes

    check_seed(args.seed)
    if args.model is not None:
        return
    H, I, B, T = args.hidden, args.input_size, args.batch, args.steps
    need = 2 * (len(cells) + 1) * training_bytes(recurrent_parameters("lstm", I, H, 1), B, T,
                                                 H, 1, cell="lstm")
    check_memory(need, f"--hidden {H}, --input-size {I}, --batch {B}, --steps {T}",
                 option=False)


def fresh_result(cells, radii, args) -> dict:
    """The measurements of ``inspect gradients`` without --model, as plain arrays."""
    from rnnkit.train import gradient_flow as gf

    flows = gf.fresh_flows(cells, steps=args.steps, hidden_size=args.hidden,
                           input_size=args.input_size, batch=args.batch, seed=args.seed)
    norms = {name: c for flow in flows.values() for name, c in flow.curves().items()}
    result = {"steps": args.steps, "hidden": args.hidden, "input_size": args.input_size,
              "batch": args.batch, "seed": args.seed,
              "loss": "L = mean over the batch of w . h_T (w ~ N(0, 1/H), x ~ N(0, 1))",
              "gradient_norms": norms,
              "decay_per_step": {k: gf.decay_per_step(v) for k, v in norms.items()}}
    if "lstm" in cells and args.forget_bias:
        flow = gf.fresh_flows(("lstm",), steps=args.steps, hidden_size=args.hidden,
                              input_size=args.input_size, batch=args.batch, seed=args.seed,
                              forget_bias=args.forget_bias)["lstm"]
        result["lstm_forget_bias"] = {f"{args.forget_bias:g}": {
            "gradient_norms": flow.c, "decay_per_step": gf.decay_per_step(flow.c)}}
    if "rnn" in cells:
        x, w = gf.probe(args.input_size, args.hidden, args.steps, args.batch, args.seed)
        default = gf.fresh_layer("rnn", args.input_size, args.hidden, args.seed)
        curves, clipping = {}, {}
        for radius in radii:
            layer = gf.fresh_layer("rnn", args.input_size, args.hidden, args.seed,
                                   radius=radius)
            flow = gf.last_step_flow(layer, x, w)
            curves[f"{radius:g}"] = {"gradient_norms": flow.h,
                                     "decay_per_step": gf.decay_per_step(flow.h)}
            clipping[f"{radius:g}"] = gf.clipping_effect(layer, x, w, args.clip)
        result["rnn_spectral_radius"] = {
            "default": gf.spectral_radius(default.params["weight_hh_l0"]), "curves": curves}
        result["clipping"] = {"max_norm": args.clip, "by_radius": clipping, "note": (
            "norm clipping scales the whole gradient by one factor: it bounds an exploding "
            "update, and leaves far-back steps' shares as small, next to the last step's, "
            "as they were")}
    return result


def gradients(args) -> int:
    from rnnkit.cli.inspect_pictures import plot_gradient_flow, plot_model_flow

    cells, radii = _check_gradient_options(args)
    if args.model is not None:
        result = model_result(args)
        out = out_dir(args, "inspect-gradients")
        result["figure"] = str(out / "gradient_flow.png")
        plot_model_flow(result, out / "gradient_flow.png")
    else:
        if args.input is not None:
            raise UsageError("--input goes with --model")
        result = fresh_result(cells, radii, args)
        out = out_dir(args, "inspect-gradients")
        result["figure"] = str(out / "gradient_flow.png")
        plot_gradient_flow(result, out / "gradient_flow.png")
    atomic_write_text(out / "gradients.json", json.dumps(to_jsonable(result), indent=1))
    emit(result, args.json, gradient_summary(result))
    return 0


def gradient_summary(result: dict) -> str:
    head = (f"{result['model']}: {result['loss']}" if "model" in result else
            f"fresh networks (hidden {result['hidden']}, T={result['steps']}, seed "
            f"{result['seed']}): {result['loss']}")
    lines = [head, "decay per step back in time (< 1 vanishing, > 1 exploding):"]
    for name, norms in result["gradient_norms"].items():
        n = np.asarray(norms, np.float64)
        lines.append(f"  {name:8s} x{result['decay_per_step'][name]:.3f}/step   "
                     f"||dL/d{'c' if name.endswith('_c') else 'h'}_1|| = {n[0]:.3g}, "
                     f"at T: {n[-1]:.3g}")
    for bias, entry in result.get("lstm_forget_bias", {}).items():
        lines.append(f"  LSTM with forget-gate bias {bias}: dL/dc_t x"
                     f"{entry['decay_per_step']:.3f}/step")
    if "rnn_spectral_radius" in result:
        sr = result["rnn_spectral_radius"]
        lines.append(f"vanilla RNN with W_hh scaled to spectral radius rho (default "
                     f"{sr['default']:.3f}):")
        for radius, entry in sr["curves"].items():
            clip = result["clipping"]["by_radius"][radius]
            lines.append(f"  rho={radius:5s} x{entry['decay_per_step']:.3f}/step; parameter "
                         f"gradient norm {clip['grad_norm']:.3g}, clipped to "
                         f"{clip['clipped_grad_norm']:.3g}")
        lines.append(result["clipping"]["note"])
    lines.append(f"picture: {result['figure']}")
    return "\n".join(lines)


def model_result(args) -> dict:
    from rnnkit.cli.inspect_data import model_batch, recurrent_model
    from rnnkit.train import gradient_flow as gf

    model, task = load_run(args.model)
    if args.steps is not None and task.get("command") != "textgen":
        raise UsageError("--steps with --model applies to a textgen run (classify and "
                         "forecast runs read their series as they were trained)")
    model, note = recurrent_model(model, args.model)
    x, target, loss, what = model_batch(model, task, args, args.model, args.batch)
    flow = gf.model_flow(model, x, target, loss)
    s = model.settings
    curves = flow.curves()
    return {"model": str(args.model), "command": task.get("command"), "cell": s["cell"],
            "hidden": s["hidden_size"], "layers": s["num_layers"], "note": note,
            "steps": len(flow.h), "loss": what, "gradient_norms": curves,
            "decay_per_step": {k: gf.decay_per_step(v) for k, v in curves.items()}}


# --- states -------------------------------------------------------------------------------
def states(args) -> int:
    from rnnkit.cli.inspect_states import inspect_states

    return inspect_states(args)


# --- bptt ---------------------------------------------------------------------------------
def bptt(args) -> int:
    from rnnkit.nn.worked_bptt import format_example, worked_example

    ex = worked_example(args.cell)
    worst = max(ex.checks.values())
    text = format_example(ex) + (f"\nall gradients agree with finite differences (worst "
                                 f"{worst:.1e})" if worst < 1e-6 else
                                 f"\nWARNING: a gradient disagrees ({worst:.1e})")
    result = {"cell": ex.kind, "loss": ex.loss, "checks": ex.checks,
              "lines": [{"phase": ln.phase, "t": ln.t, "name": ln.name,
                         "equation": ln.equation, "value": ln.value,
                         "seed_printed": ln.seed_printed} for ln in ex.lines]}
    emit(result, args.json, text)
    return 0 if worst < 1e-6 else 1

