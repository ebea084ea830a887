"""Development-suite benchmark for `rnnkit classify` (issue 9).

For each UCR/UEA set of the development suite, on its official TRAIN/TEST split, this script

* runs rnnkit's command-line defaults the way a new user would::

      rnnkit classify --train <set>_TRAIN.ts --test <set>_TEST.ts --seed S --json --out <tmp>

  in a subprocess (under coreutils ``timeout``), reads the JSON object on the last line of
  stdout and the run folder's metrics.json, and then scores the saved model on the training
  file (``rnnkit predict --model <tmp> --input <set>_TRAIN.ts``) so that training accuracy
  can be read beside test accuracy;
* runs two peers on the same split, in this process, with one thread each:
  aeon's ``MiniRocketClassifier(random_state=S)`` for every seed, and 1-NN DTW
  (``KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw")``, full window,
  deterministic, one run). Their results are cached in ``peers.json``;
* writes ``results.json`` (every rnnkit run, raw) and ``RESULTS.md`` (the tables and the
  issue's targets).

The data are the ``.ts`` files that ship inside the installed aeon wheel
(``aeon/datasets/data/<set>/<set>_TRAIN.ts``); nothing is downloaded.

Unequal-length sets (PickupGestureWiimoteZ, JapaneseVowels) are read from their original,
unequal-length files. rnnkit and 1-NN DTW take them as they are. aeon's MiniRocket does not
accept unequal lengths, so for it both splits are zero-padded at the end to the longest
series in train and test with aeon's ``Padder(padded_length=L, fill_value=0)`` (aeon's
default padding; the test set can hold longer series than the training set).

rnnkit is measured at a git commit (``--code``, default HEAD): the install in .venv-bench is
editable and src/ may be mid-edit, so ``git archive <commit> src`` is unpacked into the temp
folder and put first on PYTHONPATH for the ``rnnkit`` subprocesses; ``--code installed``
measures whatever the installed package imports.

Run from the repository root, inside the benchmark environment (see README.md)::

    nice -n 19 .venv-bench/bin/python benchmarks/classify/run.py
    nice -n 19 .venv-bench/bin/python benchmarks/classify/run.py --seeds 0-2
    nice -n 19 .venv-bench/bin/python benchmarks/classify/run.py --no-peers --sets GunPoint

Results of earlier invocations are kept and merged by (set, seed): a later run with
``--seeds 3-4`` adds to a run with ``--seeds 0-2``; ``--fresh`` starts from nothing.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import importlib.metadata as _md
import importlib.util
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The environment as the user gave it: rnnkit runs with it, unchanged.
USER_ENV = dict(os.environ)
# The peers run in this process with one thread each (aeon's MiniRocket and DTW use numba,
# whose thread pool is sized when numba is first imported, so set this before any import).
for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

SUITE = [
    "ArrowHead",
    "GunPoint",
    "ItalyPowerDemand",
    "OSULeaf",
    "ACSF1",
    "PickupGestureWiimoteZ",
    "BasicMotions",
    "JapaneseVowels",
]

# The targets.
TARGET_GAP_MINIROCKET = 0.03  # mean accuracy within this of MiniRocket's mean
TARGET_SPREAD = 0.08  # min over seeds within this of the mean
TARGET_SECONDS = 180.0  # one default run, wall time


# --------------------------------------------------------------------------- helpers


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '0,2,5-6' -> [0, 2, 5, 6]."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            seeds.extend(range(int(lo), int(hi) + 1))
        else:
            seeds.append(int(part))
    return sorted(set(seeds))


def parse_sets(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in SUITE]
    if unknown:
        raise argparse.ArgumentTypeError(f"not in the suite: {', '.join(unknown)} (suite: {', '.join(SUITE)})")
    return names


def aeon_data_dir() -> Path:
    """The data folder inside the installed aeon wheel, found without importing aeon."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("aeon is not installed here: use the benchmark environment (.venv-bench, see README.md)")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def split_files(data_dir: Path, name: str) -> tuple[Path, Path] | None:
    train, test = data_dir / name / f"{name}_TRAIN.ts", data_dir / name / f"{name}_TEST.ts"
    return (train, test) if train.is_file() and test.is_file() else None


def version(dist: str) -> str:
    try:
        return _md.version(dist)
    except _md.PackageNotFoundError:
        return "not installed"


def rnnkit_source_digest(root: Path) -> str:
    """A short digest of the rnnkit package's Python sources under root: shows whether the
    code measured changed between runs."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def git_head() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return out + (" (src/ modified)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def rnnkit_code(code: str, exe: str) -> tuple[dict, Path, str]:
    """The environment in which rnnkit runs, the rnnkit package folder it imports, and a label.

    The install in .venv-bench is editable (it imports /work/main/src), and src/ may be in the
    middle of an edit while the benchmark runs. So by default rnnkit is measured at a commit:
    `git archive <commit> src` is unpacked once into the temp folder and put first on
    PYTHONPATH for the rnnkit subprocesses (the same `rnnkit` command then imports it).
    code="installed" runs whatever the installed rnnkit imports, as it is.
    """
    env = dict(USER_ENV)
    if code != "installed":
        sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", code + "^{commit}"],
                             capture_output=True, text=True, check=True).stdout.strip()
        root = Path(tempfile.gettempdir()) / "rnnkit-bench-src" / sha
        if not (root / "src" / "rnnkit" / "__init__.py").is_file():
            (root / "partial").mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(["git", "-C", str(REPO), "archive", sha, "src"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(root / "partial")], input=archive, check=True)
            (root / "partial" / "src").rename(root / "src")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root / "src"), USER_ENV.get("PYTHONPATH")) if p)
        label = f"commit {sha[:7]} (git archive, on PYTHONPATH)"
    else:
        label = "installed package as it is"
    python = Path(exe).parent / "python"
    where = subprocess.run([str(python), "-c", "import rnnkit, os; print(os.path.dirname(rnnkit.__file__))"],
                           capture_output=True, text=True, check=True, env=env).stdout.strip()
    if code != "installed" and not where.startswith(str(root)):
        sys.exit(f"rnnkit imports from {where}, not from the snapshot {root}")
    return env, Path(where), label


def warm_up(exe: str, env: dict) -> None:
    """One untimed 1-epoch run on the bundled default set, so that numba's compiled kernels are
    in the on-disk cache before the timed runs (a user pays this once, on the first run)."""
    out = Path(tempfile.mkdtemp(prefix="rnnkit-classify-warmup-"))
    try:
        subprocess.run([exe, "classify", "--epochs", "1", "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=600)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "niceness": os.nice(0),
    }


def versions() -> dict:
    return {d: version(d) for d in ("rnnkit", "numpy", "numba", "aeon", "scikit-learn")}


def load_json(path: Path, default):
    return json.loads(path.read_text()) if path.is_file() else default


def write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)


def last_json_line(text: str):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON object on stdout")


def describe(train: Path, test: Path) -> dict:
    """Shape of a set (sizes, channels, lengths, classes), read with aeon's local file reader."""
    from aeon.datasets import load_from_ts_file

    info = {}
    for split, path in (("train", train), ("test", test)):
        X, y = load_from_ts_file(str(path))
        lengths = [x.shape[-1] for x in X]
        info[f"n_{split}"] = len(y)
        info[f"length_{split}"] = [int(min(lengths)), int(max(lengths))]
        info["channels"] = int(X[0].shape[0])
        if split == "train":
            _, counts = np.unique(y, return_counts=True)
            info["classes"] = int(len(counts))
            info["min_per_class_train"] = int(counts.min())
    return info


# --------------------------------------------------------------------------- rnnkit


def run_rnnkit(exe: str, env: dict, pkg: Path, train: Path, test: Path, seed: int,
               timeout: float) -> dict:
    """One default `rnnkit classify` run as a new user types it; returns a flat record."""
    record: dict = {"seed": seed, "started": _dt.datetime.now().isoformat(timespec="seconds"),
                    "loadavg_before": [round(v, 2) for v in os.getloadavg()],
                    "rnnkit_src": rnnkit_source_digest(pkg)}
    out = Path(tempfile.mkdtemp(prefix="rnnkit-classify-bench-"))
    try:
        cmd = [exe, "classify", "--train", str(train), "--test", str(test),
               "--seed", str(seed), "--json", "--out", str(out)]
        record["command"] = " ".join(shlex.quote(c) for c in cmd)
        t0 = time.perf_counter()
        proc = subprocess.run(["timeout", "-k", "10", str(int(timeout)), *cmd],
                              capture_output=True, text=True, env=env)
        record["wall_seconds"] = round(time.perf_counter() - t0, 2)
        record["exit_status"] = proc.returncode
        record["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
        if proc.returncode in (124, 137):
            record["status"] = "timeout"
            record["stderr_tail"] = proc.stderr[-800:]
            return record
        if proc.returncode != 0:
            record["status"] = "error"
            record["stderr_tail"] = proc.stderr[-3000:]
            record["stdout_tail"] = proc.stdout[-1500:]
            return record
        try:
            metrics = last_json_line(proc.stdout)
        except ValueError as exc:
            record.update(status="error", stderr_tail=f"{exc}; stdout tail: {proc.stdout[-500:]}")
            return record
        record["status"] = "ok"
        record["metrics"] = metrics  # everything rnnkit reports, as it reports it
        # Human-readable lines rnnkit prints (e.g. why training stopped, warnings).
        record["stdout_lines"] = [l for l in proc.stdout.strip().splitlines()[:-1] if l.strip()][-6:]
        saved = out / "metrics.json"
        if saved.is_file():
            extra = {k: v for k, v in json.loads(saved.read_text()).items() if k not in metrics}
            if extra:
                record["metrics_json_extra"] = extra
        record["run_folder_files"] = sorted(p.name for p in out.iterdir())
        # Training accuracy of the kept model, over the whole training file (the part used
        # for fitting and the part held out for early stopping together).
        pred = subprocess.run(["timeout", "-k", "10", str(int(timeout)), exe, "predict", "--model",
                               str(out), "--input", str(train), "--json"],
                              capture_output=True, text=True, env=env)
        if pred.returncode == 0:
            try:
                p = last_json_line(pred.stdout)
                record["train_file_accuracy"] = p.get("accuracy")
                if "predictions" in p:
                    record["train_predicted_classes"] = len(set(p["predictions"]))
            except ValueError:
                pass
        return record
    finally:
        shutil.rmtree(out, ignore_errors=True)


# --------------------------------------------------------------------------- peers


def run_peers(train: Path, test: Path, seeds: list[int]) -> dict:
    """MiniRocket (one run per seed) and 1-NN DTW (one run) on the official split."""
    from aeon.classification.convolution_based import MiniRocketClassifier
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier
    from aeon.datasets import load_from_ts_file
    from aeon.transformations.collection.unequal_length import Padder

    X_tr, y_tr = load_from_ts_file(str(train))
    X_te, y_te = load_from_ts_file(str(test))
    unequal = isinstance(X_tr, list) or isinstance(X_te, list)
    result: dict = {"unequal_length": unequal}

    def fit_predict(make, Xa, Xb, ya=y_tr, yb=y_te):
        clf = make()
        t0 = time.perf_counter()
        clf.fit(Xa, ya)
        pred = clf.predict(Xb)
        return float(np.mean(pred == yb)), round(time.perf_counter() - t0, 3)

    # Untimed warm-ups (numba compilation) use one training series of each class.
    first = sorted(np.unique(y_tr, return_index=True)[1])

    def subset(X):
        return [X[i] for i in first] if isinstance(X, list) else X[first]

    # 1-NN DTW: full window, takes unequal lengths as they are.
    knn = lambda: KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw")  # noqa: E731
    fit_predict(knn, subset(X_tr), subset(X_tr), y_tr[first], y_tr[first])
    acc, sec = fit_predict(knn, X_tr, X_te)
    result["dtw_1nn"] = {"accuracy": acc, "seconds": sec}

    # MiniRocket: equal length only, so pad unequal sets with zeros to the longest series.
    Xm_tr, Xm_te = X_tr, X_te
    if unequal:
        longest = max(x.shape[-1] for x in list(X_tr) + list(X_te))
        padder = Padder(padded_length=longest, fill_value=0)
        Xm_tr, Xm_te = padder.fit_transform(X_tr), padder.transform(X_te)
        result["minirocket_input"] = f"L = {longest}"
    result["minirocket"] = {}
    warm = True
    for seed in seeds:
        mr = lambda: MiniRocketClassifier(random_state=seed, n_jobs=1)  # noqa: E731
        if warm:  # untimed warm-up: numba compilation
            fit_predict(mr, subset(Xm_tr), subset(Xm_tr), y_tr[first], y_tr[first])
            warm = False
        acc, sec = fit_predict(mr, Xm_tr, Xm_te)
        result["minirocket"][str(seed)] = {"accuracy": acc, "seconds": sec}
    return result


# --------------------------------------------------------------------------- report


def fmt(x, nd=3):
    return "n/a" if x is None else f"{x:.{nd}f}"


def summarise(runs: list[dict]) -> dict | None:
    ok = [r for r in runs if r.get("status") == "ok"]
    if not ok:
        return None
    acc = np.array([r["metrics"]["test_accuracy"] for r in ok])
    wall = np.array([r["wall_seconds"] for r in ok])
    return {"n": len(ok), "mean": float(acc.mean()), "min": float(acc.min()), "max": float(acc.max()),
            "wall_mean": float(wall.mean()), "wall_max": float(wall.max()),
            "failed": len(runs) - len(ok)}


def render(results: dict, peers: dict, path: Path) -> None:
    meta = results["meta"]
    lines = ["# `rnnkit classify` defaults on the development suite (issue 9)", ""]
    lines += [
        "Official TRAIN/TEST split of each set, read from the `.ts` files inside the installed "
        "aeon wheel. rnnkit: `rnnkit classify --train TRAIN.ts --test TEST.ts --seed S --json` "
        "(the CLI defaults, nothing tuned), one subprocess per seed; time = wall time of that "
        "command (start-up, loading, training, test). MiniRocket: aeon `MiniRocketClassifier"
        "(random_state=S)`, one thread; 1-NN DTW: aeon `KNeighborsTimeSeriesClassifier"
        "(n_neighbors=1, distance=\"dtw\")`, full window, one thread, deterministic; peer "
        "times are fit + predict after an untimed warm-up (numba compilation).",
        "",
        "Accuracy on the test split: mean (min-max over seeds).",
        "",
        "| set | shape (train/test, channels, length, classes) | seeds | rnnkit | 1-NN DTW | MiniRocket "
        "| time/run rnnkit (mean, max) | 1-NN DTW | MiniRocket |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    target_rows = []
    by_set: dict[str, list[dict]] = {}
    for r in results["runs"]:
        by_set.setdefault(r["set"], []).append(r)
    for name in SUITE:
        info = results.get("sets", {}).get(name)
        if info is None:
            continue
        if info.get("missing"):
            lines.append(f"| {name} | not in the aeon wheel: left out | | | | | | | |")
            continue
        runs = sorted(by_set.get(name, []), key=lambda r: r["seed"])
        s = summarise(runs)
        p = peers.get(name, {})
        dtw = p.get("dtw_1nn")
        mr_runs = [v for k, v in sorted(p.get("minirocket", {}).items(), key=lambda kv: int(kv[0]))]
        mr_acc = np.array([v["accuracy"] for v in mr_runs]) if mr_runs else None
        lo, hi = info["length_train"][0], max(info["length_train"][1], info["length_test"][1])
        length = f"{lo}" if lo == hi else f"{min(lo, info['length_test'][0])}-{hi}"
        shape = (f"{info['n_train']}/{info['n_test']}, {info['channels']} ch, {length}, "
                 f"{info['classes']} cl")
        seeds = ",".join(str(r["seed"]) for r in runs)
        fails = [f"seed {r['seed']} {r['status']}" for r in runs if r.get("status") != "ok"]
        rk = (f"{fmt(s['mean'])} ({fmt(s['min'])}-{fmt(s['max'])})" if s else "no successful run")
        if fails:
            rk += " [" + "; ".join(fails) + "]"
        mr = (f"{fmt(mr_acc.mean())} ({fmt(mr_acc.min())}-{fmt(mr_acc.max())})"
              if mr_runs else "not run")
        rk_t = f"{s['wall_mean']:.1f} s, {s['wall_max']:.1f} s" if s else "n/a"
        dtw_t = f"{dtw['seconds']:.1f} s" if dtw else "n/a"
        mr_t = f"{np.mean([v['seconds'] for v in mr_runs]):.1f} s" if mr_runs else "n/a"
        lines.append(f"| {name} | {shape} | {seeds} | {rk} | {fmt(dtw['accuracy']) if dtw else 'not run'} "
                     f"| {mr} | {rk_t} | {dtw_t} | {mr_t} |")
        if s:
            all_wall = [r["wall_seconds"] for r in runs if "wall_seconds" in r]
            # A run that crashed or timed out gave no model: the accuracy targets are not met
            # for the set (the mean and min are over the runs that finished, shown beside it).
            ok_all = not fails
            timeouts = any(r.get("status") == "timeout" for r in runs)
            note = f"; {', '.join(fails)}" if fails else ""
            checks = [
                ("mean >= 1-NN DTW", ok_all and dtw is not None and s["mean"] >= dtw["accuracy"],
                 (f"{s['mean'] - dtw['accuracy']:+.3f}" if dtw else "n/a") + note),
                (f"within {TARGET_GAP_MINIROCKET} of MiniRocket",
                 ok_all and bool(mr_runs) and s["mean"] >= mr_acc.mean() - TARGET_GAP_MINIROCKET,
                 (f"{s['mean'] - mr_acc.mean():+.3f}" if mr_runs else "n/a") + note),
                (f"min within {TARGET_SPREAD} of mean", ok_all and s["mean"] - s["min"] <= TARGET_SPREAD,
                 f"{s['mean'] - s['min']:.3f}" + note),
                ("< 3 min per run", max(all_wall) < TARGET_SECONDS and not timeouts,
                 f"max {max(all_wall):.0f} s" + ("; timeout" if timeouts else "")),
            ]
            marks = [f"{'yes' if ok else '**no**'} ({val})" for _, ok, val in checks]
            target_rows.append(f"| {name} | " + " | ".join(marks)
                               + f" | {'yes' if all(c[1] for c in checks) else '**no**'} |")

    lines += ["", "## Against the issue's targets", "",
              "Differences in brackets: rnnkit mean - 1-NN DTW; rnnkit mean - MiniRocket mean; "
              "rnnkit mean - min (over the runs that finished); the slowest rnnkit run, in wall time. "
              "A run that crashed or timed out counts as a miss on the three accuracy targets.", "",
              "| set | mean >= 1-NN DTW | mean within 0.03 of MiniRocket | min within 0.08 of mean "
              "| < 3 min per run | all four |", "|---|---|---|---|---|---|"]
    lines += target_rows
    met = sum(r.endswith("| yes |") for r in target_rows)
    lines += ["", f"Sets meeting all four targets: {met} of {len(target_rows)}."]

    # Per-run detail.
    lines += ["", "## Every rnnkit run", "",
              "train acc = the kept model scored on the whole training file (`rnnkit predict`), "
              "including the part held out for early stopping; pred. classes = classes the model "
              "predicts on the test split (from the confusion matrix); majority = majority-class "
              "accuracy on the test split.", "",
              "| set | seed | status | test acc | train acc | val acc | n_train/n_val | epochs run "
              "| best epoch | pred. classes | majority | train s | wall s | load avg before |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in SUITE:
        for r in sorted(by_set.get(name, []), key=lambda r: r["seed"]):
            m = r.get("metrics", {})
            cm = m.get("confusion_matrix")
            pred_cl = (f"{int((np.array(cm).sum(axis=0) > 0).sum())}/{len(cm)}" if cm else "")
            lines.append(
                f"| {name} | {r['seed']} | {r['status']} | {fmt(m.get('test_accuracy'))} "
                f"| {fmt(r.get('train_file_accuracy'))} | {fmt(m.get('val_accuracy'))} "
                f"| {m.get('n_train', '')}/{m.get('n_val', '')} | {m.get('epochs_run', '')} "
                f"| {m.get('best_epoch', '')} | {pred_cl} | {fmt(m.get('majority_class_accuracy'))} "
                f"| {m.get('train_seconds', '')} | {r.get('wall_seconds', '')} "
                f"| {r.get('loadavg_before', [''])[0]} |")

    failed = [r for r in results["runs"] if r.get("status") != "ok"]
    if failed:
        lines += ["", "Runs that did not finish:", ""]
        for r in failed:
            tail = [l for l in r.get("stderr_tail", "").strip().splitlines() if l.strip()]
            lines.append(f"- {r['set']} seed {r['seed']}: {r['status']} (exit status {r.get('exit_status')}, "
                         f"after {r.get('wall_seconds')} s): `{tail[-1].strip() if tail else 'no message'}`")
    pad_sets = [n for n in SUITE if peers.get(n, {}).get("minirocket_input")]
    srcs = sorted({r.get("rnnkit_src") for r in results["runs"] if r.get("rnnkit_src")})
    lines += ["", "## How this was measured", ""]
    lines.append(f"- Machine: {meta['machine']['cpus']} cores ({meta['machine']['cpu']}), "
                 f"{meta['machine']['platform']}, Python {meta['machine']['python']}; "
                 f"runs between {meta['first_run']} and {meta['last_run']}.")
    lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
                 + f"; rnnkit code measured: {', '.join(sorted({r.get('rnnkit_code', '?') for r in results['runs']}))} "
                 f"(working tree at the last invocation: {meta['git']}); rnnkit source digest(s) over the runs: "
                 f"{', '.join(srcs)} (one digest = the same rnnkit code for every run).")
    lines.append("- Commands: " + "; ".join(f"`{c}`" for c in meta["invocations"]) + ".")
    if pad_sets:
        lines.append("- Unequal-length sets: rnnkit and 1-NN DTW read the original unequal-length files; "
                     "aeon's MiniRocket needs equal length, so for it train and test were zero-padded at "
                     "the end with aeon's `Padder(padded_length=L, fill_value=0)`, L = the longest series "
                     "in train and test: " + "; ".join(f"{n} {peers[n]['minirocket_input']}" for n in pad_sets) + ".")
    lines.append("- All processes ran under `nice -n 19`; the peers with OMP/NUMBA/OPENBLAS/MKL_NUM_THREADS=1, "
                 "rnnkit with the environment unchanged (OPENBLAS_CORETYPE left as set). "
                 "Timings are on a shared 2-core machine: another engineer's test suite was running "
                 "during parts of the benchmark (the 1-minute load average before each rnnkit run is in "
                 "the last column above; above ~1 means other work was competing), so times are upper "
                 "bounds of what an idle machine gives. rnnkit's numba kernels were compiled by an "
                 "untimed 1-epoch warm-up run before the timed runs.")
    lines.append("- Raw per-run records: `results.json`; peers (per set and seed): `peers.json`.")
    for note in meta.get("notes", []):
        lines.append(f"- {note}")
    if meta.get("missing_sets"):
        lines.append(f"- Not in the aeon wheel, left out (not downloaded): {', '.join(meta['missing_sets'])}.")
    lines.append("")
    path.write_text("\n".join(lines))


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", type=parse_sets, default=list(SUITE),
                    help="comma-separated set names (default: the whole suite: %(default)s)")
    ap.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-4"),
                    help="seeds for rnnkit and MiniRocket, e.g. 0-4 or 0,1,2 (default 0-4)")
    ap.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                    help="run MiniRocket and 1-NN DTW and update peers.json (default); "
                         "--no-peers reads them from peers.json")
    ap.add_argument("--out", type=Path, default=HERE,
                    help="folder for results.json, peers.json, RESULTS.md (default: this folder)")
    ap.add_argument("--rnnkit", default=str(Path(sys.executable).parent / "rnnkit"),
                    help="the rnnkit command (default: the one beside this Python)")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds before one rnnkit run is stopped and recorded as a timeout (default 600)")
    ap.add_argument("--code", default="HEAD",
                    help="measure rnnkit at this git commit (unpacked with git archive, put on "
                         "PYTHONPATH; default HEAD), or 'installed' for the installed package as it is")
    ap.add_argument("--note", action="append", default=[],
                    help="a line to add under 'How this was measured' (kept in results.json; repeatable)")
    ap.add_argument("--report-only", action="store_true",
                    help="only rewrite RESULTS.md from results.json and peers.json; run nothing")
    ap.add_argument("--fresh", action="store_true",
                    help="discard earlier rnnkit results in results.json instead of merging")
    args = ap.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    res_path, peers_path, md_path = args.out / "results.json", args.out / "peers.json", args.out / "RESULTS.md"
    data_dir = aeon_data_dir()
    invocation = "nice -n 19 " * (os.nice(0) >= 19) + " ".join(
        shlex.quote(a) for a in [os.path.relpath(sys.executable, REPO), os.path.relpath(__file__, REPO),
                                 *(sys.argv[1:] if argv is None else argv)])

    if args.report_only:
        results = load_json(res_path, None)
        if results is None:
            sys.exit(f"no {res_path} to report on")
        notes = results["meta"].setdefault("notes", [])
        notes.extend(n for n in args.note if n not in notes)
        if args.note:
            write_json(res_path, results)
        render(results, load_json(peers_path, {}), md_path)
        print(f"wrote {md_path}")
        return 0

    results = {"meta": {}, "sets": {}, "runs": []} if args.fresh else load_json(
        res_path, {"meta": {}, "sets": {}, "runs": []})
    peers = load_json(peers_path, {})
    meta = results["meta"]
    meta.update(machine=machine(), versions=versions(), git=git_head(), data_dir=str(data_dir))
    meta.setdefault("invocations", [])
    meta["invocations"].append(invocation)
    meta.setdefault("missing_sets", [])
    meta.setdefault("notes", [])
    meta["notes"].extend(n for n in args.note if n not in meta["notes"])

    env, pkg, code_label = rnnkit_code(args.code, args.rnnkit)
    meta["rnnkit_code"] = code_label
    print(f"rnnkit: {code_label}, package {pkg}", flush=True)
    warm_up(args.rnnkit, env)

    t_start = time.perf_counter()
    for name in args.sets:
        files = split_files(data_dir, name)
        if files is None:
            print(f"{name}: not in the aeon wheel ({data_dir / name}); left out", flush=True)
            results["sets"][name] = {"missing": True}
            if name not in meta["missing_sets"]:
                meta["missing_sets"].append(name)
            continue
        train, test = files
        results["sets"][name] = describe(train, test)
        print(f"== {name} {results['sets'][name]}", flush=True)

        if args.peers:
            p = run_peers(train, test, args.seeds)
            cached = peers.get(name, {})
            cached.update({k: v for k, v in p.items() if k != "minirocket"})
            cached.setdefault("minirocket", {}).update(p["minirocket"])
            cached["measured"] = _dt.datetime.now().isoformat(timespec="seconds")
            peers[name] = cached
            peers["_meta"] = {"versions": versions(), "machine": machine(),
                              "threads": "OMP/NUMBA/OPENBLAS/MKL_NUM_THREADS=1"}
            write_json(peers_path, peers)
            print(f"   1-NN DTW {p['dtw_1nn']}; MiniRocket {p['minirocket']}", flush=True)
        elif name not in peers:
            print(f"   no cached peers for {name} in {peers_path}", flush=True)

        for seed in args.seeds:
            rec = run_rnnkit(args.rnnkit, env, pkg, train, test, seed, args.timeout)
            rec["rnnkit_code"] = code_label
            rec["set"] = name
            results["runs"] = [r for r in results["runs"] if not (r["set"] == name and r["seed"] == seed)]
            results["runs"].append(rec)
            results["runs"].sort(key=lambda r: (SUITE.index(r["set"]), r["seed"]))
            starts = [r["started"] for r in results["runs"]]
            meta["first_run"], meta["last_run"] = min(starts), max(starts)
            write_json(res_path, results)
            m = rec.get("metrics", {})
            print(f"   seed {seed}: {rec['status']} test {m.get('test_accuracy')} "
                  f"train-file {rec.get('train_file_accuracy')} epochs {m.get('epochs_run')} "
                  f"best {m.get('best_epoch')} wall {rec.get('wall_seconds')} s "
                  f"(load {rec['loadavg_before'][0]})", flush=True)
            render(results, peers, md_path)

    meta["last_invocation_seconds"] = round(time.perf_counter() - t_start, 1)
    write_json(res_path, results)
    render(results, peers, md_path)
    print(f"wrote {md_path}, {res_path}" + (f", {peers_path}" if args.peers else "")
          + f" in {meta['last_invocation_seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
