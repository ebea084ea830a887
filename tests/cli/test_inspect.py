"""``rnnkit inspect``: gradients (fresh networks and saved runs), states (heat maps, a text
coloured by a unit, as HTML that opens in headless Chromium), bptt; bad input in one line."""
import html
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import rnnkit
from helpers import last_json, run_cli
from rnnkit.cli import main
from rnnkit.cli.common import save_run
from rnnkit.data.text import Vocabulary
from rnnkit.nn.losses import CrossEntropyLoss
from rnnkit.train import gradient_flow as gf

TEXT = 'print("hello, world")\nx = f(a, "b")  # a (small) test\n' * 12
SMALL = ["--steps", "12", "--hidden", "16", "--input-size", "3", "--batch", "4",
         "--radii", "0.5,3"]


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """An (untrained) textgen run folder whose source text is a file beside it."""
    folder = tmp_path_factory.mktemp("inspect")
    (folder / "text.txt").write_text(TEXT, encoding="utf-8")
    vocab = Vocabulary.build([list(TEXT)])
    model = rnnkit.SequenceModel("lstm", vocab_size=len(vocab), embedding_dim=4, hidden_size=8,
                                 output_size=len(vocab), head="all", seed=0)
    save_run(folder / "run", model, {"command": "textgen", "tokens": vocab.tokens,
                                     "default_prime": "\n", "seq_len": 20,
                                     "source": str(folder / "text.txt")}, {})
    return folder / "run"


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory):
    """A classify run of the bundled data set holding an ensemble of two GRU networks."""
    folder = tmp_path_factory.mktemp("inspect") / "run"
    members = [rnnkit.SequenceModel("gru", input_size=1, hidden_size=6, output_size=2, seed=s)
               for s in (0, 1)]
    task = {"command": "classify", "mode": "series", "classes": ["1", "2"],
            "label_column": None, "source": "ItalyPowerDemand", "channels": 1, "mean": [0.0],
            "std": [1.0]}
    save_run(folder, rnnkit.nn.Ensemble(*members), task, {})
    return folder


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory):
    """A forecast run: a forecaster of two GRU networks (window 8, horizon 3) on one series."""
    from rnnkit.nn.ensemble import MeanEnsemble
    from rnnkit.train.forecaster import Forecaster, ForecasterSettings

    folder = tmp_path_factory.mktemp("inspect") / "run"
    settings = ForecasterSettings(window=8, hidden=6, members=2)
    network = MeanEnsemble(*(rnnkit.SequenceModel(**settings.model_config(3, s))
                                 for s in (0, 1)))
    series = 100 + 10 * np.sin(np.arange(60) / 3.0)
    task = {"command": "forecast", "series": [series], "names": ["wave"], "source": "test",
            "dates": None, "forecaster": Forecaster(settings, 3, 1, network).to_dict()}
    save_run(folder, network, task, {})
    return folder


def test_gradients_and_states_of_a_forecast_run_cli(capsys, tmp_path, forecast_run):
    code, out, _ = run_cli(capsys, "inspect", "gradients", "--model", forecast_run, "--batch", "5",
                       "--out", tmp_path / "g", "--json")
    result = last_json(out)
    assert code == 0 and result["steps"] == 8 and list(result["gradient_norms"]) == ["gru"]
    assert "MSE of the correction to the base forecast" in result["loss"]
    code, out, _ = run_cli(capsys, "inspect", "states", "--model", forecast_run, "--out",
                       tmp_path / "s", "--json")
    result = last_json(out)
    assert code == 0 and result["steps"] == 8 and result["panels"] == ["h", "r", "z", "n"]
    assert result["input"] == "the last 8 values of series 'wave', normalised"
    code, _, err = run_cli(capsys, "inspect", "states", "--model", forecast_run, "--input", "x.csv")
    assert code == 2 and "inspected on its own series" in err


def test_gradients_of_fresh_networks(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "inspect", "gradients", *SMALL, "--out", tmp_path, "--json")
    assert code == 0
    result = last_json(out)
    norms = result["gradient_norms"]
    assert set(norms) == {"rnn", "lstm", "lstm_c", "gru"}
    assert all(len(v) == 12 and all(x > 0 for x in v) for v in norms.values())
    flows = gf.fresh_flows(steps=12, hidden_size=16, input_size=3, batch=4, seed=0)
    np.testing.assert_allclose(norms["lstm_c"], flows["lstm"].c, rtol=1e-12)
    assert result["decay_per_step"]["rnn"] == pytest.approx(gf.decay_per_step(flows["rnn"].h))
    assert set(result["rnn_spectral_radius"]["curves"]) == {"0.5", "3"}
    clip = result["clipping"]["by_radius"]["3"]
    assert clip["clipped_grad_norm"] == pytest.approx(1.0) and clip["grad_norm"] > 1
    assert "1" in result["lstm_forget_bias"]
    assert (tmp_path / "gradient_flow.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "gradients.json").read_text())["steps"] == 12
    assert "decay per step back in time" in out and "rho=3" in out


def test_gradients_of_one_cell(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "inspect", "gradients", "--cells", "gru", *SMALL, "--out",
                       tmp_path, "--json")
    result = last_json(out)
    assert code == 0 and list(result["gradient_norms"]) == ["gru"]
    assert "clipping" not in result and "lstm_forget_bias" not in result


def test_gradients_of_a_saved_text_model(capsys, tmp_path, text_run):
    code, out, _ = run_cli(capsys, "inspect", "gradients", "--model", text_run, "--batch", "3",
                       "--out", tmp_path, "--json")
    assert code == 0
    result = last_json(out)
    assert result["command"] == "textgen" and result["steps"] == 20  # the run's seq_len
    assert set(result["gradient_norms"]) == {"lstm", "lstm_c"}
    # the same numbers from the library on the same characters
    model, _ = rnnkit.cli.common.load_run(text_run)
    ids = Vocabulary(model_tokens(text_run)).encode(list(TEXT))
    starts = np.linspace(0, len(ids) - 21, 3).astype(int)
    x = np.stack([ids[s : s + 20] for s in starts])
    flow = gf.model_flow(model, x, ids[starts + 20], CrossEntropyLoss())
    np.testing.assert_allclose(result["gradient_norms"]["lstm"], flow.h, rtol=1e-6)


def model_tokens(folder):
    return json.loads((folder / "task.json").read_text())["tokens"]


def test_gradients_and_states_of_a_classify_ensemble(capsys, tmp_path, classify_run):
    code, out, _ = run_cli(capsys, "inspect", "gradients", "--model", classify_run, "--out",
                       tmp_path / "g", "--json")
    result = last_json(out)
    assert code == 0 and result["steps"] == 24 and result["note"] == "the ensemble's first member"
    assert list(result["gradient_norms"]) == ["gru"]
    code, out, _ = run_cli(capsys, "inspect", "states", "--model", classify_run, "--index", "3",
                       "--out", tmp_path / "s", "--json")
    result = last_json(out)
    assert code == 0 and result["panels"] == ["h", "r", "z", "n"] and result["steps"] == 24
    assert "example 3 of ItalyPowerDemand_TEST.ts" in result["input"]
    assert (tmp_path / "s" / "states.png").is_file() and "html" not in result


@pytest.fixture(scope="module")
def text_states(tmp_path_factory, text_run):
    """``inspect states`` of the text model over 200 characters: (JSON result, folder)."""
    out = tmp_path_factory.mktemp("states")
    code = main(["inspect", "states", "--model", str(text_run), "--chars", "200", "--out",
                 str(out), "--json"])
    assert code == 0
    return json.loads((out / "states.json").read_text()), out


def test_states_of_a_text_model(capsys, tmp_path, text_run, text_states):
    result, folder = text_states
    assert result["panels"] == ["h", "tanh(c)", "i", "f", "g", "o"]
    assert result["coloured_by"] == "tanh(c)" and result["text"] == TEXT[:200]
    assert set(result["correlations"]) == {"position_in_line", "inside_quotes",
                                           "inside_parentheses"}
    assert result["unit"] == result["correlations"]["inside_quotes"][0][0]
    for name in ("states.png", "text.png", "text.html"):
        assert (folder / name).stat().st_size > 0, name
    page = (folder / "text.html").read_text(encoding="utf-8")
    assert html.escape('print("hello') in "".join(re.findall(r">([^<]*)</span>", page))
    code, out, _ = run_cli(capsys, "inspect", "states", "--model", text_run, "--chars", "30",
                       "--unit", "5", "--out", tmp_path, "--json")
    assert code == 0 and last_json(out)["unit"] == 5


def test_bptt_prints_the_worked_example(capsys):
    code, out, _ = run_cli(capsys, "inspect", "bptt")
    assert code == 0
    assert "a_1 = W_xh x_1 + W_hh h_0 = [0.050000, 0.110000, 0.170000]" in out
    assert "seed 002 printed [0.07, 0.19, 0.31]: wrong" in out
    assert "all gradients agree with finite differences" in out
    code, out, _ = run_cli(capsys, "inspect", "bptt", "--cell", "gru", "--json")
    result = last_json(out)
    assert code == 0 and result["cell"] == "gru" and max(result["checks"].values()) < 1e-7
    assert {"phase", "t", "name", "equation", "value"} <= set(result["lines"][0])


@pytest.mark.parametrize("args, message", [
    (["gradients", "--cells", "rnn,cnn"], "--cells takes a comma-separated list"),
    (["gradients", "--steps", "1"], "--steps must be at least 2"),
    (["gradients", "--radii", "1,-2"], "--radii takes positive numbers"),
    (["gradients", "--clip", "0"], "--clip must be a positive number"),
    (["gradients", "--input", "x.txt"], "--input goes with --model"),
    (["states", "--model", "nowhere"], "is not an rnnkit run folder"),
])
def test_bad_input_is_one_line_and_writes_nothing(capsys, tmp_path, args, message):
    code, _, err = run_cli(capsys, "inspect", *args, "--out", tmp_path / "out")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_bad_input_for_a_saved_run_cli(capsys, tmp_path, text_run, classify_run):
    code, _, err = run_cli(capsys, "inspect", "states", "--model", text_run, "--unit", "99",
                       "--out", tmp_path / "a")
    assert code == 2 and "--unit must lie in 0..7" in err and not (tmp_path / "a").exists()
    code, _, err = run_cli(capsys, "inspect", "states", "--model", text_run, "--chars", "1")
    assert code == 2 and "--chars must be at least 2" in err
    short = tmp_path / "short.txt"
    short.write_text("abc", encoding="utf-8")
    code, _, err = run_cli(capsys, "inspect", "gradients", "--model", text_run, "--input", short)
    assert code == 2 and "the text has 3 characters; 21 are needed" in err
    code, _, err = run_cli(capsys, "inspect", "states", "--model", classify_run, "--index", "9999")
    assert code == 2 and "--index must lie in 0..1028" in err
    code, _, err = run_cli(capsys, "inspect", "gradients", "--model", classify_run, "--steps", "5")
    assert code == 2 and "applies to a textgen run" in err
    task = json.loads((text_run / "task.json").read_text())
    other = tmp_path / "translate"
    shutil.copytree(text_run, other)
    (other / "task.json").write_text(json.dumps({**task, "command": "translate"}))
    code, _, err = run_cli(capsys, "inspect", "gradients", "--model", other)
    assert code == 2 and "is not a usable run folder: task.json.tokens" in err  # a textgen's


# --- the HTML page in a browser ------------------------------------------------------------
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--enable-logging=stderr", "--v=0"]


@pytest.fixture(scope="session")
def chromium():
    """Chromium's path; installed with apt-get when absent, if running as root where apt-get
    is and RNNKIT_NO_APT is not set (never failing: the browser test is skipped with the
    reason otherwise)."""
    names = ("chromium", "chromium-browser", "google-chrome")
    found = next((p for p in map(shutil.which, names) if p), None)
    if found is None and shutil.which("apt-get") and hasattr(os, "geteuid") \
            and os.geteuid() == 0 and not os.environ.get("RNNKIT_NO_APT"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                    ["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
            try:
                done = subprocess.run(cmd, env=env, capture_output=True, timeout=600,
                                      check=False)
            except (OSError, subprocess.TimeoutExpired):
                break
            if done.returncode == 0 and cmd[1] == "install":
                break
        found = next((p for p in map(shutil.which, names) if p), None)
    if found is None:
        pytest.skip("Chromium is absent and could not be installed (apt-get needs root, and "
                    "RNNKIT_NO_APT unset): the HTML page is not opened in a browser")
    return found


def open_page(chromium, path, profile):
    done = subprocess.run([chromium, *BROWSER_FLAGS, f"--user-data-dir={profile}",
                           "--dump-dom", path.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done, console


def test_the_page_opens_in_headless_chromium(chromium, tmp_path, text_states):
    _, folder = text_states
    done, console = open_page(chromium, folder / "text.html", tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    assert console == [], console  # no script errors, nothing logged
    pre = re.search(r'<pre id="text">(.*?)</pre>', done.stdout, re.DOTALL).group(1)
    assert html.unescape(re.sub(r"<[^>]+>", "", pre)) == TEXT[:200]
    assert pre.count("<span") == 200 and "rgb(" in pre
    # the check sees a script error when there is one
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><p>x</p><script>undefinedFunction();</script>")
    _, console = open_page(chromium, bad, tmp_path / "profile2")
    assert any("Uncaught ReferenceError" in line for line in console)


def test_heat_map_labels_put_the_feature_units_first():
    from rnnkit.cli.inspect_states import unit_labels

    labels = unit_labels(3, {"inside_quotes": [(3, 0.9), (1, -0.5)],
                             "position_in_line": [(1, 0.2), (4, 0.1)]})
    assert labels == {3: "3 quotes +0.90 *", 1: "1 quotes -0.50", 4: "4 column +0.10"}
