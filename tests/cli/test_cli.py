"""The command line: help, version, the demo, and one-line errors with exit status 2."""
import subprocess
import sys

import rnnkit
from rnnkit.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True,
                          text=True, timeout=300)


def test_version_and_help():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"rnnkit {rnnkit.__version__}"
    r = run_cli("--help")
    assert r.returncode == 0 and "demo" in r.stdout and "bench" in r.stdout
    assert main([]) == 0  # no command: prints help


def test_demo_shows_the_loss_falling():
    r = run_cli("demo", "--epochs", "20")
    assert r.returncode == 0, r.stderr
    losses = [float(line.split()[-1]) for line in r.stdout.splitlines()
              if line.startswith("epoch")]
    assert len(losses) == 3 and losses[-1] < 0.5 * losses[0]
    assert "held-out one-step RMSE" in r.stdout


def test_bad_option_is_one_line_and_exit_2():
    r = run_cli("demo", "--epochs", "0")
    assert r.returncode == 2
    assert r.stderr.strip() == "rnnkit demo: error: --epochs must be at least 1, got 0"
    assert "Traceback" not in r.stderr
    r = run_cli("demo", "--epochs", "many")
    assert r.returncode == 2 and "invalid int value" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("nosuchcommand")
    assert r.returncode == 2 and "invalid choice" in r.stderr
