"""``rnnkit forecast`` end to end: the run folder, the JSON line, the baselines on the same
tail, reproducibility, ``rnnkit predict`` on the saved run, and one-line refusals of bad input
that write nothing."""
import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import last_json
from rnnkit.cli import main
from rnnkit.data.datasets import load_series

FAST = ["--members", "2", "--updates", "30", "--hidden", "8"]


def run_main(capsys, *argv):
    code = main(["forecast", *argv])
    out, err = capsys.readouterr()
    return code, out, err


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
    for name in ("model.safetensors", "task.json", "metrics.json", "forecast.png"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    for block in (metrics["metrics"], *metrics["baselines"].values()):
        assert set(block) == {"rmse", "mae", "mape", "mase"}
    assert set(metrics["baselines"]) == {"naive", "seasonal_naive", "damped_trend"}
    assert metrics["period"] == 12 and metrics["frequency"] == "monthly"
    assert metrics["period_source"] == "the bundled airline series" and metrics["period_sure"]
    assert isinstance(metrics["beats_naive"], bool) and metrics["verdict"]
    assert len(metrics["by_step"]["model"]["rmse"]) == metrics["horizon"] == 12
    assert metrics["forecaster"]["network"] and metrics["forecaster"]["members"] == 2
    assert len(metrics["member_mase"]) == 2
    assert set(metrics["interval_coverage"]) == {"80", "95"}
    assert metrics["interval_coverage"]["80"] <= metrics["interval_coverage"]["95"]
    assert metrics["mase_scale"]["period"] == 12


def test_baselines_are_scored_on_the_same_tail(airline_run):
    """Recompute the naive and seasonal-naive errors from the raw series with plain loops."""
    m = json.loads((airline_run / "metrics.json").read_text())
    x, H, n_test = load_series("airline"), m["horizon"], m["split"]["test"]
    n_train = len(x) - n_test
    assert n_test == max(2 * H, round(0.2 * len(x)))
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
    assert result["dates"] == [f"1961-{m:02d}" for m in range(1, 13)]  # after 1960-12
    for level in ("80", "95"):
        band = result["intervals"][level]
        assert all(lo < f < hi for lo, f, hi in zip(band["lower"], result["forecast"],
                                                    band["upper"]))
    assert np.all(np.array(result["intervals"]["95"]["upper"])
                  >= np.array(result["intervals"]["80"]["upper"]))
    assert main(["predict", "--model", str(airline_run)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines[1:]] == [f"1961-{m:02d}" for m in range(1, 13)]
    # the same series from a CSV
    csv = write_csv(tmp_path / "air.csv", load_series("airline"), header="month,passengers")
    assert main(["predict", "--model", str(airline_run), "--csv", str(csv), "--json"]) == 0
    assert last_json(capsys.readouterr().out)["forecast"] == pytest.approx(result["forecast"])
    # a shorter history gives a different forecast
    write_csv(csv, load_series("airline")[:100], header="month,passengers")
    assert main(["predict", "--model", str(airline_run), "--csv", str(csv), "--json"]) == 0
    assert last_json(capsys.readouterr().out)["points"] == 100


@pytest.mark.slow
def test_csv_series_learns_to_beat_the_naive_forecast(tmp_path, capsys):
    """A noisy seasonal series from a CSV without dates: the period is estimated (and says
    it is sure), and the forecaster beats the naive forecast."""
    rng = np.random.default_rng(0)
    t = np.arange(240)
    values = 10 + 3 * np.sin(2 * np.pi * t / 8) + 0.3 * rng.normal(size=240)
    csv = write_csv(tmp_path / "s.csv", np.round(values, 4), header="when,level")
    code, out, err = run_main(capsys, "--csv", str(csv), "--horizon", "4", "--members", "2",
                              "--updates", "100", "--out", str(tmp_path / "r"), "--json")
    assert code == 0, err
    m = last_json(out)
    assert m["period"] == 8 and m["period_source"].startswith("estimated") and m["period_sure"]
    assert m["series"] == "level" and m["forecaster"]["window"] == 16
    assert m["beats_naive"] and m["metrics"]["mase"] < m["baselines"]["naive"]["mase"]
    assert m["verdict"][1:] in out
    assert main(["predict", "--model", str(tmp_path / "r"), "--csv", str(csv), "--json"]) == 0
    assert len(last_json(capsys.readouterr().out)["forecast"]) == 4


def test_verdict_says_level_inside_the_members_spread():
    from rnnkit.cli.forecast_report import verdict

    def errors(model, naive, seasonal, damped):
        return {k: {"rmse": v, "mae": v, "mape": v, "mase": v}
                for k, v in [("model", model), ("naive", naive), ("seasonal_naive", seasonal),
                             ("damped_trend", damped)]}

    outcome, text = verdict(errors(1.0, 2.0, 0.5, 1.05), [0.9, 1.1])
    assert outcome == {"naive": "better", "seasonal_naive": "worse", "damped_trend": "level"}
    assert "beats the naive forecast (MASE 1.000 vs 2.000)" in text
    assert "does NOT beat the seasonal-naive" in text and "is level with the damped" in text
    assert "span 0.900-1.100" in text
    outcome, _ = verdict(errors(1.0, 2.0, 0.5, 1.05), [1.0])  # one network: no spread
    assert outcome["damped_trend"] == "better"
    outcome, _ = verdict(errors(1.0, 2.0, 0.5, 1.005), [1.0])  # within 1%
    assert outcome["damped_trend"] == "level"


def test_random_walk_run_reports_its_verdict(tmp_path, capsys):
    """On a random walk nothing should beat the last value by much; whatever the outcome, the
    flag follows the errors and the sentence is on stdout and in the metrics; the period
    estimate says it found no season."""
    rng = np.random.default_rng(5)
    csv = write_csv(tmp_path / "walk.csv", np.round(np.cumsum(rng.normal(size=150)), 4))
    code, out, _ = run_main(capsys, "--csv", str(csv), *FAST, "--horizon", "3",
                            "--out", str(tmp_path / "w"), "--json")
    assert code == 0
    m = last_json(out)
    assert m["period"] == 1 and not m["period_sure"]
    assert "Note: the period 1 is a guess" in out
    assert m["beats_naive"] == (m["outcome"]["naive"] == "better")
    assert m["baselines"]["seasonal_naive"] == m["baselines"]["naive"]  # period 1
    assert m["verdict"][1:] in out


def test_several_series_train_one_global_model(tmp_path, capsys):
    """A wide CSV with dates: one series per column, the frequency gives the period and the
    horizon, every series is scored and forecast with dates."""
    rng = np.random.default_rng(1)
    t = np.arange(72)
    cols = [50 + 10 * np.sin(2 * np.pi * t / 4 + k) + t * (k + 1) / 4 + rng.normal(size=72)
            for k in range(3)]
    dates = [f"{2000 + i // 4}Q{i % 4 + 1}" for i in t]
    rows = ["quarter,a,b,c"] + [f"{d},{cols[0][i]:.3f},{cols[1][i]:.3f},{cols[2][i]:.3f}"
                               for i, d in enumerate(dates)]
    (tmp_path / "w.csv").write_text("\n".join(rows) + "\n")
    code, out, err = run_main(capsys, "--csv", str(tmp_path / "w.csv"), *FAST,
                              "--out", str(tmp_path / "r"), "--json")
    assert code == 0, err
    m = last_json(out)
    assert m["series_count"] == 3 and m["frequency"] == "quarterly"
    assert m["period"] == 4 and m["horizon"] == 8
    assert [s["series"] for s in m["series_results"]] == ["a", "b", "c"]
    assert set(m["summary"]["geomean_ratio"]) == {"naive", "seasonal_naive", "damped_trend"}
    assert "one global model" in " ".join(m["forecaster"]["reasons"])
    assert main(["predict", "--model", str(tmp_path / "r"), "--json"]) == 0
    p = last_json(capsys.readouterr().out)
    assert [s["series"] for s in p["series_forecasts"]] == ["a", "b", "c"]
    assert p["series_forecasts"][2]["dates"][:2] == ["2018Q1", "2018Q2"]


def test_long_format_and_a_short_series(tmp_path, capsys):
    """Long format (id, time, value); a series of 20 points gets padded windows or no network
    and a line saying so; forecasting still works."""
    rows = ["id,year,value"]
    for k, n in enumerate((20, 30)):
        rows += [f"s{k},{1990 + i},{100 + 3 * i + (i % 3)}" for i in range(n)]
    (tmp_path / "l.csv").write_text("\n".join(rows) + "\n")
    code, out, err = run_main(capsys, "--csv", str(tmp_path / "l.csv"), *FAST,
                              "--out", str(tmp_path / "r"), "--json")
    assert code == 0, err
    m = last_json(out)
    assert m["frequency"] == "yearly" and m["period"] == 1 and m["horizon"] == 6
    assert [s["split"]["points"] for s in m["series_results"]] == [20, 30]
    assert m["series_results"][0]["split"]["test"] == 12  # max(2H, 20%)
    assert "windows" in err


def test_a_series_too_short_for_a_network_forecasts_with_the_base(tmp_path, capsys):
    csv = write_csv(tmp_path / "s.csv", np.round(np.linspace(1, 5, 20) ** 2, 3))
    code, out, err = run_main(capsys, "--csv", str(csv), *FAST, "--horizon", "3",
                              "--out", str(tmp_path / "r"), "--json")
    assert code == 0, err
    m = last_json(out)
    assert not m["forecaster"]["network"] and "no network" in err
    assert not (tmp_path / "r" / "model.safetensors").exists()
    assert main(["predict", "--model", str(tmp_path / "r"), "--json"]) == 0
    assert len(last_json(capsys.readouterr().out)["forecast"]) == 3


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
    short = write_csv(tmp_path / "e.csv", good[:20])
    bad(tmp_path, capsys, "--csv", str(short), match="the series has 20 points")
    (tmp_path / "f.csv").write_text("")
    bad(tmp_path, capsys, "--csv", str(tmp_path / "f.csv"), match="empty")
    bad(tmp_path, capsys, "--csv", str(csv), "--dataset", "airline", match="not both")
    bad(tmp_path, capsys, "--horizon", "0", match="--horizon must be at least 1")
    bad(tmp_path, capsys, "--test-size", "5", match="smaller than the horizon 12")
    bad(tmp_path, capsys, "--window", "0", match="--window must be at least 1")
    bad(tmp_path, capsys, "--period", "200", match="not shorter than the series")
    bad(tmp_path, capsys, "--column", "value", match="--column needs --csv")


def test_too_short_message_names_a_length_that_works(tmp_path, capsys):
    code, _, err = run_main(capsys, "--csv", str(write_csv(tmp_path / "s.csv",
                                                           np.arange(1.0, 21.0))),
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
