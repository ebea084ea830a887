"""RESULTS.md of the forecasting benchmark, from results.json (rnnkit, the naive forecasts,
the CLI timings) and peers.json (statsforecast): MASE, ranks, geometric-mean ratios, times,
fallbacks and the issue's targets, per set and over the whole suite.

rnnkit's MASE on a series is the mean over its seeds; every figure "over the suite" weighs
each series equally (so the 181 M1 series dominate it; the per-set rows show the rest).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
from peers import PEERS
from scipy.stats import rankdata
from suite import PROTOCOL

# The targets, over the suite.
TARGET_RATIO_ETS = 0.95  # geometric-mean MASE ratio to AutoETS at most this
TARGET_RATIO_BEST = 1.05  # ... and to the per-series best statistical peer
TARGET_NAIVE_FACTOR = 2.0  # no series with a MASE above this times the naive's
TARGET_SECONDS = 30.0  # one default single-series run

RANKED = ("rnnkit", "seasonal_naive", *PEERS)  # the five methods ranked on every series
LABELS = {"rnnkit": "rnnkit", "naive": "naive", "seasonal_naive": "seasonal naive",
          "best": "best of the 3 peers", **{p: p for p in PEERS}}


# --------------------------------------------------------------------------- rows


def series_rows(results: dict, peers: dict) -> list[dict]:
    """One row per series of results.json, in suite order: its MASE per method (rnnkit per
    seed), times, fallbacks, and whether it is complete (scored by rnnkit on every seed it was
    run with and by every peer)."""
    runs: dict[str, list[dict]] = {}
    for r in results["runs"]:
        runs.setdefault(f"{r['set']}/{r['series']}", []).append(r)
    cached = peers.get("series", {})
    rows = []
    for key, info in results["series"].items():
        row = {"key": key, **info, "rnnkit_by_seed": {}, "failed": [], "seconds": {},
               "fallbacks": {}}
        if info.get("skipped"):
            rows.append({**row, "complete": False})
            continue
        row["naive"] = info["errors"]["naive"]["mase"]
        row["seasonal_naive"] = info["errors"]["seasonal_naive"]["mase"]
        for r in sorted(runs.get(key, []), key=lambda r: r["seed"]):
            if r["status"] == "ok":
                row["rnnkit_by_seed"][r["seed"]] = r["errors"]["mase"]
            else:
                row["failed"].append(r)
        ok = [r for r in runs.get(key, []) if r["status"] == "ok"]
        row["seconds"]["rnnkit"] = [r["fit_seconds"] + r["predict_seconds"] for r in ok]
        row["rnnkit"] = float(np.mean(list(row["rnnkit_by_seed"].values()))) if ok else None
        p = cached.get(info["peer_key"])
        for name in PEERS:
            row[name] = p[name]["errors"]["mase"] if p else None
            row["seconds"][name] = [p[name]["seconds"]] if p else []
            row["fallbacks"][name] = len(p[name]["fallbacks"]) if p else 0
        row["best"] = min(row[name] for name in PEERS) if p else None
        row["seasonal_naive_check"] = p["seasonal_naive_check"] if p else None
        row["complete"] = bool(ok) and not row["failed"] and p is not None
        rows.append(row)
    order = list(PROTOCOL)
    return sorted(rows, key=lambda r: order.index(r["set"]))


def gmean_ratio(num: list[float], den: list[float]) -> tuple[float | None, int]:
    """exp(mean log(num/den)) over the pairs where both are positive, and how many pairs had
    a zero (left out: a ratio with a perfect forecast on either side is 0 or infinite)."""
    pairs = [(a, b) for a, b in zip(num, den) if a > 0 and b > 0]
    if not pairs:
        return None, len(num)
    return math.exp(np.mean([math.log(a / b) for a, b in pairs])), len(num) - len(pairs)


def summarise(rows: list[dict]) -> dict | None:
    """Means, ranks, ratios, worse-than-naive runs and times over the complete rows."""
    done = [r for r in rows if r["complete"]]
    if not done:
        return None
    s: dict = {"n": len(done)}
    for m in ("rnnkit", "naive", "seasonal_naive", *PEERS):
        s[m] = float(np.mean([r[m] for r in done]))
    seeds = sorted({seed for r in done for seed in r["rnnkit_by_seed"]})
    s["seed_means"] = [float(np.mean([r["rnnkit_by_seed"][k] for r in done
                                      if k in r["rnnkit_by_seed"]])) for k in seeds]
    ranks = np.array([rankdata([r[m] for m in RANKED]) for r in done])  # (n, 5), ties averaged
    s["ranks"] = dict(zip(RANKED, ranks.mean(axis=0).tolist()))
    s["ratio"], s["ratio_by_seed"], s["zero_pairs"] = {}, {}, 0
    for peer in ("naive", "seasonal_naive", *PEERS, "best"):
        s["ratio"][peer], zeros = gmean_ratio([r["rnnkit"] for r in done], [r[peer] for r in done])
        s["zero_pairs"] = max(s["zero_pairs"], zeros)
        s["ratio_by_seed"][peer] = [gmean_ratio(
            [r["rnnkit_by_seed"][k] for r in done if k in r["rnnkit_by_seed"]],
            [r[peer] for r in done if k in r["rnnkit_by_seed"]])[0] for k in seeds]
    s["worse_than_naive"] = [
        (r["key"], seed, mase, r["naive"]) for r in done
        for seed, mase in r["rnnkit_by_seed"].items() if mase > TARGET_NAIVE_FACTOR * r["naive"]]
    s["seconds"] = {m: [t for r in done for t in r["seconds"][m]] for m in ("rnnkit", *PEERS)}
    s["fallbacks"] = {p: (sum(r["fallbacks"][p] for r in done),
                          sum(r["fallbacks"][p] > 0 for r in done)) for p in PEERS}
    return s


# --------------------------------------------------------------------------- formatting


def num(x, nd: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def spread(values: list) -> str:
    values = [v for v in values if v is not None]
    return f" ({min(values):.3f}-{max(values):.3f})" if len(values) > 1 else ""


def sec(v: float) -> str:
    return f"{v:.2g}" if v < 10 else f"{v:.0f}"


def secs(values: list[float]) -> str:
    """'median / max' of a list of seconds."""
    if not values:
        return "n/a"
    return f"{sec(float(np.median(values)))} / {sec(float(np.max(values)))} s"


def groups(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    """(label, rows) for every set present, then the whole suite."""
    sets = [name for name in PROTOCOL if any(r["set"] == name for r in rows)]
    return [(name, [r for r in rows if r["set"] == name]) for name in sets] + [("suite", rows)]


def label(name: str, rows: list[dict], s: dict | None) -> str:
    count = f"{s['n']}/{len(rows)}" if s else f"0/{len(rows)}"
    if name == "suite":
        return f"**suite** ({count} series)"
    p = PROTOCOL[name]
    return f"{name} ({count}; H={p['horizon']}, m={p['period']})"


def mase_table(rows: list[dict]) -> list[str]:
    lines = [("| set (series scored; H, m) | rnnkit | naive | seasonal naive | AutoETS "
              "| AutoARIMA | AutoTheta |"), "|---|---|---|---|---|---|---|"]
    for name, group in groups(rows):
        s = summarise(group)
        if s is None:
            lines.append(f"| {label(name, group, s)} | no complete series | | | | | |")
            continue
        lines.append(f"| {label(name, group, s)} | {num(s['rnnkit'])}{spread(s['seed_means'])} | "
                     + " | ".join(num(s[m]) for m in ("naive", "seasonal_naive", *PEERS)) + " |")
    return lines


def rank_ratio_table(rows: list[dict]) -> list[str]:
    head = " | ".join(f"rank: {LABELS[m]}" for m in RANKED)
    ratios = ("naive", "seasonal_naive", *PEERS, "best")
    lines = [f"| set | {head} | " + " | ".join(f"ratio to {LABELS[p]}" for p in ratios)
             + f" | series > {TARGET_NAIVE_FACTOR:g}x naive |", "|---" * (2 + len(RANKED)
                                                                         + len(ratios)) + "|"]
    for name, group in groups(rows):
        s = summarise(group)
        if s is None:
            continue
        worse = len({k for k, *_ in s["worse_than_naive"]})
        lines.append(f"| {label(name, group, s)} | "
                     + " | ".join(f"{s['ranks'][m]:.2f}" for m in RANKED) + " | "
                     + " | ".join(num(s["ratio"][p]) + spread(s["ratio_by_seed"][p])
                                  for p in ratios) + f" | {worse} |")
    return lines


def time_table(rows: list[dict]) -> list[str]:
    lines = [("| set | rnnkit fit + forecast | AutoETS | AutoARIMA | AutoTheta | fallbacks to "
              "naive: AutoETS | AutoARIMA | AutoTheta |"), "|---|---|---|---|---|---|---|---|"]
    for name, group in groups(rows):
        s = summarise(group)
        if s is None:
            continue
        fb = " | ".join(f"{o} origins in {k} series" if o else "0"
                        for o, k in (s["fallbacks"][p] for p in PEERS))
        lines.append(f"| {label(name, group, s)} | "
                     + " | ".join(secs(s["seconds"][m]) for m in ("rnnkit", *PEERS))
                     + f" | {fb} |")
    return lines


def cli_table(cli: dict) -> list[str]:
    lines = ["| set | series (points) | status | wall time | rnnkit MASE | naive MASE | message |",
             "|---|---|---|---|---|---|---|"]
    for c in cli.values():
        m = c.get("metrics") or {}
        lines.append(f"| {c['set']} | {c['series']} ({c['n']}) | {c['status']} "
                     f"| {c.get('wall_seconds', 'n/a')} s | {num(m.get('mase'))} "
                     f"| {num(m.get('naive_mase'))} | {c.get('message', '')} |")
    return lines


# --------------------------------------------------------------------------- targets


def targets(rows: list[dict], cli: dict) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each of the issue's targets, over the suite."""
    s = summarise(rows)
    all_done = s is not None and s["n"] == len(rows)
    cover = "" if all_done else f" (over {s['n'] if s else 0} of {len(rows)} series)"
    if s is None:
        return [("every series scored", f"0 of {len(rows)}", False)]
    ets, best = s["ratio"]["AutoETS"], s["ratio"]["best"]
    worse = sorted({k for k, *_ in s["worse_than_naive"]})
    cli_ok = [c["wall_seconds"] for c in cli.values() if c["status"] == "ok"]
    cli_other = Counter(c["status"] for c in cli.values() if c["status"] != "ok")
    lib = s["seconds"]["rnnkit"]
    return [
        (f"geometric-mean MASE ratio to AutoETS <= {TARGET_RATIO_ETS}",
         num(ets) + spread(s["ratio_by_seed"]["AutoETS"]) + cover,
         all_done and ets is not None and ets <= TARGET_RATIO_ETS),
        (f"geometric-mean MASE ratio to the per-series best peer <= {TARGET_RATIO_BEST}",
         num(best) + spread(s["ratio_by_seed"]["best"]) + cover,
         all_done and best is not None and best <= TARGET_RATIO_BEST),
        (f"no series with MASE > {TARGET_NAIVE_FACTOR:g}x the naive's (any seed)",
         f"{len(worse)} series" + (f" ({', '.join(worse)})" if worse else "") + cover,
         all_done and not worse),
        (f"a default single-series CLI run under {TARGET_SECONDS:g} s",
         (f"max {max(cli_ok):.1f} s over {len(cli_ok)} runs" if cli_ok else "no CLI run")
         + "".join(f"; {n} {status}" for status, n in cli_other.items()),
         bool(cli_ok) and max(cli_ok) < TARGET_SECONDS and "timeout" not in cli_other),
        (f"(library) fit + forecast of one series under {TARGET_SECONDS:g} s",
         f"max {max(lib):.1f} s over {len(lib)} runs" if lib else "no run",
         bool(lib) and max(lib) < TARGET_SECONDS),
    ]


# --------------------------------------------------------------------------- the file


def render(results: dict, peers: dict) -> str:
    """The whole of RESULTS.md."""
    meta, rows, cli = results["meta"], series_rows(results, peers), results.get("cli", {})
    method = meta["method"] + (f" with {meta['options']}" if meta.get("options") else "")
    lines = ["# `rnnkit` forecasting defaults on the development suite (issue 10)", "",
             f"rnnkit method: **{method}**"
             + (" (rnnkit's seasonal naive in place of the forecaster: a test of the harness, "
                "not a result of rnnkit's)" if meta["method"] == "seasonal-naive" else "")
             + f"; code: {meta['rnnkit_code']}.", "",
             ("Protocol (`benchmarks/forecast/README.md`): per series, tail = max(2H, "
              "round(0.2 n)) held out; forecasts from every origin whose H targets lie in the "
              "tail, fed the actual values up to the origin; rnnkit fitted once on the training "
              "part, the statsforecast peers refitted at every origin; MASE = MAE pooled over "
              "origins and steps / in-sample MAE of the one-step seasonal naive at period m on "
              "the training part. rnnkit: mean over seeds (in brackets: min-max of the per-seed "
              "values)."), "",
             "## Mean MASE", ""]
    lines += mase_table(rows)
    heading = f"## Mean rank among the {len(RANKED)} and geometric-mean MASE ratio rnnkit / peer"
    lines += ["", heading, "",
              ("Rank 1 = lowest MASE on a series, ties averaged. Ratio below 1: rnnkit better. "
               "\"best of the 3 peers\" takes the lowest of AutoETS, AutoARIMA and AutoTheta "
               "on each series."), ""]
    lines += rank_ratio_table(rows)
    lines += ["", "## Against the issue's targets (over the suite)", "",
              "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {v} | {'PASS' if ok else '**MISS**'} |" for t, v, ok in targets(rows, cli)]
    lines += ["", "## Time per series (median / max) and peer fallbacks", "",
              ("rnnkit: fit on the training part + forecasts from every origin, in the worker "
               "process (numba kernels compiled by an untimed first fit). Peers: the sum of their "
               "refits over every origin of the series, one thread. A fallback is an origin "
               "where the peer raised or gave a non-finite forecast and the naive forecast was "
               "scored in its place."), ""]
    lines += time_table(rows)
    lines += ["", "## One CLI run per set", "",
              ("`rnnkit forecast --csv SERIES.csv --horizon H --period m --json --out DIR` "
               "(everything else default), on the set's longest series and on its shortest when "
               "shorter; wall time of the command."), ""]
    lines += cli_table(cli) if cli else ["Not run (`--no-cli`)."]
    lines += notes(rows)
    lines += measured(results, peers)
    lines += details(rows)
    return "\n".join(lines) + "\n"


def notes(rows: list[dict]) -> list[str]:
    """Series worse than twice the naive, failures, skips, look-ahead and the seasonal-naive
    check."""
    s = summarise(rows)
    out = ["", "## Notes", ""]
    worse: dict[str, list] = {}
    for key, seed, mase, naive in s["worse_than_naive"] if s else []:
        worse.setdefault(key, []).append((seed, mase, naive))
    listed = ["{} (naive {:.2f}; {})".format(k, runs[0][2], ", ".join(
        f"seed {seed} {mase:.2f}" for seed, mase, _ in runs)) for k, runs in worse.items()]
    out.append(f"- Series with an rnnkit MASE above {TARGET_NAIVE_FACTOR:g}x the naive's: "
               + ("; ".join(listed) if listed else "none") + ".")
    if s and s["zero_pairs"]:
        out.append(f"- Left out of the geometric means: {s['zero_pairs']} series where a MASE "
                   "is 0 (a perfect forecast makes the ratio 0 or infinite).")
    skipped = [r for r in rows if r.get("skipped")]
    if skipped:
        out.append("- Skipped: " + "; ".join(f"{r['key']} ({r['skipped']})" for r in skipped) + ".")
    failed = [f for r in rows for f in r["failed"]]
    if failed:
        out.append("- rnnkit runs without a result: " + "; ".join(
            f"{f['set']}/{f['series']} seed {f['seed']}: {f['status']} ({f.get('error', '')})"
            for f in failed) + ".")
    missing = [r["key"] for r in rows if not r.get("skipped") and r.get("AutoETS") is None]
    if missing:
        out.append(f"- No cached peers for {len(missing)} series: {', '.join(missing[:20])}"
                   + (" ..." if len(missing) > 20 else "") + ".")
    checks = [r["seasonal_naive_check"] for r in rows if r.get("seasonal_naive_check")]
    if checks:
        worst = max(c["max_abs_diff"] for c in checks)
        out.append(f"- statsforecast's SeasonalNaive against rnnkit's seasonal naive at every "
                   f"origin of {len(checks)} series: largest difference {worst:.3g}"
                   + (" (the same forecasts)." if worst == 0 else "."))
    return out


def look_ahead(runs: list[dict]) -> str:
    """The look-ahead check over the runs: the largest difference, and failures of the check."""
    values = [r["look_ahead"] for r in runs if isinstance(r.get("look_ahead"), float)]
    errors = [r["look_ahead"] for r in runs if isinstance(r.get("look_ahead"), str)]
    text = (f"largest relative difference {max(values):.3g} over {len(values)} runs"
            if values else "not run")
    return text + (f"; the check failed on {len(errors)} runs ({errors[0]})" if errors else "")


def measured(results: dict, peers: dict) -> list[str]:
    meta = results["meta"]
    m, v = meta["machine"], meta["versions"]
    return ["", "## How this was measured", "",
            (f"- Machine: {m['cpus']} cores ({m['cpu']}), {m['platform']}, Python "
             f"{m['python']}; rnnkit runs between {meta.get('first_run', 'n/a')} and "
             f"{meta.get('last_run', 'n/a')}."),
            "- Versions: " + ", ".join(f"{k} {x}" for k, x in v.items())
            + f"; peers computed with statsforecast {peers.get('statsforecast', 'n/a')}; "
            f"working tree at the last invocation: {meta['git']}; rnnkit source digest(s): "
            f"{', '.join(meta.get('rnnkit_src', []))}.",
            "- Commands: " + "; ".join(f"`{c}`" for c in meta["invocations"]) + ".",
            ("- Look-ahead check (the forecast from the first origin given the whole series and "
             "given only the values up to the origin, relative to the largest forecast value; "
             "float32 networks on batches of other sizes round differently, by ~1e-7 at most, "
             f"anything larger would be look-ahead): {look_ahead(results['runs'])}."),
            ("- The harness and the peers run under `nice -n 19` with OMP/NUMBA/OPENBLAS/"
             "MKL_NUM_THREADS=1 for the peers; rnnkit (worker and CLI) with the environment "
             "as given, on a shared 2-core machine: times are upper bounds of an idle machine's."),
            ("- Raw records: `results.json` (rnnkit runs, naive errors, CLI runs); peers per "
             "series: `peers.json`."),
            *(f"- {note}" for note in meta.get("notes", []))]


def details(rows: list[dict]) -> list[str]:
    """Every series, in a collapsed section."""
    out = ["", "<details><summary>Every series</summary>", "",
           ("| series | n | tail | origins | rnnkit (seeds) | naive | seasonal naive | AutoETS "
            "| AutoARIMA | AutoTheta | rnnkit s |"), "|---" * 11 + "|"]
    for r in rows:
        if r.get("skipped"):
            out.append(f"| {r['key']} | {r['n']} | | | skipped: {r['skipped']} | | | | | | |")
            continue
        by_seed = ", ".join(f"{m:.3f}" for m in r["rnnkit_by_seed"].values())
        failed = "; ".join(f"seed {f['seed']} {f['status']}" for f in r["failed"])
        cells = " | ".join(num(r[m]) for m in ("naive", "seasonal_naive", *PEERS))
        t = r["seconds"]["rnnkit"]
        out.append(f"| {r['key']} | {r['n']} | {r['tail']} | {r['origins']} | {by_seed}"
                   f"{' [' + failed + ']' if failed else ''} | {cells} "
                   f"| {max(t):.1f} |" if t else f"| {r['key']} | {r['n']} | {r['tail']} "
                   f"| {r['origins']} | {failed or 'not run'} | {cells} | |")
    return out + ["", "</details>"]


def write(results: dict, peers: dict, path: Path) -> None:
    """Write RESULTS.md atomically (a temporary file renamed over it)."""
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(render(results, peers))
    tmp.replace(path)


def main_table(results: dict, peers: dict) -> str:
    """The mean-MASE table and the targets, for stdout."""
    rows = series_rows(results, peers)
    checks = targets(rows, results.get("cli", {}))
    lines = mase_table(rows) + [""] + [f"{'PASS' if ok else 'MISS'}  {t}: {v}"
                                       for t, v, ok in checks]
    return "\n".join(lines)
