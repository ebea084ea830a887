"""A run killed with SIGKILL at random moments, then continued with ``--resume DIR`` (and
killed again while resuming), ends exactly as the uninterrupted run: the same metrics and
the same weights, bit for bit, and no checkpoint or temporary file left behind. translate
resumes from its checkpoint of the last epoch, classify from the networks of its ensemble
trained so far."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parents[2]
RUNS = {  # command line, runs killed, kills per run
    "translate": (["translate", "--num-pairs", "400", "--epochs", "8", "--hidden", "16",
                   "--beam", "1", "--json"], 8, 3),
    "classify": (["classify", "--members", "4", "--updates", "400", "--hidden", "16",
                  "--json"], 5, 2),
}


def start(argv, cwd):
    return subprocess.Popen([sys.executable, "-m", "rnnkit", *argv], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})


def finish(argv, cwd):
    p = start(argv, cwd)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err.decode()[-2000:]


def outcome(folder: Path):
    metrics = json.loads((folder / "metrics.json").read_text())
    return ({k: v for k, v in metrics.items() if "seconds" not in k},
            load_file(folder / "model.safetensors"))


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(RUNS))
def test_killed_runs_resume_to_the_uninterrupted_result(command, tmp_path):
    argv0, chains, kills_per_chain = RUNS[command]
    t0 = time.monotonic()
    finish([*argv0, "--out", "full"], tmp_path)
    seconds = time.monotonic() - t0
    reference, weights = outcome(tmp_path / "full")
    rng = np.random.default_rng(11)
    kills = 0
    for chain in range(chains):
        folder = f"run{chain}"
        argv = [*argv0, "--out", folder]
        for _ in range(kills_per_chain):
            p = start(argv, tmp_path)
            time.sleep(rng.uniform(0.1, 0.7) * seconds)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
            p.wait(timeout=60)
            if (tmp_path / folder / "command.json").exists():
                argv = [command, "--resume", folder]
            elif (tmp_path / folder / "metrics.json").exists():
                break  # it finished before the kill
            # else killed before the run had saved its command line: start it again
        if (tmp_path / folder / "command.json").exists():
            finish([command, "--resume", folder], tmp_path)
        elif not (tmp_path / folder / "metrics.json").exists():
            finish([*argv0, "--out", folder], tmp_path)
        got, got_weights = outcome(tmp_path / folder)
        assert got == reference, chain
        assert all(np.array_equal(weights[k], got_weights[k]) for k in weights), chain
        left = sorted(p.name for p in (tmp_path / folder).iterdir())
        assert not [n for n in left if n.endswith(".tmp") or n in (
            "checkpoint.safetensors", "command.json", "members")], left
    print(f"{command}: {kills} SIGKILLs in {chains} runs, each resumed to the uninterrupted "
          "result")
    assert kills >= chains  # most kills land in the run


def test_a_diverging_run_exits_1_and_names_its_last_good_checkpoint(tmp_path, monkeypatch,
                                                                     capsys):
    from rnnkit.cli import main
    from rnnkit.train.trainer import Trainer

    weight_sum = Trainer._weight_sum

    def overflow_in_epoch_2(self):  # as if a weight overflowed in the second epoch
        return float("inf") if self.epoch >= 1 else weight_sum(self)

    monkeypatch.setattr(Trainer, "_weight_sum", overflow_in_epoch_2)
    run = tmp_path / "run"
    code = main(["translate", "--num-pairs", "100", "--epochs", "3", "--hidden", "4",
                 "--out", str(run)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 1 and err.startswith("rnnkit translate: training failed: the sum of the "
                                        "weights became inf at epoch 2")
    assert err.endswith(f"(the last good epoch: {run / 'checkpoint.safetensors'})")
    assert (run / "checkpoint.safetensors").is_file()
    monkeypatch.setattr(Trainer, "_weight_sum", lambda self: float("inf"))  # at once
    code = main(["translate", "--num-pairs", "100", "--epochs", "3", "--hidden", "4",
                 "--out", str(tmp_path / "other")])
    assert code == 1 and not (tmp_path / "other").exists()  # nothing worth keeping
