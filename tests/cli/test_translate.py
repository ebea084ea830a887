"""``rnnkit translate`` end to end: generated dates and TSV files (char and word tokens), the
run folder, the JSON line, reproducibility, ``rnnkit predict`` on the saved run, and one-line
errors (exit 2, nothing written) for bad input."""
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import main
from rnnkit.data.dates import generate_dates
from rnnkit.nn.seq2seq import Seq2Seq

SMALL = ["--num-pairs", "200", "--epochs", "2", "--hidden", "16", "--embedding-dim", "8"]


def translate(capsys, *args):
    """Run in-process; (exit code, stdout, stderr, last-line JSON or None)."""
    code = main(["translate", *map(str, args)])
    out, err = capsys.readouterr()
    last = out.strip().splitlines()[-1] if out.strip() else ""
    return code, out, err, json.loads(last) if last.startswith("{") else None


def predict(capsys, monkeypatch, *args, stdin=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["predict", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def dates_run(tmp_path_factory):
    """One run of the command line on 1000 generated dates, shared by the tests that read
    its folder. One BLAS thread: on a busy machine OpenBLAS threads spinning over these
    small matrix products make the run several times slower; the numbers are the same."""
    out = tmp_path_factory.mktemp("dates") / "run"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "rnnkit", "translate", "--num-pairs", "1000",
                        "--epochs", "8", "--out", str(out), "--json"], capture_output=True,
                       text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == \
        json.loads((out / "metrics.json").read_text())
    return out


@pytest.mark.slow
def test_dates_run_writes_its_folder_and_learns(dates_run):
    names = {p.name for p in dates_run.iterdir()}
    assert {"model.safetensors", "task.json", "metrics.json", "training_curves.png",
            "attention.png"} <= names
    metrics = json.loads((dates_run / "metrics.json").read_text())
    assert metrics["n_test"] == 100 and metrics["beam"] == 5 and metrics["tokens"] == "char"
    assert metrics["exact_match"] > 0.7 and metrics["exact_match_greedy"] > 0.7
    assert metrics["bleu"] > 0.9 and metrics["bleu_greedy"] > 0.9
    task = json.loads((dates_run / "task.json").read_text())
    assert task["command"] == "translate" and task["target_vocabulary"][:4] == \
        ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert isinstance(rnnkit.load(dates_run / "model.safetensors"), Seq2Seq)


def test_json_is_the_last_stdout_line_and_equals_metrics_json(capsys, tmp_path):
    code, out, err, result = translate(capsys, *SMALL, "--out", tmp_path / "r", "--json")
    assert code == 0 and result is not None
    assert result == json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert {"exact_match", "bleu"} <= set(result)
    assert "epoch 1/2" in err and "epoch 1/2" not in out  # progress goes to stderr


def test_same_seed_same_run_other_seed_other_run(capsys, tmp_path):
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        code, _, _, result = translate(capsys, *SMALL, "--seed", seed, "--out",
                                       tmp_path / name, "--json")
        assert code == 0
        runs[name] = ({k: v for k, v in result.items() if not k.endswith("seconds")},
                      rnnkit.load(tmp_path / name / "model.safetensors").params)
    assert runs["a"][0] == runs["b"][0]
    assert all(np.array_equal(v, runs["b"][1][k]) for k, v in runs["a"][1].items())
    assert runs["a"][0] != runs["c"][0]


def test_predict_translates_stdin_and_files(capsys, monkeypatch, tmp_path, dates_run):
    pairs = generate_dates(30, seed=123)  # most of them unseen in training
    sources = "\n".join(s for s, _ in pairs) + "\n"
    code, out, err = predict(capsys, monkeypatch, "--model", dates_run, stdin=sources)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 30
    assert np.mean([o == t for o, (_, t) in zip(lines, pairs)]) > 0.7
    path = tmp_path / "in.txt"
    path.write_text(sources)
    code, out, _ = predict(capsys, monkeypatch, "--model", dates_run, "--input", path,
                           "--beam", "1", "--json")
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and result["beam"] == 1 and len(result["translations"]) == 30
    assert out.strip().splitlines()[:30] == result["translations"]


def test_word_tokens_from_a_tsv(capsys, monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    words = "red green blue cat dog bird big small".split()
    lines = []
    for _ in range(60):
        a, b = rng.choice(words, 2, replace=False)
        lines.append(f"{a} {b}\t{b} {a}")  # swap two words
    lines.insert(10, "")  # blank lines are skipped
    path = tmp_path / "swap.tsv"
    path.write_text("\n".join(lines) + "\n")
    code, _, _, result = translate(capsys, "--pairs", path, "--tokens", "word", "--epochs", "2",
                                   "--hidden", "16", "--beam", "2", "--out", tmp_path / "w",
                                   "--json")
    assert code == 0 and result["tokens"] == "word" and result["n_test"] == 6
    task = json.loads((tmp_path / "w" / "task.json").read_text())
    assert set(task["source_vocabulary"][2:]) == set(words)  # whole words, no characters
    code, out, _ = predict(capsys, monkeypatch, "--model", tmp_path / "w", stdin="red cat\n")
    assert code == 0 and set(out.split()) <= set(words)


def _tsv(tmp_path, text, name="pairs.tsv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


GOOD = "".join(f"{i} march 2001\t2001-03-{i:02d}\n" for i in range(1, 13))


@pytest.mark.parametrize("make_args, message", [
    (lambda p: ["--pairs", p / "missing.tsv"], "no such file: "),
    (lambda p: ["--pairs", _tsv(p, "a\tb\nc\td\ne\tf\tg\n" + GOOD)],
     "pairs.tsv:3: expected 2 tab-separated fields (source, target), got 3"),
    (lambda p: ["--pairs", _tsv(p, GOOD + "no tab here\n")],
     "pairs.tsv:13: expected 2 tab-separated fields (source, target), got 1"),
    (lambda p: ["--pairs", _tsv(p, GOOD + "source\t \n")], "pairs.tsv:13: empty target"),
    (lambda p: ["--pairs", _tsv(p, "")], "pairs.tsv is empty: no pairs"),
    (lambda p: ["--pairs", _tsv(p, "\n\n")], "pairs.tsv is empty: no pairs"),
    (lambda p: ["--pairs", _tsv(p, b"\xff\xfe\tx\n")], "pairs.tsv is not UTF-8 text"),
    (lambda p: ["--pairs", _tsv(p, "".join(GOOD.splitlines(True)[:5]))],
     "pairs.tsv has only 5 pairs; at least 10 are needed for training, validation and a "
     "held-out test split"),
    (lambda p: ["--num-pairs", "5"], "--num-pairs must be at least 10, got 5"),
    (lambda p: ["--pairs", _tsv(p, GOOD), "--num-pairs", "100"], "does not apply to --pairs"),
    (lambda p: ["--beam", "0"], "--beam must be at least 1, got 0"),
    (lambda p: ["--epochs", "0"], "--epochs must be at least 1, got 0"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, make_args,
                                                         message):
    out = tmp_path / "out"
    code, stdout, err, _ = translate(capsys, *make_args(tmp_path), "--out", out)
    assert code == 2 and stdout == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert err.startswith("rnnkit translate: error: ") and not out.exists()


def test_bad_predict_input(capsys, monkeypatch, tmp_path, dates_run):
    for args, stdin, message in [
        (["--input", tmp_path / "none.txt"], None, "no such file: "),
        ([], "3/3/98\n\nMarch 3rd, 1998\n", "line 2 of the input is empty"),
        ([], "", "no input: give lines to translate"),
        (["--beam", "0"], "3/3/98\n", "--beam must be at least 1, got 0"),
    ]:
        code, out, err = predict(capsys, monkeypatch, "--model", dates_run, *args, stdin=stdin)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
        assert message in err, err


def test_command_line_error_has_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "rnnkit", "translate", "--pairs",
                        str(tmp_path / "nope.tsv"), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"rnnkit translate: error: no such file: {tmp_path / 'nope.tsv'}"
    assert not (tmp_path / "o").exists()


def test_predict_in_a_fresh_process_rebuilds_the_model(dates_run):
    """``rnnkit.load`` knows Seq2Seq without the caller importing rnnkit.nn.seq2seq."""
    r = subprocess.run([sys.executable, "-m", "rnnkit", "predict", "--model", str(dates_run),
                        "--beam", "3"], input="3/3/98\nMarch 3rd, 1998\n", capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 2
