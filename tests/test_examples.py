"""The scripts in ``examples/`` (one per seed) run to the end and print what they claim."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each seed tutorial's script runs in a subprocess

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TESTED = {"seed_000_shapes.py", "seed_001_lstm_forecast.py", "seed_002_worked_example.py",
          "seed_003_many_to_one.py", "seed_004_sigmoid_rnn.py"}


def run_example(name: str, *args: str) -> str:
    """Run examples/<name> with this interpreter; return its stdout, failing on exit != 0."""
    # One BLAS thread: on a busy machine OpenBLAS threads spinning over these small matrix
    # products make a script 10x slower; the numbers are the same either way.
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


def number_after(label: str, text: str) -> float:
    match = re.search(re.escape(label) + r"\s*([-+0-9.eE]+)", text)
    assert match, f"no {label!r} in the output:\n{text}"
    return float(match.group(1))


def test_every_example_is_tested():
    assert {p.name for p in EXAMPLES.glob("*.py")} == TESTED


def test_seed_000_shapes():
    out = run_example("seed_000_shapes.py")
    for kind in ("RNN", "LSTM"):
        assert (f"{kind}: output sequence length 5, each output shape (5,), "
                "final hidden state shape (1, 20)") in out


def test_seed_001_lstm_forecast():
    out = run_example("seed_001_lstm_forecast.py")
    first, last = re.search(r"training loss: ([0-9.]+) \(epoch 1\) -> ([0-9.]+)", out).groups()
    assert float(last) < float(first) / 5
    # The best constant forecast, the test months' own mean, has RMSE 78.1.
    assert number_after("test RMSE over the last 29 months:", out) < 78
    assert "logits (4, 2)" in out


def test_seed_002_worked_example():
    out = run_example("seed_002_worked_example.py")
    assert "W_xh x_1 = [0.05 0.11 0.17]" in out  # the seed's (0.07, 0.19, 0.31) is wrong
    assert "h_1 = [0.05   0.1096 0.1684]   y_1 = [0.2742 0.0774]" in out


def test_seed_003_many_to_one():
    out = run_example("seed_003_many_to_one.py")
    assert number_after("rnnkit", out) < 1e-6  # BPTT equals finite differences
    assert number_after("seed's recipe", out) > 0.5  # the seed's gradient is wrong
    last = out.strip().splitlines()[-1]
    assert last.startswith("final loss:")
    assert number_after("final loss:", last) < 1e-6


def test_seed_004_sigmoid_rnn():
    out = run_example("seed_004_sigmoid_rnn.py")
    assert number_after("streamed vs full forward, max |difference|:", out) < 1e-12
    assert number_after("next-symbol accuracy from step 2 on:", out) >= 0.99
    generated = re.search(r"generated from the prompt 012: ([0-9]+)", out).group(1)
    assert generated == ("012321" * 8)[:len(generated)] and len(generated) == 43


@pytest.mark.parametrize("name", sorted(TESTED))
def test_example_has_a_docstring_naming_its_seed(name):
    source = (EXAMPLES / name).read_text(encoding="utf-8")
    assert source.startswith(f'"""Seed {name[5:8]}')
