"""--engine torch: the same model trained by PyTorch, on one process and under torchrun with
two processes (DistributedDataParallel over gloo on loopback); the result loads back into
rnnkit and predicts as well as a one-process run."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnnkit
from rnnkit.cli.common import load_run

pytestmark = pytest.mark.slow  # whole runs of the commands, two-process DDP

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def series_csv(tmp_path_factory):
    t = np.arange(400)
    y = 10 + np.sin(2 * np.pi * t / 20) + 0.5 * np.sin(2 * np.pi * t / 7) \
        + 0.05 * np.random.default_rng(0).standard_normal(400)
    path = tmp_path_factory.mktemp("data") / "series.csv"
    path.write_text("t,value\n" + "\n".join(f"{i},{v:.6f}" for i, v in zip(t, y)) + "\n")
    return path


def forecast_args(csv, out):
    return ["forecast", "--csv", str(csv), "--column", "value", "--horizon", "5",
            "--window", "20", "--period", "20", "--members", "1", "--updates", "100",
            "--hidden", "16", "--lr", "1e-2", "--engine", "torch", "--out", str(out), "--json"]


def run(cmd, **kw):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, **kw)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def one_process(series_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    return out, run([sys.executable, "-m", "rnnkit", *forecast_args(series_csv, out)])


def test_torch_engine_trains_and_saves_an_rnnkit_model(one_process):
    out, metrics = one_process
    model, task = load_run(out)
    assert isinstance(model, rnnkit.Module) and task["command"] == "forecast"
    assert metrics["metrics"]["mase"] < metrics["baselines"]["naive"]["mase"]


def test_torchrun_two_processes_match_one_process(series_csv, one_process, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun, "torchrun is installed with torch"
    out = tmp_path / "ddp"
    metrics = run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "rnnkit",
                   *forecast_args(series_csv, out)])
    single = one_process[1]
    assert metrics["metrics"]["rmse"] <= 1.5 * single["metrics"]["rmse"] + 0.05
    model, _ = load_run(out)  # loads back into rnnkit ...
    r = subprocess.run([sys.executable, "-m", "rnnkit", "predict", "--model", str(out),
                        "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr  # ... and predicts
    files = sorted(p.name for p in out.iterdir())
    assert "model.safetensors" in files and not any(f.endswith(".tmp") for f in files)


def test_translate_torch_engine_follows_the_numpy_engine(tmp_path):
    """The encoder-decoder trained in torch (same initial weights, batches and Adam) ends
    where rnnkit's own training ends, and is saved and reloaded as an rnnkit Seq2Seq."""
    from rnnkit.nn.seq2seq import Seq2Seq

    results = {}
    for engine in ("numpy", "torch"):
        out = tmp_path / engine
        results[engine] = run([sys.executable, "-m", "rnnkit", "translate", "--num-pairs",
                               "600", "--epochs", "12", "--hidden", "32", "--engine", engine,
                               "--out", str(out), "--json"])
        assert isinstance(load_run(out)[0], Seq2Seq)
    np.testing.assert_allclose(results["torch"]["val_loss"], results["numpy"]["val_loss"],
                               rtol=1e-3)
    assert results["torch"]["bleu"] > 0.5


def test_textgen_torch_engine_follows_the_numpy_engine(tmp_path):
    """Truncated BPTT in torch (state carried across windows, detached) ends where rnnkit's
    own training ends."""
    text = tmp_path / "fox.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 200)
    results = {}
    for engine in ("numpy", "torch"):
        results[engine] = run([sys.executable, "-m", "rnnkit", "textgen", "--text", str(text),
                               "--epochs", "3", "--hidden", "32", "--seq-len", "20",
                               "--batch-size", "8", "--engine", engine,
                               "--out", str(tmp_path / engine), "--json"])
    np.testing.assert_allclose(results["torch"]["val_loss"], results["numpy"]["val_loss"],
                               rtol=1e-3)
    assert results["torch"]["val_loss"] < 0.2 * results["torch"]["bigram_val_loss"]


def test_classify_torch_engine_follows_the_numpy_engine(tmp_path):
    results = {}
    for engine in ("numpy", "torch"):
        results[engine] = run([sys.executable, "-m", "rnnkit", "classify", "--updates", "300",
                               "--members", "1",
                               "--engine", engine, "--out", str(tmp_path / engine), "--json"])
    assert results["torch"]["test_accuracy"] > 0.85
    assert abs(results["torch"]["test_accuracy"] - results["numpy"]["test_accuracy"]) < 0.03


def test_torch_engine_time_limit_stops_after_an_epoch(series_csv, tmp_path):
    args = forecast_args(series_csv, tmp_path / "t")
    args[args.index("--updates") + 1] = "4000"
    metrics = run([sys.executable, "-m", "rnnkit", *args, "--max-minutes", "1e-9"])
    assert [m["epochs"] for m in metrics["training"]["members"]] == [1]
    assert "time limit" in metrics["training"]["stop_reason"]


def test_engine_torch_without_torch_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    import importlib.util

    from rnnkit.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    code = main(["forecast", "--engine", "torch", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'rnnkit[torch]'" in err and not (tmp_path / "o").exists()


def test_checkpoints_of_a_torch_engine_run_hold_its_current_weights(tmp_path):
    import rnnkit
    from rnnkit.interop.torch_engine import TorchEngine
    from rnnkit.train.tasks import SupervisedTask

    model = rnnkit.SequenceModel("gru", input_size=1, hidden_size=4, output_size=1, seed=0)
    loss = rnnkit.MSELoss()
    opt = rnnkit.Adam(model, lr=1e-2)
    engine = TorchEngine(model, loss, SupervisedTask(loss), optimizer=opt, seed=0)
    ckpt = tmp_path / "run.safetensors"
    trainer = rnnkit.Trainer(model, loss, opt, engine=engine, progress=False,
                             callbacks=[rnnkit.ModelCheckpoint(ckpt)])
    x = np.random.default_rng(0).standard_normal((16, 5, 1)).astype(np.float32)
    trainer.fit((x, x[:, -1]), epochs=2, batch_size=8, verbose=False)
    saved = rnnkit.load(ckpt)
    for k, v in engine.state_dict().items():
        np.testing.assert_array_equal(saved.params[k], v)


@pytest.mark.parametrize("options", [{}, {"ignore_index": 2}, {"label_smoothing": 0.2}])
def test_torch_engine_loss_is_the_rnnkit_loss(options):
    import torch

    from rnnkit.interop.torch_engine import _loss_fn
    from rnnkit.nn.losses import CrossEntropyLoss
    rng = np.random.default_rng(0)
    logits, target = rng.standard_normal((2, 5, 4)), rng.integers(0, 4, size=(2, 5))
    loss = CrossEntropyLoss(**options)
    ours = _loss_fn(torch, loss)(torch.tensor(logits), torch.tensor(target))
    assert abs(float(ours) - loss.forward(logits, target)) < 1e-12
