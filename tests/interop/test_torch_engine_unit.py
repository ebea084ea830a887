"""--engine torch without a training run: torch's subnormal floats are flushed from the
engine's creation to the command's end (``torch_engine.flush_subnormals``)."""
import pytest

from rnnkit.cli import main
from rnnkit.cli.common import TrainingOptions, torch_engine
from rnnkit.interop import torch_engine as engine_module
from rnnkit.nn.losses import MSELoss
from rnnkit.train.tasks import SupervisedTask

torch = pytest.importorskip("torch")


@pytest.fixture
def modes(monkeypatch):
    """The modes torch.set_flush_denormal is asked for, without changing this thread's."""
    calls = []
    monkeypatch.setattr(torch, "set_flush_denormal", lambda mode: calls.append(mode) or True)
    monkeypatch.setattr(engine_module, "_flushed", False)
    return calls


def test_the_torch_engine_factory_flushes_subnormals_before_torch_runs(modes):
    options = TrainingOptions(seed=0, hidden=4, layers=1, cell="lstm", bidirectional=False,
                              lr=1e-3, max_minutes=None, engine="torch")
    torch_engine(options, MSELoss(), SupervisedTask(MSELoss()), 1.0)
    assert modes == [True]  # on creating the factory, before any engine touches torch
    engine_module.restore_subnormals()
    engine_module.restore_subnormals()  # once only
    assert modes == [True, False]


def test_the_command_ends_with_the_threads_default_mode_back(modes, monkeypatch):
    from rnnkit.cli import bench

    monkeypatch.setattr(bench, "benchmark", lambda *a, **k: modes.append("layers") or [])
    assert main(["bench", "--sections", "layers"]) == 0
    assert modes == [True, "layers", False]
    assert main(["bench", "--kinds", "cnn"]) == 2  # refused before torch: nothing to restore
    assert modes == [True, "layers", False]


def test_a_command_run_inside_another_leaves_the_mode_to_the_outer_one(modes, monkeypatch):
    """rnnkit bench runs each command in-process up to its first update: the command's end
    must not take back the bench's flushing, which the bench's torch updates still need."""
    from rnnkit.cli import bench

    depth = []

    def layers(*args, **kwargs):
        depth.append(1)
        if len(depth) == 1:  # the outer bench runs an inner command, as it runs each command
            assert main(["bench", "--sections", "layers"]) == 0
            modes.append("inner done")
        return []

    monkeypatch.setattr(bench, "benchmark", layers)
    assert main(["bench", "--sections", "layers"]) == 0
    assert modes == [True, True, "inner done", False]  # restored once, by the outer command
