"""``rnnkit classify`` end to end: .ts (multivariate, unequal lengths), CSV/TSV, NPZ and text
files; the run folder, the JSON line, reproducibility, ``rnnkit predict``; one-line errors
(exit 2, nothing written) for bad input; and the helpers (missing values, scaling, split,
metrics)."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.io.checkpoint import load

FAST = ["--hidden", "16", "--lr", "1e-2", "--batch-size", "16", "--members", "1"]


def ramps(rng, n, channels=1, lengths=(8, 16)):
    """Series that rise (label "up") or fall ("down") in channel 0, plus noise channels."""
    xs, labels = [], []
    for i in range(n):
        T = int(rng.integers(*lengths))
        sign = 1 if i % 2 == 0 else -1
        x = rng.normal(0, 0.3, (T, channels))  # (T, C)
        x[:, 0] += sign * np.linspace(-1, 1, T)
        xs.append(x)
        labels.append("up" if sign > 0 else "down")
    return xs, labels


def write_ts(path, xs, labels, classes=("up", "down")):
    C = xs[0].shape[1]
    lines = ["# test data", "@problemName Ramps", "@timeStamps false", "@missing false",
             f"@univariate {'true' if C == 1 else 'false'}", f"@dimensions {C}",
             "@equalLength false", f"@classLabel true {' '.join(classes)}", "@data"]
    for x, y in zip(xs, labels):
        lines.append(":".join(",".join(f"{v:.6g}" for v in x[:, c]) for c in range(C))
                     + f":{y}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_csv(path, header, rows, delimiter=","):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


def texts(rng, n):
    filler = "the a of movie film story actor scene plot and it was".split()
    cue = {"pos": ["great", "good", "lovely"], "neg": ["awful", "bad", "boring"]}
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = list(rng.choice(filler, size=int(rng.integers(3, 8))))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(cue[label])))
        rows.append([" ".join(words).capitalize() + ".", label])
    return rows


def classify(capsys, *args):
    """Run in-process; (exit code, stdout, stderr, last-line JSON or None)."""
    code = main(["classify", *map(str, args)])
    out, err = capsys.readouterr()
    last = out.strip().splitlines()[-1] if out.strip() else ""
    return code, out, err, json.loads(last) if last.startswith("{") else None


def predict(capsys, *args):
    code = main(["predict", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def ts_files(tmp_path_factory):
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("ts")
    train = write_ts(folder / "R_TRAIN.ts", *ramps(rng, 48, channels=2))
    test = write_ts(folder / "R_TEST.ts", *ramps(rng, 40, channels=2))
    return train, test


# --- end to end ----------------------------------------------------------------------------
@pytest.mark.slow
def test_multivariate_ts_learns_saves_and_predicts(ts_files, tmp_path, capsys):
    train, test = ts_files
    out = tmp_path / "run"
    code, stdout, err, m = classify(capsys, "--train", train, "--test", test, "--out", out,
                                    "--updates", 120, "--json", *FAST)
    assert code == 0, err
    for name in ("model.safetensors", "task.json", "metrics.json", "history.csv",
                 "confusion_matrix.png"):
        assert (out / name).is_file(), name
    assert m == json.loads((out / "metrics.json").read_text())
    cm = np.array(m["confusion_matrix"])
    assert m["dataset"] == "R"  # R_TRAIN.ts
    assert m["classes"] == ["down", "up"] and cm.sum() == m["n_test"] == 40
    assert m["n_train"] == 48 and m["n_val"] == 0  # all of the training file is used
    assert m["train_accuracy"] > 0.9 and m["warnings"] == []
    history = (out / "history.csv").read_text().splitlines()
    assert history[0] == "network,epoch,loss,accuracy" and len(history) > 2
    assert m["test_accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert m["test_accuracy"] > 0.9 > m["majority_class_accuracy"]  # it learned the slope
    task = json.loads((out / "task.json").read_text())
    assert task["mode"] == "series" and task["channels"] == 2

    code, stdout, err = predict(capsys, "--model", out, "--input", test, "--json")
    assert code == 0, err
    result = json.loads(stdout.strip().splitlines()[-1])
    assert len(result["predictions"]) == 40
    assert result["accuracy"] == pytest.approx(m["test_accuracy"])
    code, stdout, _ = predict(capsys, "--model", out, "--input", test)
    lines = stdout.strip().splitlines()
    assert lines[:-1] == result["predictions"] and lines[-1].startswith("accuracy")


def test_seed_makes_runs_reproducible(ts_files, tmp_path, capsys):
    train, test = ts_files
    runs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        code, _, err, m = classify(capsys, "--train", train, "--test", test, "--out",
                                   tmp_path / name, "--updates", 12, "--seed", seed, "--json",
                                   *FAST)
        assert code == 0, err
        m.pop("train_seconds")
        runs.append(m)
    assert runs[0] == runs[1]
    a, b, c = (load(tmp_path / name / "model.safetensors").params for name in "abc")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)  # another seed, another model


def test_unequal_lengths_take_patches_from_the_median_series(tmp_path, capsys):
    rng = np.random.default_rng(1)
    xs, labels = ramps(rng, 20, lengths=(40, 200))
    xs[0] = xs[0][:40]
    median = np.median([len(x) for x in xs])
    train = write_ts(tmp_path / "L_TRAIN.ts", xs, labels)
    code, out, err, m = classify(capsys, "--train", train, "--test", train, "--out",
                                 tmp_path / "run", "--updates", 2, "--json", *FAST)
    assert code == 0, err
    patch = max(1, round(median / 32))
    assert f"patches of {patch} steps: series of median length {median:g} (longest" in out + err
    assert json.loads((tmp_path / "run" / "task.json").read_text())  # a valid run folder


def test_default_data_is_italy_power_demand(tmp_path, capsys):
    code, stdout, err, m = classify(capsys, "--out", tmp_path / "run", "--updates", 4,
                                    "--hidden", 4, "--json")
    assert code == 0, err
    assert m["dataset"] == "ItalyPowerDemand" and m["classes"] == ["1", "2"]
    assert m["n_train"] + m["n_val"] == 67 and m["n_test"] == 1029  # the official split
    assert "ItalyPowerDemand" in err  # the data summary goes to stderr


def test_csv_tsv_and_npz_series(tmp_path, capsys):
    rng = np.random.default_rng(1)
    xs, labels = ramps(rng, 40, lengths=(6, 10))
    T = max(len(x) for x in xs)
    rows = [[f"{v:.4f}" for v in x[:, 0]] + [""] * (T - len(x)) + [y]
            for x, y in zip(xs, labels)]
    rows[3][2] = ""  # an interior missing value: interpolated
    header = [f"t{t}" for t in range(T)] + ["label"]
    csv_path = write_csv(tmp_path / "r.csv", header, rows)
    code, _, err, m = classify(capsys, "--train", csv_path, "--out", tmp_path / "csv",
                               "--updates", 8, "--json", *FAST)
    assert code == 0, err
    assert m["mode"] == "series" and m["n_train"] + m["n_val"] + m["n_test"] == 40  # held out
    assert "no --test" in err

    # UCR's own .tsv layout: no header, the class number first
    ucr = [[str(["down", "up"].index(r[-1]) + 1)] + r[:-1] for r in rows]
    tsv = write_csv(tmp_path / "r.tsv", None, ucr, "\t")
    code, _, err, m = classify(capsys, "--train", tsv, "--test", tsv, "--label-column", 0,
                               "--out", tmp_path / "tsv", "--updates", 8, "--json", *FAST)
    assert code == 0, err
    assert m["n_test"] == 40 and m["classes"] == ["1", "2"]

    X = np.zeros((40, T, 2))  # (N, T, C), zero-padded
    for i, x in enumerate(xs):
        X[i, : len(x)] = np.repeat(x, 2, axis=1)
    lengths = np.array([len(x) for x in xs])
    y = np.array([labels.index(s) for s in labels])  # integer labels
    np.savez(tmp_path / "r.npz", X=X, y=y, lengths=lengths)
    np.savez(tmp_path / "unlabelled.npz", X=X[:5], lengths=lengths[:5])
    out = tmp_path / "npz"
    code, _, err, m = classify(capsys, "--train", tmp_path / "r.npz", "--test",
                               tmp_path / "r.npz", "--out", out, "--updates", 8, "--json", *FAST)
    assert code == 0, err
    assert m["classes"] == ["0", "1"]
    code, stdout, err = predict(capsys, "--model", out, "--input", tmp_path / "unlabelled.npz",
                                "--json")
    result = json.loads(stdout.strip().splitlines()[-1])
    assert code == 0 and len(result["predictions"]) == 5 and "accuracy" not in result


def test_text_classification_word_and_char(tmp_path, capsys):
    rng = np.random.default_rng(2)
    train = write_csv(tmp_path / "train.csv", ["review", "label"], texts(rng, 80))
    test = write_csv(tmp_path / "test.csv", ["review", "label"], texts(rng, 40))
    out = tmp_path / "word"
    code, _, err, m = classify(capsys, "--train", train, "--test", test, "--out", out,
                               "--updates", 100, "--embedding-dim", 16, "--json", *FAST)
    assert code == 0, err
    assert m["mode"] == "text" and m["test_accuracy"] > 0.9  # found the cue words
    task = json.loads((out / "task.json").read_text())
    assert task["tokens"] == "word" and task["vocabulary"][:2] == ["<pad>", "<unk>"]
    assert task["text_column"] == "review"
    code, stdout, err = predict(capsys, "--model", out, "--input", test, "--json")
    assert code == 0, err
    assert json.loads(stdout.strip().splitlines()[-1])["accuracy"] == \
        pytest.approx(m["test_accuracy"])

    tsv = write_csv(tmp_path / "t.tsv", ["id", "body", "label"],
                    [[i, *r] for i, r in enumerate(texts(rng, 30))], "\t")
    code, _, err, m = classify(capsys, "--train", tsv, "--text-column", "body", "--tokens",
                               "char", "--out", tmp_path / "char", "--updates", 4, "--json",
                               *FAST)
    assert code == 0, err
    vocab = json.loads((tmp_path / "char" / "task.json").read_text())["vocabulary"]
    assert all(len(t) == 1 for t in vocab[2:])  # characters


# --- bad input -----------------------------------------------------------------------------
def bad_inputs(tmp_path, ts_files):
    """(name, arguments, phrase expected in the one-line error)."""
    train, test = ts_files
    rng = np.random.default_rng(3)
    header = ["t0", "t1", "t2", "label"]
    good = [["1", "2", "3", "a"], ["3", "2", "1", "b"]] * 4
    text_rows = texts(rng, 10) + [["  ", "pos"]]
    f = {
        "good": write_csv(tmp_path / "good.csv", header, good),
        "empty": tmp_path / "empty.csv",
        "nonnum": write_csv(tmp_path / "nonnum.csv", header, good + [["1", "x", "3", "a"]]),
        "oneclass": write_csv(tmp_path / "one.csv", header, [["1", "2", "3", "a"]] * 6),
        "tiny": write_csv(tmp_path / "tiny.csv", header, good[:2]),
        "unseen": write_csv(tmp_path / "unseen.csv", header, good + [["1", "2", "3", "c"]]),
        "emptytext": write_csv(tmp_path / "et.csv", ["text", "label"], text_rows),
        "malformed": tmp_path / "bad.ts",
        "univariate": write_ts(tmp_path / "uni.ts", *ramps(rng, 10)),
        "nolabels": tmp_path / "nolabels.ts",
        "headeronly": write_csv(tmp_path / "h.csv", header, []),
        "npz": tmp_path / "noX.npz",
        "xlsx": tmp_path / "data.xlsx",
    }
    f["empty"].write_text("")
    f["malformed"].write_text("@problemName x\n@univariate maybe\n@data\n1,2:a\n")
    f["nolabels"].write_text("@classLabel false\n@data\n1,2\n2,1\n")
    np.savez(f["npz"], data=np.zeros((3, 4)))
    f["xlsx"].write_text("x")
    return [
        ("missing file", ["--train", tmp_path / "nope.ts", "--test", test], "no such file"),
        ("unknown column", ["--train", f["nonnum"], "--label-column", "cls"],
         "has no column 'cls'"),
        ("non-numeric", ["--train", f["nonnum"]], "column 't1' holds 'x', not a number"),
        ("empty text", ["--train", f["emptytext"]], f"et.csv:{len(text_rows) + 1}: empty text"),
        ("one class", ["--train", f["oneclass"]], "only one class"),
        ("unseen labels", ["--train", f["good"], "--test", f["unseen"]],
         "not seen in training: 'c'"),
        ("too few", ["--train", f["tiny"], "--test", f["tiny"], "--val-fraction", 0.3],
         "too few to hold out a validation set"),
        ("malformed .ts", ["--train", f["malformed"], "--test", test],
         "bad.ts:2: @univariate needs true or false"),
        ("empty file", ["--train", f["empty"]], "is empty"),
        ("header only", ["--train", f["headeronly"]], "has a header but no rows"),
        ("no labels", ["--train", f["nolabels"], "--test", test], "has no class labels"),
        ("channels", ["--train", train, "--test", f["univariate"]],
         "has 1 channels; the model was trained on 2"),
        ("npz without X", ["--train", f["npz"], "--test", f["npz"]], "has no array X"),
        ("file type", ["--train", f["xlsx"]], "unknown file type '.xlsx'"),
        ("test alone", ["--test", test], "--test needs --train"),
        ("val fraction", ["--val-fraction", 1.5], "--val-fraction must lie in [0, 1)"),
        ("updates", ["--updates", 0], "--updates must be at least 1"),
        ("members", ["--members", 0], "--members must be at least 1"),
    ]


def test_bad_input_is_one_line_exit_2_and_writes_nothing(ts_files, tmp_path, capsys):
    for name, args, phrase in bad_inputs(tmp_path, ts_files):
        out = tmp_path / "out"
        code, stdout, err, _ = classify(capsys, *args, "--out", out)
        assert code == 2, (name, err)
        assert err.startswith("rnnkit classify: error: ") and err.count("\n") == 1, (name, err)
        assert phrase in err, (name, err)
        assert not out.exists(), name


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["classify", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert all(opt in out for opt in ("--train", "--test", "--label-column", "--text-column",
                                      "--tokens", "--cell", "--updates", "--members", "--patch",
                                      "--augment", "--no-bidirectional", "--json"))


def test_bad_input_in_a_subprocess_has_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "rnnkit", "classify", "--train",
                        str(tmp_path / "missing.csv"), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().endswith("no such file: " + str(tmp_path / "missing.csv"))
    assert not (tmp_path / "out").exists()


def test_predict_bad_input(ts_files, tmp_path, capsys):
    train, test = ts_files
    out = tmp_path / "run"
    assert classify(capsys, "--train", train, "--test", test, "--out", out, "--updates", 4,
                    *FAST)[0] == 0
    code, _, err = predict(capsys, "--model", out)
    assert code == 2 and "give --input FILE" in err
    uni = write_ts(tmp_path / "uni.ts", *ramps(np.random.default_rng(0), 4))
    code, _, err = predict(capsys, "--model", out, "--input", uni)
    assert code == 2 and "has 1 channels" in err and err.count("\n") == 1
    other = write_ts(tmp_path / "other.ts", *ramps(np.random.default_rng(0), 4, 2),
                     classes=("up", "down", "flat"))
    other.write_text(other.read_text().replace(":up\n", ":flat\n"))
    code, _, err = predict(capsys, "--model", out, "--input", other)
    assert code == 2 and "not seen in training: 'flat'" in err


# --- helpers -------------------------------------------------------------------------------


def test_a_probe_chooses_the_ensemble_and_the_output_says_so(tmp_path, capsys):
    rng = np.random.default_rng(2)
    xs, labels = ramps(rng, 100, lengths=(64, 65))  # 100 series of 64 steps: probed
    train = write_ts(tmp_path / "P_TRAIN.ts", xs, labels)
    code, out, err, m = classify(capsys, "--train", train, "--test", train, "--out",
                                 tmp_path / "run", "--updates", 2, "--hidden", 4, "--json")
    assert code == 0, err
    assert "a probe first trains one network of each kind" in err
    assert "probe on 34 held-out series: networks reading the series" in err
    probe = m["probe"]
    assert probe["held_out"] == 34 and m["networks"] == (3 if probe["switch"] else 10)
