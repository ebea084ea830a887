"""``rnnkit forecast`` end to end: the run folder, the JSON line, the baselines on the same
tail, reproducibility, ``rnnkit predict`` on the saved run, and one-line refusals of bad input
that write nothing."""
import json
import subprocess
import sys

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.data.datasets import load_series

FAST = ["--epochs", "2", "--hidden", "8"]


def run_main(capsys, *argv):
    code = main(["forecast", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def write_csv(path, values, header="date,value", first=None):
    lines = [header] if header else []
    lines += [f"{first or 't'}{i},{v}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def airline_run(tmp_path_factory):
    """One short run on the default data set, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("air") / "run"
    code = main(["forecast", *FAST, "--out", str(out), "--json", "--seed", "3"])
    assert code == 0
    return out


def test_run_folder_and_json_line(airline_run, capsys):
    out = airline_run
    for name in ("model.safetensors", "task.json", "metrics.json", "forecast.png",
                 "training_curves.png"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    for block in (metrics["metrics"], *metrics["baselines"].values()):
        assert set(block) == {"rmse", "mae", "mape", "mase"}
    assert set(metrics["baselines"]) == {"naive", "seasonal_naive"}
    assert metrics["period"] == 12 and metrics["transform"] == "logdiff"
    assert isinstance(metrics["beats_naive"], bool) and metrics["verdict"]
    assert len(metrics["by_step"]["model"]["rmse"]) == metrics["horizon"] == 12


def test_baselines_are_scored_on_the_same_tail(airline_run):
    """Recompute the naive and seasonal-naive errors from the raw series with plain loops."""
    m = json.loads((airline_run / "metrics.json").read_text())
    x, H, n_test = load_series("airline"), m["horizon"], m["split"]["test"]
    n_train = len(x) - n_test
    naive, seasonal, scale = [], [], []
    for o in range(n_train - 1, len(x) - H):
        for h in range(1, H + 1):
            naive.append(abs(x[o + h] - x[o]))
            seasonal.append(abs(x[o + h] - x[o + h - 12 * ((h - 1) // 12 + 1)]))
    scale = np.mean([abs(x[t] - x[t - 12]) for t in range(12, n_train)])
    assert m["split"]["test_origins"] == len(naive) // H
    assert m["baselines"]["naive"]["mae"] == pytest.approx(np.mean(naive))
    assert m["baselines"]["seasonal_naive"]["mae"] == pytest.approx(np.mean(seasonal))
    assert m["baselines"]["naive"]["mase"] == pytest.approx(np.mean(naive) / scale)
    assert m["mase_scale"]["value"] == pytest.approx(scale)


def test_seed_makes_runs_reproducible(airline_run, tmp_path, capsys):
    code, out, _ = run_main(capsys, *FAST, "--out", str(tmp_path / "a"), "--json",
                            "--seed", "3")
    assert code == 0
    again = last_json(out)
    first = json.loads((airline_run / "metrics.json").read_text())
    assert again["metrics"] == first["metrics"]
    code, out, _ = run_main(capsys, *FAST, "--out", str(tmp_path / "b"), "--json",
                            "--seed", "4")
    assert last_json(out)["metrics"] != first["metrics"]


def test_predict_on_the_saved_run(airline_run, tmp_path, capsys):
    assert main(["predict", "--model", str(airline_run), "--json"]) == 0
    result = last_json(capsys.readouterr().out)
    assert result["horizon"] == 12 and len(result["forecast"]) == 12
    assert result["last"] == load_series("airline")[-1]
    assert all(v > 0 for v in result["forecast"])  # logdiff forecasts stay positive
    assert main(["predict", "--model", str(airline_run)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines[1:]] == [f"t+{h}" for h in range(1, 13)]
    # the same series from a CSV (column found by the name the run was trained on)
    csv = write_csv(tmp_path / "air.csv", load_series("airline"), header="month,passengers")
    assert main(["predict", "--model", str(airline_run), "--csv", str(csv), "--json"]) == 0
    assert last_json(capsys.readouterr().out)["forecast"] == pytest.approx(result["forecast"])
    # a shorter history gives a different forecast
    write_csv(csv, load_series("airline")[:100], header="month,passengers")
    assert main(["predict", "--model", str(airline_run), "--csv", str(csv), "--json"]) == 0
    assert last_json(capsys.readouterr().out)["points"] == 100


@pytest.mark.slow
def test_csv_series_learns_to_beat_the_naive_forecast(tmp_path, capsys):
    """A noisy seasonal series from a CSV: period estimated, the model beats the naive."""
    rng = np.random.default_rng(0)
    t = np.arange(240)
    values = 10 + 3 * np.sin(2 * np.pi * t / 8) + 0.3 * rng.normal(size=240)
    csv = write_csv(tmp_path / "s.csv", np.round(values, 4), header="when,level")
    code, out, err = run_main(capsys, "--csv", str(csv), "--horizon", "4", "--epochs", "30",
                              "--hidden", "16", "--lr", "0.01", "--out", str(tmp_path / "r"),
                              "--json")
    assert code == 0, err
    m = last_json(out)
    assert m["period"] == 8 and m["period_source"].startswith("estimated")
    assert m["column"] == "level" and m["transform"] == "none" and m["window"] == 16
    assert m["beats_naive"] and m["metrics"]["mase"] < m["baselines"]["naive"]["mase"]
    assert m["verdict"][1:] in out
    assert main(["predict", "--model", str(tmp_path / "r"), "--csv", str(csv), "--json"]) == 0
    assert len(last_json(capsys.readouterr().out)["forecast"]) == 4


def test_verdict_says_which_baselines_are_beaten():
    from rnnkit.cli.forecast import verdict

    def errors(model, naive, seasonal):
        return {k: {"rmse": v, "mae": v, "mape": v, "mase": v}
                for k, v in [("model", model), ("naive", naive), ("seasonal_naive", seasonal)]}

    beats, text = verdict(errors(2.0, 1.0, 3.0))
    assert beats == {"naive": False, "seasonal_naive": True}
    assert text.startswith("the model does NOT beat the naive forecast")
    beats, text = verdict(errors(2.0, 3.0, 1.0))
    assert beats == {"naive": True, "seasonal_naive": False}
    assert "NOT the seasonal-naive" in text
    beats, text = verdict(errors(1.0, 2.0, 3.0))
    assert beats == {"naive": True, "seasonal_naive": True} and "NOT" not in text
    assert "other way round" not in text
    e = errors(1.0, 2.0, 3.0)
    e["model"]["rmse"] = 2.5  # lower MAE than both, but an RMSE above the naive's
    beats, text = verdict(e)
    assert beats == {"naive": True, "seasonal_naive": True}
    assert "by RMSE it is the other way round against the naive forecast" in text


def test_random_walk_run_reports_its_verdict(tmp_path, capsys):
    """On a random walk nothing should beat the last value by much; whatever the outcome, the
    flag follows the errors and the sentence is on stdout and in the metrics."""
    rng = np.random.default_rng(5)
    csv = write_csv(tmp_path / "walk.csv", np.round(np.cumsum(rng.normal(size=150)), 4))
    code, out, _ = run_main(capsys, "--csv", str(csv), *FAST, "--horizon", "3",
                            "--out", str(tmp_path / "w"), "--json")
    assert code == 0
    m = last_json(out)
    assert m["transform"] == "diff" and m["period"] == 1
    assert m["beats_naive"] == (m["metrics"]["mae"] < m["baselines"]["naive"]["mae"])
    assert m["baselines"]["seasonal_naive"] == m["baselines"]["naive"]  # period 1
    assert m["verdict"][1:] in out
    assert ("does NOT beat the naive" in m["verdict"]) == (not m["beats_naive"])


def test_auto_transform_avoids_logs_when_the_tail_is_not_positive():
    from rnnkit.cli.forecast import fit_transform

    x = np.exp(np.linspace(0, 2, 120))  # (120,) trending, positive
    assert fit_transform("auto", x, 96)[0].kind == "logdiff"
    x[-3] = -1.0  # in the tail only
    transform, reason = fit_transform("auto", x, 96)
    assert transform.kind == "diff" and "tail" in reason
    assert transform.mean_ == pytest.approx(np.diff(x[:96]).mean())  # fitted on x[:96]


def test_csv_reader_handles_common_layouts(tmp_path):
    from rnnkit.data.csv_series import read_csv_column

    values = np.round(np.linspace(-2, 3, 9), 3)
    (tmp_path / "plain.csv").write_text("\n".join(f"{i},{v}" for i, v in enumerate(values)))
    x, name = read_csv_column(tmp_path / "plain.csv")  # no header: columns "1", "2"
    assert name == "2" and np.array_equal(x, values)
    assert np.array_equal(read_csv_column(tmp_path / "plain.csv", "1")[0], np.arange(9.0))
    rows = "\r\n".join(f"d{i};{v};{v * 2};ok" for i, v in enumerate(values))
    (tmp_path / "semi.csv").write_text("\ufeffdate;a;b;note\r\n" + rows, encoding="utf-8")
    x, name = read_csv_column(tmp_path / "semi.csv")  # BOM, semicolons, CRLF
    assert name == "b" and np.array_equal(x, values * 2)
    x, name = read_csv_column(tmp_path / "semi.csv", prefer="a")
    assert name == "a" and np.array_equal(x, values)
    assert read_csv_column(tmp_path / "semi.csv", prefer="gone")[1] == "b"


def bad(tmp_path, capsys, *argv, match):
    out = tmp_path / "never"
    code, _, err = run_main(capsys, *argv, "--out", str(out), *FAST)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnkit forecast: error: "), err
    assert match in lines[0], lines[0]
    assert not out.exists()


def test_bad_input_is_refused_in_one_line_writing_nothing(tmp_path, capsys):
    good = np.round(np.linspace(1, 50, 120), 3)
    bad(tmp_path, capsys, "--csv", str(tmp_path / "missing.csv"), match="no such file")
    csv = write_csv(tmp_path / "a.csv", good)
    bad(tmp_path, capsys, "--csv", str(csv), "--column", "price",
        match="no column 'price'; available columns: 'date', 'value'")
    rows = [str(v) for v in good]
    rows[6] = "n/a"
    (tmp_path / "b.csv").write_text("value\n" + "\n".join(rows) + "\n")
    bad(tmp_path, capsys, "--csv", str(tmp_path / "b.csv"), match="row 8: 'n/a'")
    rows[6] = ""
    (tmp_path / "c.csv").write_text("date,value\n" + "\n".join(f"d{i},{r}" for i, r in
                                                                enumerate(rows)) + "\n")
    bad(tmp_path, capsys, "--csv", str(tmp_path / "c.csv"), "--column", "value",
        match="row 8: empty cell")
    rows[6] = "nan"
    (tmp_path / "d.csv").write_text("value\n" + "\n".join(rows) + "\n")
    bad(tmp_path, capsys, "--csv", str(tmp_path / "d.csv"), match="row 8: nan")
    short = write_csv(tmp_path / "e.csv", good[:30])
    bad(tmp_path, capsys, "--csv", str(short), match="the series has 30 points")
    (tmp_path / "f.csv").write_text("")
    bad(tmp_path, capsys, "--csv", str(tmp_path / "f.csv"), match="empty")
    bad(tmp_path, capsys, "--csv", str(csv), "--dataset", "airline", match="not both")
    bad(tmp_path, capsys, "--dataset", "sunspots", "--transform", "log",
        match="needs positive values")
    bad(tmp_path, capsys, "--horizon", "0", match="--horizon must be at least 1")
    bad(tmp_path, capsys, "--test-size", "5", match="smaller than --horizon")
    bad(tmp_path, capsys, "--window", "200", match="at least")


def test_too_short_message_names_a_length_that_works(tmp_path, capsys):
    code, _, err = run_main(capsys, "--csv", str(write_csv(tmp_path / "s.csv",
                                                           np.arange(1.0, 31.0))),
                            "--out", str(tmp_path / "x"), *FAST)
    need = int(err.split("at least ")[1].split()[0])
    code, _, err = run_main(capsys, "--csv", str(write_csv(tmp_path / "s.csv",
                                                           np.arange(1.0, need + 1.0))),
                            "--out", str(tmp_path / "x"), *FAST)
    assert code == 0, err
    code, _, err = run_main(capsys, "--csv", str(write_csv(tmp_path / "s.csv",
                                                           np.arange(1.0, float(need)))),
                            "--out", str(tmp_path / "y"), *FAST)
    assert code == 2 and not (tmp_path / "y").exists()


def test_subprocess_exit_code_and_predict_errors(tmp_path, airline_run):
    r = subprocess.run([sys.executable, "-m", "rnnkit", "forecast", "--csv",
                        str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"rnnkit forecast: error: {tmp_path / 'nope.csv'}: no such file"
    assert not (tmp_path / "o").exists()
    short = write_csv(tmp_path / "short.csv", np.arange(1.0, 11.0), header="month,passengers")
    code = main(["predict", "--model", str(airline_run), "--csv", str(short)])
    assert code == 2
