"""The pictures of ``rnnkit inspect``: gradient norms through time on a log scale, heat maps of
states and gates, and a text coloured by one unit's activation (a PNG and a self-contained
HTML page, after Karpathy, Johnson & Fei-Fei 2015)."""
from __future__ import annotations

import html
import json

import numpy as np

from rnnkit.cli.common import save_figure
from rnnkit.io.files import atomic_write_text

COLOURS = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curve(ax, norms, label, **style):
    norms = np.asarray(norms, np.float64)
    t = np.arange(1, len(norms) + 1)
    ax.plot(t, np.where(norms > 0, norms, np.nan), label=label, **style)


def plot_gradient_flow(result: dict, path) -> None:
    """Three panels: ||dL/dh_t|| of each fresh cell (and the LSTM's dL/dc_t); the vanilla RNN
    at several spectral radii of W_hh; each step's share of dL/dW_hh before and after
    clipping (RNN)."""
    plt = _pyplot()
    panels = 3 if result.get("rnn_spectral_radius") else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 3.9), squeeze=False)
    ax = axes[0, 0]
    decay = result["decay_per_step"]
    for name, norms in result["gradient_norms"].items():
        kind = name.split("_")[0]
        style = {"color": COLOURS.get(kind), "ls": "--" if name.endswith("_c") else "-"}
        what = "dL/dc_t" if name.endswith("_c") else "dL/dh_t"
        _curve(ax, norms, f"{kind.upper()} {what}: x{decay[name]:.2f}/step", **style)
    for bias, entry in result.get("lstm_forget_bias", {}).items():
        _curve(ax, entry["gradient_norms"], f"LSTM b_f={bias} dL/dc_t: "
               f"x{entry['decay_per_step']:.2f}/step", color="tab:purple", ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("step t (the loss reads step T)")
    ax.set_ylabel("||dL/dh_t||")
    ax.set_title(f"fresh networks, H={result['hidden']}: gradient through time", fontsize=10)
    ax.legend(fontsize=7)
    if panels == 3:
        radii = result["rnn_spectral_radius"]
        bx, cx = axes[0, 1], axes[0, 2]
        colours = plt.cm.viridis(np.linspace(0, 0.9, len(radii["curves"])))
        for colour, (radius, entry) in zip(colours, radii["curves"].items()):
            _curve(bx, entry["gradient_norms"],
                   f"rho={radius}: x{entry['decay_per_step']:.2f}/step", color=colour)
        bx.set_yscale("log")
        bx.set_xlabel("step t")
        bx.set_title(f"vanilla RNN, W_hh scaled to spectral radius rho "
                     f"(default {radii['default']:.2f})", fontsize=10)
        bx.legend(fontsize=7)
        clip = result["clipping"]
        for colour, (radius, entry) in zip(colours, clip["by_radius"].items()):
            _curve(cx, entry["step_share_norms"], f"rho={radius}: |g|={entry['grad_norm']:.3g}",
                   color=colour)
            _curve(cx, entry["clipped_step_share_norms"], None, color=colour, ls=":")
        cx.set_yscale("log")
        cx.set_xlabel("step t")
        cx.set_ylabel("||share of step t in dL/dW_hh||")
        cx.set_title(f"clipping at norm {clip['max_norm']:g} (dotted) scales every step alike",
                     fontsize=10)
        cx.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_model_flow(result: dict, path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, norms in result["gradient_norms"].items():
        what = "dL/dc_t" if name.endswith("_c") else "dL/dh_t"
        _curve(ax, norms, f"{what}: x{result['decay_per_step'][name]:.2f}/step",
               ls="--" if name.endswith("_c") else "-")
    ax.set_yscale("log")
    ax.set_xlabel("step t (the loss reads the last step)")
    ax.set_ylabel("gradient norm")
    ax.set_title(f"{result['model']}: {result['loss']}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_states(panels: dict, title: str, path, xlabels=None, units=None, labels=None,
                max_steps: int = 160, max_units: int = 64) -> None:
    """One heat map per entry of ``panels`` (name -> (T, H) values), units down, time across:
    the first ``max_steps`` steps (labelled by ``xlabels``, e.g. the characters, if given) and
    the first ``max_units`` of ``units`` (an order of the unit indices, default 0..H-1), with
    ``labels`` (unit -> text) written beside the units that have one."""
    plt = _pyplot()
    n = len(panels)
    T, H = next(iter(panels.values())).shape
    units = list(range(H) if units is None else units)[:max_units]
    labels = labels or {}
    shown = min(T, max_steps)
    if shown < T:
        title += f"; first {shown} of {T} steps"
    if len(units) < H:
        title += f"; {len(units)} of {H} units" + (", labelled ones first" if labels else "")
    panels = {name: values[:, units] for name, values in panels.items()}  # (T, len(units))
    H = len(units)
    width = min(16.0, 3.0 + 0.09 * shown)
    fig, axes = plt.subplots(n, 1, figsize=(width, 0.8 + n * min(2.6, 0.6 + 0.09 * H)),
                             squeeze=False, sharex=True)
    for ax, (name, values) in zip(axes[:, 0], panels.items()):
        gate = name in ("i", "f", "o", "r", "z")
        im = ax.imshow(values[:shown].T, aspect="auto", interpolation="nearest",
                       cmap="viridis" if gate else "RdBu_r", vmin=0 if gate else -1, vmax=1)
        ax.set_ylabel(f"{name}\nunit", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
        named = [k for k, u in enumerate(units) if u in labels]
        if named:
            ax.set_yticks(named, [labels[units[k]] for k in named], fontsize=6)
    ax = axes[-1, 0]
    if xlabels is not None:
        ax.set_xticks(range(shown), [repr(c)[1:-1] for c in xlabels[:shown]], fontsize=5,
                      family="monospace")
    else:
        ax.set_xlabel("step t", fontsize=8)
    axes[0, 0].set_title(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def colour(v: float) -> tuple:
    """Activation in [-1, 1] -> (r, g, b) in 0..255: blue for -1, white for 0, red for +1,
    never so dark that black text on it is hard to read."""
    v = float(np.clip(v, -1, 1))
    fade = round(255 * (1 - DEPTH * abs(v)))
    return (255, fade, fade) if v >= 0 else (fade, fade, 255)


def plot_text(text: str, values: np.ndarray, label: str, path, max_columns: int = 100) -> None:
    """The text on a character grid, each cell coloured by values (N,) in [-1, 1]; lines
    longer than ``max_columns`` wrap."""
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    columns = min(max_columns, max(len(line) for line in text.split("\n")) + 1)
    cells, row, col = [], 0, 0
    for ch, v in zip(text, values):
        cells.append((row, col, ch, v))
        col += 1
        if ch == "\n" or col >= columns:
            row, col = row + 1, 0
    rows = row + 1
    fig, ax = plt.subplots(figsize=(columns * 0.11 + 0.4, rows * 0.2 + 0.7))
    for r, c, ch, v in cells:
        ax.add_patch(Rectangle((c, -r - 1), 1, 1, color=np.array(colour(v)) / 255, lw=0))
        if ch not in "\n ":
            ax.text(c + 0.5, -r - 0.5, ch, ha="center", va="center", fontsize=7,
                    family="monospace")
    ax.set_xlim(0, columns)
    ax.set_ylim(-rows, 0)
    ax.axis("off")
    ax.set_title(label, fontsize=9)
    save_figure(fig, path)
    plt.close(fig)


DEPTH = 0.7  # how far the strongest colour goes from white

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; max-width: 70em; }}
pre {{ font-family: monospace; font-size: 14px; line-height: 1.35; white-space: pre-wrap; }}
.note {{ color: #444; font-size: 0.9em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; }}
</style></head><body>
<h1>{title}</h1>
<p class="note">{note}</p>
<p><label for="unit">unit </label><select id="unit">{options}</select>
<span class="note"> blue = -1, white = 0, red = +1; hover a character for its value</span></p>
<pre id="text">{spans}</pre>
<h2>Units that follow simple features</h2>
<table><tr><th>feature</th><th>unit (Pearson r)</th></tr>{rows}</table>
<script>
"use strict";
const ACTS = {acts};
function paint(unit) {{
  const values = ACTS[unit];
  const spans = document.querySelectorAll("#text span");
  spans.forEach(function (span, k) {{
    const v = Math.max(-1, Math.min(1, values[k]));
    const fade = Math.round(255 * (1 - {depth} * Math.abs(v)));
    span.style.background = v >= 0 ? `rgb(255,${{fade}},${{fade}})` : `rgb(${{fade}},${{fade}},255)`;
    span.title = `unit ${{unit}}: ${{values[k].toFixed(3)}}`;
  }});
}}
const menu = document.getElementById("unit");
menu.addEventListener("change", function () {{ paint(menu.value); }});
paint(menu.value);
</script>
</body></html>
"""


def text_page(text: str, acts: dict, chosen: int, title: str, note: str, best: dict) -> str:
    """A self-contained HTML page: ``text`` coloured by unit ``chosen`` (already painted, so
    the page reads without scripts), a menu of the units in ``acts`` (unit -> (N,) values)
    that repaints it, and the table ``best`` (feature -> [(unit, r)])."""
    values = acts[chosen]
    spans = []
    for ch, v in zip(text, values):
        r, g, b = colour(v)
        spans.append(f'<span style="background:rgb({r},{g},{b})" '
                     f'title="unit {chosen}: {v:.3f}">{html.escape(ch)}</span>')
    options = "".join(f'<option value="{u}"{" selected" if u == chosen else ""}>{u}</option>'
                      for u in acts)
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>"
                   + ", ".join(f"{u} ({r:+.2f})" for u, r in pairs) + "</td></tr>"
                   for name, pairs in best.items())
    data = json.dumps({str(u): [round(float(v), 4) for v in a] for u, a in acts.items()})
    return PAGE.format(title=html.escape(title), note=html.escape(note), options=options,
                       spans="".join(spans), rows=rows, acts=data.replace("</", "<\\/"),
                       depth=DEPTH)


def write_page(path, page: str) -> None:
    atomic_write_text(path, page)
