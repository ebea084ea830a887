"""Every bad input of issue 11 through the real command line (a subprocess each): exit 2 with
one line naming the problem, no traceback, no hang, no memory blow-up, nothing written and
nothing left behind. Cases that need an unprivileged user (unreadable files, a read-only
folder) run the command without root's power to ignore file modes."""
from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = int(os.environ.get("RNNKIT_TEST_TIMEOUT", "60"))  # seconds; a refusal takes about one
MEMORY = 6 * 2**30  # address-space limit of each command: a blow-up fails fast
PR_CAPBSET_DROP = 24


def _limits(unprivileged: bool):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
        if unprivileged and os.geteuid() == 0:
            # root reads and writes whatever the modes say: drop that power (CAP_DAC_OVERRIDE
            # and CAP_DAC_READ_SEARCH) from what the command will have
            libc = ctypes.CDLL(None, use_errno=True)
            for capability in (1, 2):
                if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                    raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
    return apply


def run_cli(argv, cwd, *, unprivileged=False, stdin=""):
    return subprocess.run([sys.executable, "-m", "rnnkit", *map(str, argv)], cwd=cwd,
                          input=stdin, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False, preexec_fn=_limits(unprivileged),
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})


# --- files the cases read ------------------------------------------------------------------
def make_files(d: Path) -> None:
    rows = "\n".join(f"2000-{m:02d}-01,{100 + 10 * np.sin(m)}" for m in range(1, 13))
    series = "date,value\n" + "\n".join(
        f"{1990 + i // 12}-{i % 12 + 1:02d},{100 + i + 10 * np.sin(i)}" for i in range(120))
    (d / "ok.csv").write_text(series + "\n")
    (d / "huge.csv").write_text(series + "\n" + "2000-01,1e308\n")
    (d / "short.csv").write_text("date,value\n" + rows + "\n")
    (d / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (d / "empty.csv").write_text("")
    (d / "secret.csv").write_text(series + "\n")
    os.chmod(d / "secret.csv", 0)
    ts = ["@problemName t", "@univariate true", "@equalLength true", "@classLabel true a b",
          "@data"]
    cases = [f"{','.join(str(v) for v in np.sin(np.arange(20) + i))}:{'ab'[i % 2]}"
             for i in range(20)]
    (d / "ok_TRAIN.ts").write_text("\n".join(ts + cases) + "\n")
    (d / "huge_TRAIN.ts").write_text("\n".join(ts + cases + ["1e308," * 19 + "1:a"]) + "\n")
    (d / "sup_TRAIN.ts").write_text("\n".join(ts[:3] + ["@seriesLength ²⁰"] + ts[3:] + cases)
                                    + "\n")
    (d / "secret_TRAIN.ts").write_text("\n".join(ts + cases) + "\n")
    os.chmod(d / "secret_TRAIN.ts", 0)
    rng = np.random.default_rng(0)
    np.savez(d / "nochan.npz", X=np.zeros((10, 5, 0)), y=np.arange(10) % 2)
    np.savez(d / "yinf.npz", X=rng.normal(size=(10, 5)), y=np.array([0, 1] * 4 + [np.inf, 1]))
    (d / "text.txt").write_text("the quick brown fox jumps over the lazy dog. " * 400)
    (d / "secret.txt").write_text("abc " * 1000)
    os.chmod(d / "secret.txt", 0)
    pairs = "\n".join(f"{i} plus one\t{i + 1}" for i in range(40))
    (d / "pairs.tsv").write_text(pairs + "\n")
    words = ["good fine great", "bad awful poor"]
    (d / "texts.csv").write_text("text,label\n" + "".join(
        f"{words[i % 2]} {i},{'pn'[i % 2]}\n" for i in range(40)))
    (d / "a_file").write_text("not a folder\n")
    for name, command in (("translate_run", '{"argv": ["translate"]}'),
                          ("tampered_run", '{"argv": "textgen"}'),
                          ("nested_run", "[" * 10_000)):
        (d / name).mkdir()
        (d / name / "command.json").write_text(command)
    (d / "corrupt_run").mkdir()  # a killed run whose checkpoint was then damaged
    (d / "corrupt_run" / "command.json").write_text(json.dumps({"argv": [
        "translate", "--num-pairs", "100", "--epochs", "2", "--hidden", "4"]}))
    (d / "corrupt_run" / "checkpoint.safetensors").write_bytes(b"\x10" + b"\0" * 7 + b"{}")
    (d / "corrupt_members" / "members").mkdir(parents=True)  # a killed classify run, damaged
    (d / "corrupt_members" / "command.json").write_text(json.dumps({"argv": [
        "classify", "--members", "2", "--updates", "5", "--hidden", "4"]}))
    (d / "corrupt_members" / "members" / "0.safetensors").write_bytes(b"\0" * 100)
    (d / "readonly").mkdir()
    os.chmod(d / "readonly", 0o555)


# --- the table --------------------------------------------------------------------------------
# (id, command line with {d} for the files' folder and {out} for the run folder, the words the
# error line must hold, and whether it needs an unprivileged user)
BIG = "1000000000"
RUNS = ("forecast", "classify", "textgen", "translate")  # the commands that write a run
CASES = [
    # numbers at the edge
    ("forecast-lr-inf", "forecast --lr inf", "--lr"),
    ("forecast-lr-nan", "forecast --lr nan", "--lr"),
    ("forecast-lr-1e300", "forecast --lr 1e300", "--lr"),
    ("forecast-lr-1e9", "forecast --lr 1e9", "--lr"),
    ("forecast-seed-neg", "forecast --seed -1", "--seed"),
    ("forecast-max-minutes-nan", "forecast --max-minutes nan", "--max-minutes"),
    ("forecast-csv-1e308", "forecast --csv {d}/huge.csv", "1e+308"),
    ("classify-ts-1e308", "classify --train {d}/huge_TRAIN.ts", "1e+308"),
    ("classify-lr-inf", "classify --lr inf", "--lr"),
    ("classify-seed-neg", "classify --seed -1", "--seed"),
    ("classify-val-fraction-nan", "classify --val-fraction nan", "--val-fraction"),
    ("textgen-lr-1e9", "textgen --lr 1e9", "--lr"),
    ("textgen-lr-1e300", "textgen --lr 1e300", "--lr"),
    ("textgen-seed-neg", "textgen --seed -1", "--seed"),
    ("textgen-temperature-inf", "textgen --temperature inf", "--temperature"),
    ("textgen-val-fraction-nan", "textgen --val-fraction nan", "--val-fraction"),
    ("translate-lr-inf", "translate --lr inf", "--lr"),
    ("translate-seed-neg", "translate --seed -1", "--seed"),
    # sizes that cannot fit
    ("forecast-hidden-1e8", "forecast --hidden 100000000 --network", "memory"),
    ("forecast-layers-1e6", "forecast --layers 1000000 --network", "memory"),
    ("forecast-members-1e9", f"forecast --members {BIG} --network", "--members"),
    ("forecast-updates-1e15", "forecast --updates 1000000000000000 --network", "--updates"),
    ("classify-hidden-1e9", f"classify --hidden {BIG}", "memory"),
    ("classify-hidden-1e8", "classify --hidden 100000000", "memory"),
    ("classify-embedding-1e9", f"classify --train {{d}}/texts.csv --text --embedding-dim {BIG}",
     "memory"),
    ("classify-members-1e9", f"classify --members {BIG}", "--members"),
    ("classify-patch-1e9", f"classify --patch {BIG}", "--patch"),
    ("textgen-hidden-1e8", "textgen --hidden 100000000", "memory"),
    ("textgen-seq-len-1e9", f"textgen --seq-len {BIG}", "characters"),
    ("textgen-batch-1e9", f"textgen --batch-size {BIG}", "characters"),
    ("textgen-length-1e12", "textgen --length 1000000000000", "--length"),
    ("translate-hidden-1e8", "translate --hidden 100000000", "memory"),
    ("translate-num-pairs-1e12", "translate --num-pairs 1000000000000", "--num-pairs"),
    ("translate-beam-1e5", "translate --beam 100000", "--beam"),
    # hangs
    ("forecast-window-1e9", f"forecast --window {BIG} --network", "--window"),
    ("forecast-test-size-1e12", "forecast --test-size 1000000000000", "points"),
    ("forecast-horizon-1e9", f"forecast --horizon {BIG}", "points"),
    ("forecast-period-1e9", f"forecast --period {BIG}", "period"),
    ("forecast-csv-test-size-1e12", "forecast --csv {d}/short.csv --test-size 1000000000000",
     "points"),
    # files and folders
    ("forecast-csv-missing", "forecast --csv {d}/nothing.csv", "no such file"),
    ("forecast-csv-folder", "forecast --csv {d}", "not a file"),
    ("forecast-csv-binary", "forecast --csv {d}/binary.csv", "UTF-8"),
    ("forecast-csv-empty", "forecast --csv {d}/empty.csv", "empty"),
    ("forecast-csv-unreadable", "forecast --csv {d}/secret.csv", "permission", "unprivileged"),
    ("classify-ts-unreadable", "classify --train {d}/secret_TRAIN.ts", "permission", "unprivileged"),
    ("classify-ts-superscript", "classify --train {d}/sup_TRAIN.ts", "@seriesLength"),
    ("classify-npz-no-channels", "classify --train {d}/nochan.npz", "channel"),
    ("classify-npz-y-inf", "classify --train {d}/yinf.npz", "y"),
    ("textgen-text-unreadable", "textgen --text {d}/secret.txt", "permission", "unprivileged"),
    ("translate-pairs-unreadable", "translate --pairs {d}/secret.txt", "permission", "unprivileged"),
    ("forecast-out-empty", "forecast --out=", "--out"),
    ("forecast-out-below-file", "forecast --out {d}/a_file/run", "a_file"),
    ("forecast-out-is-file", "forecast --out {d}/a_file", "a_file"),
    ("forecast-out-readonly", "forecast --out {d}/readonly/run", "readonly", "unprivileged"),
    ("classify-out-below-file", "classify --out {d}/a_file/run/deeper", "a_file"),
    ("textgen-out-readonly", "textgen --out {d}/readonly/run", "readonly", "unprivileged"),
    ("translate-out-empty", "translate --out=", "--out"),
    # the other commands
    ("demo-seed-neg", "demo --seed -1", "--seed"),
    ("demo-epochs-1e12", "demo --epochs 1000000000000", "--epochs"),
    ("bench-repeat-1e12", "bench --repeat 1000000000000 --kinds rnn", "--repeat"),
    ("bench-shapes-huge", "bench --shapes 100000,100000,1,100000", "memory"),
    ("inspect-hidden-1e8", "inspect gradients --hidden 100000000", "memory"),
    ("inspect-steps-1e12", "inspect gradients --steps 1000000000000", "memory"),
    ("inspect-batch-1e9", f"inspect gradients --batch {BIG}", "memory"),
    ("inspect-seed-neg", "inspect gradients --seed -1", "--seed"),
    ("inspect-out-empty", "inspect gradients --out=", "--out"),
    ("inspect-out-below-file", "inspect gradients --out {d}/a_file/x", "a_file"),
    ("export-out-empty", "export --model {d} --out=", "--out"),
    ("forecast-max-memory-tiny", "forecast --network --max-memory 0.0001", "--max-memory"),
    ("forecast-max-memory-nan", "forecast --max-memory nan", "--max-memory"),
    ("classify-max-memory-neg", "classify --max-memory -1", "--max-memory"),
    # --resume of something that is not a killed run
    ("textgen-resume-nothing", "textgen --resume {d}", "no run to continue"),
    ("textgen-resume-translate", "textgen --resume {d}/translate_run", "'translate' run"),
    ("textgen-resume-tampered", "textgen --resume {d}/tampered_run", "argv"),
    ("textgen-resume-nested", "textgen --resume {d}/nested_run", "nested"),
    ("translate-resume-corrupt", "translate --resume {d}/corrupt_run", "--resume"),
    ("classify-resume-corrupt", "classify --resume {d}/corrupt_members", "0.safetensors"),
]


@pytest.fixture(scope="module")
def files():
    d = Path(tempfile.mkdtemp(prefix="rnnkit-bad-"))
    os.chmod(d, 0o755)  # readable without root's override, for the unprivileged cases
    make_files(d)
    yield d
    os.chmod(d / "readonly", 0o755)
    shutil.rmtree(d)


def listing(d: Path) -> set:
    return {p.relative_to(d) for p in d.rglob("*")}


def check_refused(r, command: str, words, left_before: set, d: Path, code=2):
    lines = r.stderr.strip().splitlines()
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    assert lines and lines[-1].startswith(f"rnnkit {command}") and ": error: " in lines[-1], \
        r.stderr
    if words:
        assert words.lower() in lines[-1].lower(), lines[-1]
    assert listing(d) == left_before, "the refused run left files behind"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_command_line_is_refused_cleanly(case, files, tmp_path):
    _, line, words, *who = case
    work = Path(tempfile.mkdtemp(prefix="rnnkit-cwd-"))  # the current folder, for --out ''
    os.chmod(work, 0o777)
    try:
        argv = [a.format(d=files, out=work / "run") for a in line.split()]
        if argv[0] in RUNS and not any(a.startswith("--out") for a in argv):
            argv += ["--out", str(work / "run")]
        before = listing(files)
        r = run_cli(argv, work, unprivileged=bool(who))
        if words is None:  # accepted (it trims to what it needs); it must not blow up
            assert r.returncode in (0, 2) and "Traceback" not in r.stderr, r.stderr[-2000:]
            return
        check_refused(r, argv[0], words, before, files)
        assert not any(work.iterdir()), "the refused run wrote into the current folder"
    finally:
        shutil.rmtree(work)


# --- tampered run folders and bad predict options -------------------------------------------
@pytest.fixture(scope="module")
def runs(files):
    """A small run folder of each command, trained once."""
    from rnnkit.cli import main

    d = files / "runs"
    argv = {
        "forecast": ["forecast", "--members", "1", "--updates", "5", "--hidden", "4",
                     "--network"],
        "classify": ["classify", "--train", files / "ok_TRAIN.ts", "--updates", "3",
                     "--members", "1", "--hidden", "4"],
        "textgen": ["textgen", "--text", files / "text.txt", "--epochs", "1", "--hidden", "8",
                    "--batch-size", "4", "--seq-len", "20", "--length", "5"],
        "translate": ["translate", "--pairs", files / "pairs.tsv", "--epochs", "1",
                      "--hidden", "8", "--beam", "1"],
    }
    for name, args in argv.items():
        assert main([*map(str, args), "--out", str(d / name)]) == 0, name
    return d


def edit_task(run, change):
    def make(runs, dest):
        shutil.copytree(runs / run, dest)
        task = json.loads((dest / "task.json").read_text())
        result = change(task)
        data = result if isinstance(result, bytes) else json.dumps(
            task if result is None else result).encode()
        (dest / "task.json").write_bytes(data)
    return make


def swap_model(run, other):
    def make(runs, dest):
        shutil.copytree(runs / run, dest)
        shutil.copy(runs / other / "model.safetensors", dest / "model.safetensors")
    return make


def unreadable(run, name):
    def make(runs, dest):
        shutil.copytree(runs / run, dest)
        os.chmod(dest / name, 0)
    return make


def hostile_model(run, nested=False, **config):
    """The run with its model.safetensors' description changed (or nested 100,000 deep)."""
    def make(runs, dest):
        shutil.copytree(runs / run, dest)
        data = (dest / "model.safetensors").read_bytes()
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n])
        desc = json.loads(header["__metadata__"]["model"])
        desc["config"].update(config)
        header["__metadata__"]["model"] = "[" * 100_000 if nested else json.dumps(desc)
        text = json.dumps(header).encode()
        (dest / "model.safetensors").write_bytes(struct.pack("<Q", len(text)) + text
                                                 + data[8 + n:])
    return make


def drop(*keys, where=None):
    def change(task):
        target = task if where is None else task[where]
        for key in keys:
            target.pop(key)
    return change


def put(**values):
    return lambda task: task.update(values)


def shorten_target(task):
    task["target_vocabulary"] = task["target_vocabulary"][:-3]


PREDICT = "predict --model {run}"
TAMPERED = [
    # (id, how the folder is made, predict arguments, the words of the refusal)
    ("task-list", edit_task("classify", lambda t: []), "", "expected an object"),
    ("task-string", edit_task("classify", lambda t: "classify"), "", "expected an object"),
    ("task-not-utf8", edit_task("classify", lambda t: b"\xff\xfe{}"), "", "UTF-8"),
    ("task-empty-object", edit_task("classify", lambda t: {}), "", "command"),
    ("task-nested", edit_task("classify", lambda t: ("[" * 100_000).encode()), "", "nested"),
    ("task-nan", edit_task("classify", lambda t: b'{"command": NaN}'), "", "NaN"),
    ("task-unknown-command", edit_task("classify", put(command="rm")), "", "command"),
    ("classify-no-mode", edit_task("classify", drop("mode")), "--input {d}/ok_TRAIN.ts",
     "mode"),
    ("classify-mode-int", edit_task("classify", put(mode=5)), "--input {d}/ok_TRAIN.ts",
     "mode"),
    ("classify-no-mean", edit_task("classify", drop("mean")), "--input {d}/ok_TRAIN.ts",
     "mean"),
    ("classify-mean-string", edit_task("classify", put(mean="0")), "--input {d}/ok_TRAIN.ts",
     "mean"),
    ("classify-std-zero", edit_task("classify", put(std=[0.0])), "--input {d}/ok_TRAIN.ts",
     "std"),
    ("classify-std-short", edit_task("classify", put(std=[])), "--input {d}/ok_TRAIN.ts",
     "deviations"),
    ("classify-channels-string", edit_task("classify", put(channels="1")),
     "--input {d}/ok_TRAIN.ts", "channels"),
    ("classify-classes-dict", edit_task("classify", put(classes={"a": 1})),
     "--input {d}/ok_TRAIN.ts", "classes"),
    ("forecast-no-forecaster", edit_task("forecast", drop("forecaster")), "", "transform"),
    ("forecast-window-string", edit_task("forecast", lambda t: t["forecaster"]["settings"]
                                         .update(window="24")), "", "window"),
    ("forecast-horizon-negative", edit_task("forecast", lambda t: t["forecaster"]
                                            .update(horizon=-1)), "", "horizon"),
    ("forecast-settings-unknown", edit_task("forecast", lambda t: t["forecaster"]["settings"]
                                            .update(evil=1)), "", "cannot be rebuilt"),
    ("forecast-legacy-kind-unknown", edit_task("forecast", lambda t: {
        "command": "forecast", "transform": {"kind": "evil", "mean": 0, "std": 1},
        "window": 4, "horizon": 12, "series": [1.0, 2.0, 3.0]}), "", "evil"),
    ("forecast-series-strings", edit_task("forecast", put(series=[["1", "2"]])), "",
     "series"),
    ("forecast-legacy-transform-string", edit_task("forecast", lambda t: {
        "command": "forecast", "transform": "log", "window": 4, "horizon": 2,
        "series": [1.0, 2.0, 3.0]}), "", "transform"),
    ("forecast-legacy-window-list", edit_task("forecast", lambda t: {
        "command": "forecast", "transform": {"kind": "log", "mean": 0, "std": 1},
        "window": [4], "horizon": 2, "series": [1.0, 2.0, 3.0]}), "", "window"),
    ("translate-max-len-string", edit_task("translate", put(max_len="50")), "--input {d}/q.txt",
     "max_len"),
    ("translate-tokens-int", edit_task("translate", put(tokens=5)), "--input {d}/q.txt",
     "tokens"),
    ("translate-no-tokens", edit_task("translate", drop("tokens")), "--input {d}/q.txt",
     "tokens"),
    ("translate-short-vocabulary", edit_task("translate", shorten_target),
     "--input {d}/q.txt", "tgt_vocab_size"),
    ("translate-vocabulary-twice", edit_task("translate", lambda t: t["source_vocabulary"]
                                             .append(t["source_vocabulary"][2])),
     "--input {d}/q.txt", "twice"),
    ("classify-model-null", edit_task("classify", put(model=None)), "--input {d}/ok_TRAIN.ts",
     "cannot do without its model"),
    ("forecast-model-null", edit_task("forecast", put(model=None)), "", "no model"),
    ("model-hidden-1e9", hostile_model("classify", hidden_size=10**9),
     "--input {d}/ok_TRAIN.ts", "asks for at least"),
    ("model-layers-1e6", hostile_model("textgen", num_layers=10**6), "", "asks for at least"),
    ("model-metadata-nested", hostile_model("translate", nested=True), "--input {d}/q.txt",
     "nested"),
    ("textgen-no-tokens", edit_task("textgen", drop("tokens")), "", "tokens"),
    ("textgen-tokens-string", edit_task("textgen", put(tokens="abc")), "", "tokens"),
    ("classifier-in-forecast-run", swap_model("forecast", "classify"), "", "output_size"),
    ("textgen-model-in-translate-run", swap_model("translate", "textgen"), "--input {d}/q.txt",
     "Seq2Seq"),
    ("model-unreadable", unreadable("classify", "model.safetensors"),
     "--input {d}/ok_TRAIN.ts", "permission", "unprivileged"),
    ("task-unreadable", unreadable("classify", "task.json"), "--input {d}/ok_TRAIN.ts",
     "permission", "unprivileged"),
    # bad options of predict on a good folder
    ("predict-seed-negative", edit_task("textgen", lambda t: None), "--seed -1", "--seed"),
    ("predict-length-1e12", edit_task("textgen", lambda t: None), "--length 1000000000000",
     "--length"),
    ("predict-temperature-nan", edit_task("textgen", lambda t: None), "--temperature nan",
     "--temperature"),
    ("predict-beam-1e5", edit_task("translate", lambda t: None),
     "--beam 100000 --input {d}/q.txt", "--beam"),
    ("predict-model-missing", lambda runs, dest: None, "", "not an rnnkit run folder"),
    ("predict-model-file", lambda runs, dest: dest.write_text("x"), "",
     "not an rnnkit run folder"),
]


@pytest.mark.parametrize("case", TAMPERED, ids=[c[0] for c in TAMPERED])
def test_tampered_run_folder_is_refused_cleanly(case, files, runs, tmp_path):
    _, make, extra, words, *who = case
    (files / "q.txt").write_text("7 plus one\n")
    run = tmp_path / "run"
    make(runs, run)
    before = listing(tmp_path)
    argv = ["predict", "--model", str(run), *[a.format(d=files) for a in extra.split()]]
    r = run_cli(argv, tmp_path, unprivileged=bool(who))
    check_refused(r, "predict", words, before, tmp_path)
    assert not r.stdout.strip(), "a refused prediction printed results"


def test_a_closed_pipe_ends_predict_quietly(runs, tmp_path):
    argv = [sys.executable, "-m", "rnnkit", "predict", "--model", str(runs / "textgen"),
            "--length", "200000"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")}) as p:
        p.stdout.read(10)  # ``| head -c 10``
        p.stdout.close()
        err = p.stderr.read().decode()
        code = p.wait(timeout=TIMEOUT)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert code in (0, 141)


def without_network(runs, dest):
    """The forecast run as a forecaster without networks saves it: no model file."""
    shutil.copytree(runs / "forecast", dest)
    task = json.loads((dest / "task.json").read_text())
    task["forecaster"]["network"] = task["forecaster"]["settings"]["network"] = False
    (dest / "task.json").write_text(json.dumps({**task, "model": None}))
    (dest / "model.safetensors").unlink()


OTHER_READERS = [  # export and inspect read run folders through the same check
    ("export-no-network", without_network, "export", "no network"),
    ("inspect-no-network", without_network, "inspect states", "no network"),
    ("export-short-vocabulary", edit_task("translate", shorten_target), "export",
     "tgt_vocab_size"),
    ("export-task-list", edit_task("classify", lambda t: []), "export", "expected an object"),
    ("export-hidden-1e9", hostile_model("classify", hidden_size=10**9), "export",
     "asks for at least"),
    ("inspect-no-mean", edit_task("classify", drop("mean")), "inspect states", "mean"),
    ("inspect-classifier-in-textgen-run", swap_model("textgen", "classify"), "inspect states",
     "vocab_size"),
]


@pytest.mark.parametrize("case", OTHER_READERS, ids=[c[0] for c in OTHER_READERS])
def test_export_and_inspect_refuse_tampered_folders(case, runs, tmp_path):
    _, make, command, words = case
    run = tmp_path / "run"
    make(runs, run)
    before = listing(tmp_path)
    r = run_cli([*command.split(), "--model", str(run)], tmp_path)
    check_refused(r, command.split()[0], words, before, tmp_path)
