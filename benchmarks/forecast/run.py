"""Development-suite benchmark for rnnkit's forecasting defaults (issue 10).

The suite, from the installed aeon wheel (nothing is downloaded), with its horizon H and
period m (``suite.PROTOCOL``):

    set           series                      H   m
    Airline       1 (monthly, 144 points)     12  12
    Lynx          1 (yearly, 114 points)       6   1   (calendar period; ~10-year cycle)
    ShampooSales  1 (monthly, 36 points)       6  12
    PBS           1 (monthly, 204 points)     12  12
    Uschange      5 (quarterly, 187 points)    8   4   (each column a series)
    M1yearly      181 (yearly, 15-58 points)   6   1

The protocol, the same for every method: tail = max(2H, round(0.2 n)) points held out,
n_train = n - tail; forecasts from every origin whose H targets lie in the tail
(``origins_between(n_train, n - 1, H)``), each fed the actual values up to its origin; the
score is the MASE, the MAE pooled over every origin and step divided by
``mase_scale(x[:n_train], m)`` (the in-sample MAE of the one-step seasonal naive at period m).
A series whose scale is 0 is skipped, with the reason.

For each series, this script

* runs rnnkit in one worker process (``worker.py``; numba compiles once), at the git commit
  given by ``--code`` (default HEAD; ``git archive`` into a temp folder, first on PYTHONPATH),
  for every seed (``--seeds``, default 0-2), timing fit + forecasts::

      f = fit_forecaster(x[:n_train], horizon=H, period=m, seed=S)   # --method default
      F = f.predict_origins(x, origins)                              # (n_origins, H)

  (``--method seasonal-naive`` puts rnnkit's seasonal naive in its place, to test the
  harness; ``--set-option key=value`` passes extra keyword arguments to fit_forecaster);
* runs the peers in this process with one thread (``peers.py``): statsforecast's AutoETS,
  AutoARIMA and AutoTheta with season_length=m, refitted on x[:o+1] at every origin (the
  naive forecast where one fails, counted as a fallback), cached in ``peers.json`` by set,
  series, n, H, m, tail and the statsforecast version; the naive and seasonal-naive forecasts
  come from rnnkit's own functions (statsforecast's SeasonalNaive checks the latter);
* times one real CLI run per set, on its longest and its shortest series::

      rnnkit forecast --csv SERIES.csv --horizon H --period m --json --out DIR

and writes ``results.json`` (raw, merged by (set, series, seed) with earlier invocations;
``--fresh`` starts again) and ``RESULTS.md`` (``report.py``: mean MASE, mean rank,
geometric-mean MASE ratios, times, fallbacks and the issue's targets).

Run from the repository root, in the benchmark environment (see README.md)::

    nice -n 19 .venv-bench/bin/python benchmarks/forecast/run.py
    nice -n 19 .venv-bench/bin/python benchmarks/forecast/run.py --method seasonal-naive
    nice -n 19 .venv-bench/bin/python benchmarks/forecast/run.py --sets Airline,M1yearly --limit 10
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def _classify_helpers():
    """The classify harness's helpers (seeds, versions, machine, JSON files, the rnnkit code
    at a commit), so that both benchmarks measure the same way. Loading it also records the
    user's environment (for rnnkit) and sets one thread for the peers in this process, before
    numpy or numba are imported here."""
    spec = importlib.util.spec_from_file_location("classify_run", REPO / "benchmarks" /
                                                  "classify" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


common = _classify_helpers()

import numpy as np
from worker import METHODS, WorkerClient

# --------------------------------------------------------------------------- options


def parse_option(text: str) -> tuple[str, object]:
    """'key=value' -> (key, value), the value read as JSON when it parses (numbers, true,
    null, lists) and as a string otherwise."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parse_sets(text: str) -> list[str]:
    """'Airline,M1yearly' -> the names, checked against the suite (read after the rnnkit code
    is on sys.path, since suite.py imports it)."""
    from suite import PROTOCOL

    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in PROTOCOL]
    if unknown:
        sys.exit(f"--sets: not in the suite: {', '.join(unknown)} (suite: {', '.join(PROTOCOL)})")
    return names


def arguments(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default=None,
                    help="comma-separated sets (default: the whole suite)")
    ap.add_argument("--seeds", type=common.parse_seeds, default=common.parse_seeds("0-2"),
                    help="rnnkit seeds, e.g. 0-2 or 0,3 (default 0-2)")
    ap.add_argument("--limit", type=int, default=None,
                    help="only the first N M1 yearly series (quick runs)")
    ap.add_argument("--method", choices=METHODS, default="default",
                    help="default: fit_forecaster with its defaults, one series at a time; "
                         "global: one model on all series of a set (as rnnkit forecast does "
                         "with a file of several series); seasonal-naive: rnnkit's seasonal "
                         "naive (tests the harness without training)")
    ap.add_argument("--set-option", type=parse_option, action="append", default=[],
                    metavar="KEY=VALUE", help="extra keyword argument for fit_forecaster "
                    "(repeatable; the value is read as JSON when it parses)")
    ap.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                    help="compute the peers missing from peers.json (default); --no-peers only "
                         "reads peers.json")
    ap.add_argument("--cli", action=argparse.BooleanOptionalAction, default=True,
                    help="time one `rnnkit forecast` CLI run per set (default)")
    ap.add_argument("--code", default="HEAD",
                    help="measure rnnkit at this git commit (git archive, first on PYTHONPATH; "
                         "default HEAD), or 'installed' for the installed package as it is")
    ap.add_argument("--rnnkit", default=str(Path(sys.executable).parent / "rnnkit"),
                    help="the rnnkit command (default: the one beside this Python)")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds for one rnnkit fit + forecast or CLI run (default 600)")
    ap.add_argument("--out", type=Path, default=HERE,
                    help="folder for results.json, peers.json, RESULTS.md (default: this one)")
    ap.add_argument("--fresh", action="store_true",
                    help="discard the rnnkit results in results.json instead of merging")
    ap.add_argument("--note", action="append", default=[],
                    help="a line for 'How this was measured' (kept in results.json; repeatable)")
    ap.add_argument("--report-only", action="store_true",
                    help="only rewrite RESULTS.md from results.json and peers.json (and add "
                         "--note lines)")
    return ap.parse_args(argv)


# --------------------------------------------------------------------------- runs


def run_series(client, s, method: str, options: dict, seed: int, timeout: float) -> dict:
    """One rnnkit fit + forecast of series s in the worker, scored; a flat record."""
    record = {"set": s.set, "series": s.name, "seed": seed,
              "started": _dt.datetime.now().isoformat(timespec="seconds")}
    job = {"method": method, "options": options, "seed": seed, "x": s.x.tolist(),
           "n_train": s.n_train, "horizon": s.horizon, "period": s.period,
           "origins": s.origins.tolist()}
    reply = client.ask(job, timeout)
    if not reply["ok"]:
        return {**record, "status": reply.get("status", "error"), "error": reply["error"],
                "traceback": reply.get("traceback", "")[-1500:]}
    forecasts = np.asarray(reply["forecasts"], dtype=np.float64)  # (n_origins, H)
    if not np.all(np.isfinite(forecasts)):
        return {**record, "status": "non-finite forecasts",
                "error": f"{int((~np.isfinite(forecasts)).sum())} non-finite values"}
    return {**record, "status": "ok", "errors": s.score(forecasts),
            "fit_seconds": round(reply["fit_seconds"], 4),
            "predict_seconds": round(reply["predict_seconds"], 4),
            "look_ahead": reply["look_ahead"]}


def run_global(client, series: list, options: dict, seed: int, timeout: float) -> list:
    """One global model on every series of a set (``--method global``), scored per series;
    a flat record per series, the fit time shared equally."""
    first = series[0]
    job = {"method": "global", "options": options, "seed": seed,
           "xs": [s.x.tolist() for s in series], "n_trains": [s.n_train for s in series],
           "horizon": first.horizon, "period": first.period,
           "origins_list": [s.origins.tolist() for s in series]}
    reply = client.ask(job, timeout * len(series))
    records = []
    for i, s in enumerate(series):
        record = {"set": s.set, "series": s.name, "seed": seed,
                  "started": _dt.datetime.now().isoformat(timespec="seconds")}
        if not reply["ok"]:
            records.append({**record, "status": reply.get("status", "error"),
                            "error": reply["error"]})
            continue
        forecasts = np.asarray(reply["forecasts_list"][i], dtype=np.float64)
        if not np.all(np.isfinite(forecasts)):
            records.append({**record, "status": "non-finite forecasts", "error": "non-finite"})
            continue
        records.append({**record, "status": "ok", "errors": s.score(forecasts),
                        "fit_seconds": round(reply["fit_seconds"] / len(series), 4),
                        "predict_seconds": round(reply["predict_seconds"] / len(series), 4),
                        "look_ahead": 0.0})
    return records


def run_cli(exe: str, env: dict, s, timeout: float) -> dict:
    """One `rnnkit forecast` run with its defaults on series s, timed; a flat record (the
    refusal message when the CLI refuses the series)."""
    record = {"set": s.set, "series": s.name, "n": s.n}
    tmp = Path(tempfile.mkdtemp(prefix="rnnkit-forecast-bench-"))
    try:
        csv = tmp / f"{s.name}.csv"
        csv.write_text("value\n" + "\n".join(repr(v) for v in s.x.tolist()) + "\n")
        cmd = [exe, "forecast", "--csv", str(csv), "--horizon", str(s.horizon), "--period",
               str(s.period), "--json", "--out", str(tmp / "run")]
        record["command"] = " ".join(shlex.quote(c) for c in cmd)
        start = time.perf_counter()
        proc = subprocess.run(["timeout", "-k", "10", str(int(timeout)), *cmd],
                              check=False, capture_output=True, text=True, env=env)
        record["wall_seconds"] = round(time.perf_counter() - start, 1)
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        message = lines[-1].strip() if lines else ""
        if proc.returncode in (124, 137):
            return {**record, "status": "timeout", "message": f"stopped after {timeout:.0f} s"}
        if proc.returncode == 2:
            return {**record, "status": "refused", "message": message}
        if proc.returncode != 0:
            return {**record, "status": "error", "message": message,
                    "exit_status": proc.returncode}
        m = common.last_json_line(proc.stdout)  # the CLI's metrics; read what is there
        baselines = m.get("baselines", {})
        return {**record, "status": "ok", "metrics": {
            "mase": m.get("metrics", {}).get("mase"),
            "naive_mase": baselines.get("naive", {}).get("mase"),
            "seasonal_naive_mase": baselines.get("seasonal_naive", {}).get("mase"),
            "train_seconds": m.get("training", {}).get("seconds"),
            "verdict": m.get("verdict")}}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cli_series(series: list) -> list:
    """The longest series of a set, and the shortest when it is shorter."""
    longest = max(series, key=lambda s: s.n)
    shortest = min(series, key=lambda s: s.n)
    return [longest] if shortest.n == longest.n else [longest, shortest]


# --------------------------------------------------------------------------- state


def peer_key(s) -> str:
    """The peers.json key of a series: everything its peer forecasts depend on but the
    statsforecast version, which peers.json holds once for all of them."""
    return f"{s.key}/n={s.n}/H={s.horizon}/m={s.period}/tail={s.tail}"


def start_results(path: Path, fresh: bool, method: str, options: dict) -> dict:
    """results.json to merge into, refusing to mix methods or fit_forecaster options."""
    empty = {"meta": {"method": method, "options": options}, "series": {}, "runs": [], "cli": {}}
    results = empty if fresh else common.load_json(path, empty)
    held = (results["meta"].get("method"), results["meta"].get("options", {}))
    if results["runs"] and held != (method, options):
        sys.exit(f"{path} holds runs of --method {held[0]} with options {held[1]}: give "
                 "--fresh to replace them, or --out for another folder")
    results["meta"].update(method=method, options=options)
    return results


def record_series(results: dict, s) -> None:
    """The series' protocol and its naive and seasonal-naive errors (rnnkit's functions)."""
    from rnnkit.data.timeseries import naive_forecast, seasonal_naive_forecast

    info = {**s.describe(), "peer_key": peer_key(s), "skipped": s.skip_reason()}
    if not info["skipped"]:
        info["errors"] = {
            "naive": s.score(naive_forecast(s.x, s.origins, s.horizon)),
            "seasonal_naive": s.score(seasonal_naive_forecast(s.x, s.origins, s.horizon,
                                                              s.period))}
    results["series"][s.key] = info


def add_notes(meta: dict, notes: list[str]) -> None:
    meta.setdefault("notes", []).extend(n for n in notes if n not in meta["notes"])


def add_run(results: dict, record: dict) -> None:
    """Put a run in results, replacing the one with the same (set, series, seed)."""
    key = (record["set"], record["series"], record["seed"])
    results["runs"] = [r for r in results["runs"]
                       if (r["set"], r["series"], r["seed"]) != key] + [record]
    starts = [r["started"] for r in results["runs"]]
    results["meta"]["first_run"], results["meta"]["last_run"] = min(starts), max(starts)


# --------------------------------------------------------------------------- main


@dataclass
class Session:
    """What one invocation works with: its options, the rnnkit worker and environment, and
    the records it adds to (results.json and the peer cache), saved after every set."""

    args: argparse.Namespace
    options: dict
    env: dict
    digest: str  # of the rnnkit sources measured
    client: WorkerClient
    results: dict
    cache: dict
    paths: dict  # results, peers, report

    def measure(self, s, peer_runs) -> None:
        """Peers (unless cached) and rnnkit on every seed, on series s; one line of output."""
        record_series(self.results, s)
        if s.skip_reason():
            print(f"   {s.name}: skipped ({s.skip_reason()})", flush=True)
            return
        key = peer_key(s)
        if self.args.peers and key not in self.cache["series"]:
            self.cache["series"][key] = peer_runs.run_peers(s)
            common.write_json(self.paths["peers"], self.cache)
        scores = []
        for seed in self.args.seeds:
            rec = run_series(self.client, s, self.args.method, self.options, seed,
                             self.args.timeout)
            add_run(self.results, {**rec, "rnnkit_src": self.digest})
            scores.append(f"{rec['errors']['mase']:.3f}" if rec["status"] == "ok"
                          else rec["status"])
        p = self.cache["series"].get(key)
        peers_text = (" ".join(f"{k} {p[k]['errors']['mase']:.3f}" for k in peer_runs.PEERS)
                      if p else "no peers")
        naive = self.results["series"][s.key]["errors"]["naive"]["mase"]
        print(f"   {s.name} (n={s.n}): rnnkit {' '.join(scores)}; naive {naive:.3f}; "
              f"{peers_text}", flush=True)

    def measure_global(self, series: list, peer_runs) -> None:
        """Peers (unless cached) on every series, then one global rnnkit model per seed on
        all of the set's series that are scored."""
        scored = []
        for s in series:
            record_series(self.results, s)
            if s.skip_reason():
                print(f"   {s.name}: skipped ({s.skip_reason()})", flush=True)
                continue
            key = peer_key(s)
            if self.args.peers and key not in self.cache["series"]:
                self.cache["series"][key] = peer_runs.run_peers(s)
                common.write_json(self.paths["peers"], self.cache)
            scored.append(s)
        for seed in self.args.seeds:
            records = run_global(self.client, scored, self.options, seed, self.args.timeout)
            for rec in records:
                add_run(self.results, {**rec, "rnnkit_src": self.digest})
            ok = [r["errors"]["mase"] for r in records if r["status"] == "ok"]
            print(f"   seed {seed}: one global model on {len(scored)} series, mean MASE "
                  f"{np.mean(ok) if ok else float('nan'):.3f}", flush=True)

    def time_cli(self, series: list) -> None:
        """The timed CLI runs of one set."""
        for s in cli_series(series):
            rec = run_cli(self.args.rnnkit, self.env, s, self.args.timeout)
            self.results["cli"][f"{s.set}/{s.name}"] = rec
            print(f"   CLI on {s.name} (n={s.n}): {rec['status']} "
                  f"{rec.get('wall_seconds')} s {rec.get('message', '')}", flush=True)

    def save(self, report) -> None:
        common.write_json(self.paths["results"], self.results)
        report.write(self.results, self.cache, self.paths["report"])


def main(argv=None) -> int:
    args = arguments(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    paths = {"results": args.out / "results.json", "peers": args.out / "peers.json",
             "report": args.out / "RESULTS.md"}
    invocation = "nice -n 19 " * (os.nice(0) >= 19) + " ".join(shlex.quote(a) for a in [
        os.path.relpath(sys.executable, REPO), os.path.relpath(__file__, REPO),
        *(sys.argv[1:] if argv is None else argv)])

    # The harness scores with rnnkit's metric functions from the same code as the worker.
    env, pkg, code_label = common.rnnkit_code(args.code, args.rnnkit)
    sys.path.insert(0, str(pkg.parent))
    import peers as peer_runs
    import report
    import suite

    if args.report_only:
        if not paths["results"].is_file():
            sys.exit(f"no {paths['results']} to report on")
        results = common.load_json(paths["results"], None)
        add_notes(results["meta"], args.note)
        common.write_json(paths["results"], results)
        report.write(results, common.load_json(paths["peers"], {}), paths["report"])
        print(f"wrote {paths['report']}")
        return 0

    sets = parse_sets(args.sets) if args.sets else list(suite.PROTOCOL)
    options = dict(args.set_option)
    results = start_results(paths["results"], args.fresh, args.method, options)
    meta = results["meta"]
    meta.update(machine=common.machine(), git=common.git_head(), rnnkit_code=code_label,
                versions={d: common.version(d) for d in ("rnnkit", "numpy", "numba", "aeon",
                                                         "statsforecast")})
    meta.setdefault("invocations", []).append(invocation)
    add_notes(meta, args.note)
    digest = common.rnnkit_source_digest(pkg)
    meta["rnnkit_src"] = sorted(set(meta.get("rnnkit_src", [])) | {digest})
    sf_version = common.version("statsforecast")
    cache = common.load_json(paths["peers"], {})
    if cache.get("statsforecast") != sf_version:
        cache = {"statsforecast": sf_version, "series": {}}  # other peers: start again
    print(f"rnnkit: {code_label}, package {pkg}; method {args.method} {options or ''}",
          flush=True)

    log = Path(tempfile.gettempdir()) / f"rnnkit-forecast-worker-{os.getpid()}.log"
    client = WorkerClient(str(Path(args.rnnkit).parent / "python"), env, log)
    session = Session(args, options, env, digest, client, results, cache, paths)
    start = time.perf_counter()
    try:
        # Untimed warm-ups: numba compiles (or loads its cache) for rnnkit and the peers.
        warm = run_series(client, suite.warm_up_series(),
                          "default" if args.method == "global" else args.method, options,
                          args.seeds[0], args.timeout)
        if warm.get("error", "").startswith(("ImportError", "ModuleNotFoundError")):
            sys.exit(f"rnnkit at {code_label} cannot run --method {args.method}: "
                     f"{warm['error']}")
        if args.peers:
            peer_runs.warm_up()
        for name in sets:
            series = suite.load_suite([name], args.limit)
            print(f"== {name}: {len(series)} series, H={series[0].horizon}, "
                  f"m={series[0].period}", flush=True)
            if args.method == "global":
                session.measure_global(series, peer_runs)
            else:
                for s in series:
                    session.measure(s, peer_runs)
            if args.cli:
                session.time_cli(series)
            session.save(report)
    finally:
        client.close(grace=10)
    meta["last_invocation_seconds"] = round(time.perf_counter() - start, 1)
    session.save(report)
    print(report.main_table(results, cache))
    print(f"wrote {paths['report']}, {paths['results']}" + (f", {paths['peers']}" if args.peers
                                                            else "")
          + f" in {meta['last_invocation_seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
