"""``rnnkit textgen`` end to end on small texts: the run folder, the JSON line, reproducibility,
a model that learns a text the bigram cannot, ``rnnkit predict`` on the saved run, and every
kind of bad input refused in one line with exit status 2 and nothing written."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from helpers import last_json, run_cli
from rnnkit.cli import main
from rnnkit.cli.textgen import bigram_nll, fit_bigram

SMALL = ["--epochs", "2", "--hidden", "32", "--embedding-dim", "8", "--batch-size", "8",
         "--seq-len", "32", "--length", "60"]
SENTENCE = "the quick brown fox jumps over the lazy dog. "
TIMES = ("train_seconds", "seconds")


@pytest.fixture(scope="module")
def sentence_run(tmp_path_factory):
    """A model trained on one sentence repeated: its next letter is fixed by the context,
    which a bigram cannot see (after 'o' come 'w', 'x', 'v' and 'g')."""
    folder = tmp_path_factory.mktemp("textgen")
    path = folder / "sentence.txt"
    path.write_text(SENTENCE * 200, encoding="utf-8")
    out = folder / "run"
    code = main(["textgen", "--text", str(path), "--out", str(out), "--json", "--epochs", "4",
                 "--hidden", "48", "--embedding-dim", "8", "--batch-size", "8", "--seq-len",
                 "45", "--lr", "0.01", "--prime", "the ", "--length", "40"])
    assert code == 0
    return out


@pytest.mark.slow
def test_learns_what_the_bigram_cannot(sentence_run):
    m = json.loads((sentence_run / "metrics.json").read_text())
    assert m["val_loss"] < 0.5 * m["bigram_val_loss"]
    assert m["unknown_val_chars"] == 0
    assert m["sample"].startswith("the ") and len(m["sample"]) == 4 + 40


def test_default_text_run_writes_the_folder_and_json(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "textgen", "--chars", 12000, "--out", out, "--json", *SMALL)
    assert code == 0, err
    m = last_json(stdout)
    for name in ("model.safetensors", "task.json", "metrics.json", "training_curves.png",
                 "model_vs_bigram.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "metrics.json").read_text()) == m
    assert math.isclose(m["val_perplexity"], math.exp(m["val_loss"]))
    assert math.isclose(m["bigram_val_perplexity"], math.exp(m["bigram_val_loss"]))
    assert m["train_chars"] + m["val_chars"] == 12000 and m["epochs"] == 2
    assert m["sample"].startswith(m["prime"]) and len(m["sample"]) == len(m["prime"]) + 60
    task = json.loads((out / "task.json").read_text())
    assert task["command"] == "textgen" and set(m["sample"]) <= set(task["tokens"])
    assert "epoch 2/2" in err and "nats/char" in stdout

    code, again, _ = run_cli(capsys, "textgen", "--chars", 12000, "--out", tmp_path / "again",
                         "--json", *SMALL)
    m2 = last_json(again)
    assert code == 0 and {k: v for k, v in m.items() if k not in TIMES} == \
        {k: v for k, v in m2.items() if k not in TIMES}


def test_predict_samples_from_the_saved_run(sentence_run, capsys):
    def predict(*extra):
        code, out, err = run_cli(capsys, "predict", "--model", sentence_run, "--json", *extra)
        assert code == 0, err
        return last_json(out)

    a = predict("--prime", "the qu", "--length", 30, "--seed", 3, "--temperature", 1.5)
    assert a["sample"].startswith("the qu") and len(a["sample"]) == 36
    assert set(a["sample"]) <= set(SENTENCE)
    assert predict("--prime", "the qu", "--length", 30, "--seed", 3, "--temperature", 1.5) == a
    b = predict("--prime", "the qu", "--length", 30, "--seed", 4, "--temperature", 1.5)
    assert b["sample"] != a["sample"]
    # greedy (top-k 1) ignores the seed and continues the sentence it learned
    g = [predict("--prime", "the qu", "--length", 30, "--seed", s, "--top-k", 1)["sample"]
         for s in (0, 1)]
    assert g[0] == g[1] == ("the qu" + (SENTENCE * 2)[6:36])
    # no --prime: starts from the text's most common character (no newline in this text)
    assert predict("--length", 5)["prime"] == " "


def test_bigram_fits_counts_with_leave_one_out_k():
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 6, size=5000)  # i.i.d. letters: the bigram is the unigram
    log_p, k = fit_bigram(ids, 6)
    np.testing.assert_allclose(np.exp(log_p).sum(axis=1), 1.0)
    freq = np.bincount(ids, minlength=6) / len(ids)
    np.testing.assert_allclose(np.exp(log_p[2:, 2:]), np.tile(freq[2:], (4, 1)), atol=0.03)
    nll = bigram_nll(log_p, ids)
    assert nll.shape == (4999,) and abs(nll.mean() - np.log(4)) < 0.01
    assert 0 < k <= 10


def bad(capsys, tmp_path, *args, match):
    out = tmp_path / "never"
    code, stdout, err = run_cli(capsys, *args, "--out", out) if args[0] == "textgen" else \
        run_cli(capsys, *args)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and match in err, err
    assert not out.exists()


def test_bad_text_files_are_refused(tmp_path, capsys):
    p = tmp_path / "x.txt"
    bad(capsys, tmp_path, "textgen", "--text", tmp_path / "missing.txt", match="no such file")
    p.write_bytes(b"")
    bad(capsys, tmp_path, "textgen", "--text", p, match="is empty")
    p.write_bytes(b" \n\n  \t")
    bad(capsys, tmp_path, "textgen", "--text", p, match="empty (whitespace only)")
    p.write_bytes(bytes(range(256)) * 100)
    bad(capsys, tmp_path, "textgen", "--text", p, match="looks binary")
    p.write_bytes("caf\u00e9 au lait ".encode("latin-1") * 2000)
    bad(capsys, tmp_path, "textgen", "--text", p, match="not UTF-8 text (byte 0xe9")
    p.write_text(SENTENCE * 20, encoding="utf-8")
    bad(capsys, tmp_path, "textgen", "--text", p, match=f"{len(SENTENCE) * 20} characters, too few")
    bad(capsys, tmp_path, "textgen", "--chars", 3000, match="too few")
    bad(capsys, tmp_path, "textgen", "--text", tmp_path, match="is not a file")


def test_bad_options_are_refused(tmp_path, capsys):
    bad(capsys, tmp_path, "textgen", "--temperature", 0, match="--temperature must be a positive number, got 0.0")
    bad(capsys, tmp_path, "textgen", "--temperature", -1, match="--temperature")
    bad(capsys, tmp_path, "textgen", "--top-k", 0, match="--top-k must be at least 1")
    bad(capsys, tmp_path, "textgen", "--length", 0, match="--length must be at least 1")
    bad(capsys, tmp_path, "textgen", "--val-fraction", 1.5, match="--val-fraction")
    bad(capsys, tmp_path, "textgen", "--seq-len", 0, match="--seq-len")
    bad(capsys, tmp_path, "textgen", "--epochs", 0, match="--epochs")
    bad(capsys, tmp_path, "textgen", "--prime", "caf\u00e9 \u2603",
        match="never saw in training: '\u00e9', '\u2603'")
    bad(capsys, tmp_path, "textgen", "--prime", "", match="--prime is empty")


def test_predict_refuses_bad_options(sentence_run, tmp_path, capsys):
    model = ["predict", "--model", sentence_run]
    bad(capsys, tmp_path, *model, "--prime", "THE", match="never saw in training: 'E', 'H'")
    bad(capsys, tmp_path, *model, "--temperature", 0, match="--temperature")
    bad(capsys, tmp_path, *model, "--top-k", 0, match="--top-k")
    bad(capsys, tmp_path, *model, "--length", 0, match="--length")


def test_cli_error_has_no_traceback(tmp_path):
    p = tmp_path / "bin.dat"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    r = subprocess.run([sys.executable, "-m", "rnnkit", "textgen", "--text", str(p), "--out",
                        str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"rnnkit textgen: error: --text {p} looks binary "
                                             "(it contains NUL bytes); a UTF-8 text file is "
                                             "expected"]
    assert not (tmp_path / "o").exists()
