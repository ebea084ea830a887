"""The picture of ``rnnkit forecast``: for each series (up to six), the series before and in
the held-out tail with the forecaster's and the baselines' H-step forecasts from origins H
apart, the 80% and 95% intervals of the last origin's forecast, and the error by step ahead.
Dates on the time axis when the input has them."""
from __future__ import annotations

import numpy as np

from rnnkit.cli.common import save_figure

MAX_PANELS = 6
STYLES = {"model": {"color": "tab:red", "lw": 1.8},
          "naive": {"color": "tab:blue", "ls": "--"},
          "seasonal_naive": {"color": "tab:green", "ls": ":", "lw": 1.5},
          "damped_trend": {"color": "tab:purple", "ls": "-.", "lw": 1.2}}


def _mase(e) -> str:
    return "n/a" if e["mase"] is None else f"{e['mase']:.2f}"


def plot_forecasts(results, data, setup, forecaster, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    shown = min(len(results), MAX_PANELS)
    fig, axes = plt.subplots(shown, 2, figsize=(12, 3.6 * shown), squeeze=False,
                             gridspec_kw={"width_ratios": [2, 1]})
    H = setup.horizon
    for row, (ax, bx) in enumerate(axes):
        ev, x, n_train = results[row], data.values[row], setup.n_train[row]
        t = np.arange(len(x)) if data.dates is None else data.dates[row]
        start = max(0, n_train - 3 * max(forecaster.settings.window, H))
        ax.plot(t[start:], x[start:], color="black", lw=1.2, label="actual")
        ax.axvspan(t[n_train], t[-1], color="0.92", zorder=0)
        for k, i in enumerate(range(0, len(ev["origins"]), H)):
            o = ev["origins"][i]
            steps = t[o : o + H + 1]
            for name, style in STYLES.items():
                values = np.concatenate([[x[o]], ev["forecasts"][name][i]])  # from the origin
                label = name.replace("_", " ") if k == 0 else None
                ax.plot(steps, values, label=label, **style)
        last = len(ev["origins"]) - 1
        o = ev["origins"][last]
        for level, (lo, hi) in sorted(ev["intervals"].items(), reverse=True):
            ax.fill_between(t[o + 1 : o + H + 1], lo[last], hi[last], color="tab:red",
                            alpha=0.12 if level == 95 else 0.22, lw=0,
                            label=f"{level}% interval (covers {ev['coverage'][level]:.0%} "
                                  "of the tail)")
        ax.set_title(f"{data.names[row]}: {H}-step forecasts over the held-out tail (shaded)")
        ax.legend(fontsize=7)
        steps = np.arange(1, H + 1)
        for name, style in STYLES.items():
            bx.plot(steps, ev["by_step"][name]["mae"], marker="o", ms=3,
                    label=f"{name.replace('_', ' ')} (MASE {_mase(ev['errors'][name])})",
                    **style)
        bx.xaxis.set_major_locator(MaxNLocator(integer=True))
        bx.set_xlabel("steps ahead")
        bx.set_ylabel("MAE over the tail origins")
        bx.set_title(f"error by horizon (period {setup.period})")
        bx.legend(fontsize=7)
    if data.dates is not None:
        fig.autofmt_xdate()
    save_figure(fig, path)
    plt.close(fig)
