"""``rnnkit inspect states --model DIR``: every state and gate of a saved run's recurrent layer
over time for one input, as heat maps; for a text model also the text coloured by one unit
(HTML page and PNG) and the units most correlated with simple features of the text."""
from __future__ import annotations

import json

import numpy as np

from rnnkit.cli.common import emit, load_run, out_dir, to_jsonable
from rnnkit.cli.inspect_data import forecast_window, recurrent_model, run_examples, run_text
from rnnkit.errors import UsageError
from rnnkit.io.files import atomic_write_text

MENU_UNITS = 8  # units offered in the HTML page's menu


def one_input(model, task, args):
    """(x (1, T, ...), xlabels or None, text or None, source) for the run's kind."""
    command = task.get("command")
    if command == "textgen":
        from rnnkit.data.text import Vocabulary

        if args.chars < 2:
            raise UsageError(f"--chars must be at least 2, got {args.chars}")
        text = run_text(task, args, args.model)
        if args.input is None:  # the run's own text: start in its held-out tail
            start = text.find("\n", int(0.9 * len(text))) + 1
            text = text[start:] if len(text) - start >= args.chars else text
        text = text[: args.chars]
        ids = Vocabulary(task["tokens"]).encode(list(text))
        source = str(args.input) if args.input else task.get("source")
        return ids[None], list(text), text, source
    if command == "forecast":
        window, source = forecast_window(task, args)
        return window, None, None, source
    if command == "classify":
        x, lengths, _, source = run_examples(task, args, args.model)
        if not 0 <= args.index < len(x):
            raise UsageError(f"--index must lie in 0..{len(x) - 1} ({source} has {len(x)} "
                             "examples)")
        k = args.index
        return x[k : k + 1, : lengths[k]], None, None, f"example {k} of {source}"
    raise UsageError(f"{args.model}/task.json names {command!r}: inspect reads classify, "
                     "forecast and textgen runs")


def panels_of(u, k: int) -> dict:
    """name -> (T, H) for layer/direction k of the first sequence: h, tanh(c), the gates."""
    from rnnkit.nn.unroll import GATE_NAMES

    out = {"h": u.states["h"][k, 0]}
    if "tanh_c" in u.acts:
        out["tanh(c)"] = u.acts["tanh_c"][k, 0]
    for name in GATE_NAMES[u.kind]:
        out[name] = u.acts[name][k, 0]
    return out


def text_outputs(text, shown: np.ndarray, what: str, args, out, title: str) -> dict:
    """The coloured text (HTML, PNG) and the correlations; shown (N, H) is what colours it."""
    from rnnkit.cli.inspect_pictures import plot_text, text_page, write_page
    from rnnkit.data.text_features import char_features, most_correlated

    best = most_correlated(shown, char_features(text))
    pick = best.get("inside_quotes") or best.get("position_in_line") or [(0, 0.0)]
    unit = args.unit if args.unit is not None else pick[0][0]
    menu = [unit] + [u for pairs in best.values() for u, _ in pairs]
    units = list(dict.fromkeys(menu))[:MENU_UNITS]
    note = (f"{title}. Each character is coloured by {what} of the chosen unit after reading "
            "it (Karpathy, Johnson & Fei-Fei 2015).")
    page = text_page(text, {u: shown[:, u] for u in units}, unit,
                     f"rnnkit inspect states: unit {unit}", note, best)
    write_page(out / "text.html", page)
    plot_text(text, shown[:, unit], f"{what} of unit {unit}", out / "text.png")
    return {"unit": unit, "coloured_by": what, "correlations": best,
            "html": str(out / "text.html"), "text_png": str(out / "text.png"), "text": text}


SHORT = {"position_in_line": "column", "inside_quotes": "quotes",
         "inside_parentheses": "parens"}


def unit_labels(chosen: int, best: dict) -> dict:
    """unit -> label for the heat maps: the chosen unit (marked *, it colours the text), then
    each feature's best units with their r."""
    labels = {chosen: f"{chosen} *"}
    for name, pairs in best.items():
        for unit, r in pairs:
            text = f"{unit} {SHORT.get(name, name)} {r:+.2f}"
            labels[unit] = text + " *" if unit == chosen else labels.get(unit, text)
    return labels


def inspect_states(args) -> int:
    from rnnkit.cli.inspect_pictures import plot_states
    from rnnkit.nn.unroll import recurrent_input, unroll

    model, task = load_run(args.model)
    model, note = recurrent_model(model, args.model)
    x, xlabels, text, source = one_input(model, task, args)
    layer = model.rnn
    if args.unit is not None and not 0 <= args.unit < layer.hidden_size:
        raise UsageError(f"--unit must lie in 0..{layer.hidden_size - 1}, got {args.unit}")
    u = unroll(layer, recurrent_input(model, x))
    k = (layer.num_layers - 1) * layer.num_directions  # the top layer, forward direction
    panels = panels_of(u, k)
    out = out_dir(args, "inspect-states")
    title = (f"{task.get('command')} run {args.model.name}: {layer.kind.upper()} layer "
             f"{layer.num_layers - 1}, {source}")
    result = {"model": str(args.model), "command": task.get("command"), "cell": layer.kind,
              "input": source, "steps": int(u.y.shape[1]), "note": note,
              "panels": list(panels), "figure": str(out / "states.png")}
    units, labels, max_units = None, {}, 64
    if text is not None:
        what = "tanh(c)" if "tanh(c)" in panels else "h"
        result.update(text_outputs(text, panels[what], what, args, out, title))
        labels = unit_labels(result["unit"], result["correlations"])
        units = [*labels, *(j for j in range(layer.hidden_size) if j not in labels)]
        max_units = max(24, len(labels))  # rows tall enough to read the labels
    plot_states(panels, title, out / "states.png", xlabels, units, labels,
                max_units=max_units)
    atomic_write_text(out / "states.json", json.dumps(to_jsonable(result), indent=1))
    lines = [f"{title}: {result['steps']} steps" + (f" ({note})" if note else ""),
             f"heat maps of {', '.join(panels)}: {result['figure']}"]
    if text is not None:
        lines.append(f"text coloured by {result['coloured_by']} of unit {result['unit']}: "
                     f"{result['html']} and {result['text_png']}")
        for name, pairs in result["correlations"].items():
            lines.append(f"  {name:20s} " + ", ".join(f"unit {u} (r {r:+.2f})"
                                                      for u, r in pairs))
    emit(result, args.json, "\n".join(lines))
    return 0
