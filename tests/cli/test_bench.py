"""``rnnkit bench``: each section on tiny shapes, the option checks, the error without torch."""
import re
import sys

import pytest

from rnnkit.cli import main

pytest.importorskip("torch")


def test_bench_runs_and_writes_table(tmp_path, capsys):
    out = tmp_path / "bench.md"
    code = main(["bench", "--sections", "layers", "--kinds", "lstm,gru", "--shapes",
                 "2,3,4,5;1,2,1,3", "--repeat", "2", "--warmup", "1", "--out", str(out)])
    assert code == 0
    text = out.read_text()
    layers = text.split("## What the missed targets ask")[0]  # timing decides if it follows
    rows = [line for line in layers.splitlines() if line.startswith("| lstm") or
            line.startswith("| gru")]
    assert len(rows) == 4
    assert rows[0].startswith("| lstm | 2 | 3 | 4 | 5 |")
    # two repetitions: no interval, so the verdict says that it rests on the median
    assert re.search(r"x \| train <= 1\.0x, forward <= 1\.0x \| .*at the median, 2 repetitions \|$",
                     rows[0])
    assert re.search(r"\| train <= 0\.6x \| (meets|train misses) at the median, 2 repetitions \|$",
                     rows[2])
    assert "| lstm | 2 | 3 | 4 | 5 |" in capsys.readouterr().out
    # the malloc setting changes both libraries' times (rnnkit.core.memory): the header says it
    from rnnkit.core import memory
    said = {"applied": "glibc keeps freed memory", "user": "as the user set it",
            "unavailable": "as the C library has it"}[memory.applied]
    assert said in text


@pytest.mark.parametrize("argv", [["--kinds", "cnn"], ["--shapes", "1,2,3"], ["--repeat", "0"]])
def test_bench_rejects_bad_options(argv, capsys):
    assert main(["bench", *argv]) == 2
    assert "error" in capsys.readouterr().err


def test_bench_without_torch_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    assert main(["bench", "--shapes", "quick"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "pip install 'rnnkit[torch]'" in err


def test_bench_sections_model_and_stream(tmp_path, capsys):
    """The model and streaming sections, tiny and once: rows with their targets."""
    out = tmp_path / "bench.md"
    code = main(["bench", "--sections", "model,stream", "--model-shapes", "2,3,2,4;1,1,1,2",
                 "--repeat", "1", "--warmup", "0", "--stream-steps", "2", "--out", str(out)])
    assert code == 0
    text = out.read_text()
    assert "## Layers" not in text and "## A model's training step" in text
    rows = [line for line in text.splitlines() if line.startswith("| lstm (")]
    assert rows[0].startswith("| lstm (2, 3, 2, 4) |") and rows[1].startswith("| lstm (1, 1,")
    assert all(row.endswith(("| meets at the median, 1 repetition |",
                             "| misses at the median, 1 repetition |")) for row in rows[:2])
    stream = [line for line in text.splitlines() if line.startswith(("| lstm (64)",
                                                                     "| gru (256)"))]
    assert len(stream) == 4  # latency and memory rows
    assert "| < 5 us |" in stream[0] and stream[-1].endswith(("| yes |", "| no |"))


def test_bench_commands_section_times_each_command_default_update():
    """Each command runs to its first update; both engines then repeat that update."""
    from rnnkit.cli import bench_sections

    rows = bench_sections.commands(bench_sections.COMMANDS, repeat=1, warmup=0,
                                   argv=["--hidden", "4"], log=lambda row: None)
    assert [row.split(":")[0] for row in rows] == ["| forecast", "| classify", "| textgen",
                                                   "| translate"]
    assert "Seq2Seq gru(4)" in rows[3] and "SequenceModel lstm(4), x (32, 100)" in rows[2]
    assert all(row.endswith(("| meets at the median, 1 repetition |",
                             "| misses at the median, 1 repetition |")) for row in rows)


def test_bench_capture_restores_the_engine():
    from rnnkit.cli import bench_sections
    from rnnkit.train.engine import NumpyEngine

    forward = NumpyEngine.forward
    engine, batch = bench_sections.capture("forecast", ["--hidden", "3"])
    assert NumpyEngine.forward is forward
    assert engine.model.config()["hidden_size"] == 3 and batch["x"].shape[0] == 32


@pytest.mark.parametrize("argv", [["--sections", "gpu"], ["--model-shapes", "1,2"],
                                  ["--commands", "plot"], ["--stream-steps", "0"]])
def test_bench_rejects_bad_section_options(argv, capsys):
    assert main(["bench", *argv]) == 2
    assert "error" in capsys.readouterr().err


def test_bench_times_both_forward_passes_as_inference(monkeypatch):
    """torch's forward runs under no_grad, so rnnkit's runs under rnnkit's: no cache kept."""
    import torch

    from rnnkit.cli import bench
    from rnnkit.nn import module

    from rnnkit.nn.recurrent import LAYERS

    seen, forward = [], LAYERS["lstm"].forward

    def spy(self, *args, **kwargs):
        seen.append(module.grad_enabled())
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(LAYERS["lstm"], "forward", spy)
    workloads = bench._pair(torch, "lstm", 2, 3, 4, 5)
    seen.clear()
    workloads["forward"][0]()
    workloads["train"][0]()
    assert seen == [False, True]  # the forward pass keeps nothing; the training step does


def test_the_engines_updates_are_interleaved_as_they_are():
    """torch's remedy for subnormal floats is set once, before the first timing (tests/
    interop/test_torch_engine_unit.py); the engines' updates then run as they are."""
    from rnnkit.cli import bench_sections

    calls = []

    class Engine:
        def __init__(self, name):
            self.name = name

        def forward(self, batch, carry, train):
            calls.append(self.name)

        def update(self):
            pass

    ours, theirs = bench_sections._engine_row(Engine("rnnkit"), Engine("torch"), {}, 2, 1)
    assert len(ours) == len(theirs) == 2
    assert "rnnkit" in calls and "torch" in calls


def test_interleaved_absorbs_each_switch_with_untimed_calls():
    """Each turn starts with untimed calls for ``absorb`` seconds (at least one call), so that
    the other library's spinning threads are idle before the timed call."""
    import time

    from rnnkit.cli.bench_timing import interleaved

    calls = {"a": 0, "b": 0}

    def make(name):
        def fn():
            calls[name] += 1
            time.sleep(0.001)
        return fn

    times = interleaved([make("a"), make("b")], repeat=3, warmup=1, absorb=0.01)
    assert [len(t) for t in times] == [3, 3]
    assert calls["a"] >= 4 * (1 + 5)  # per turn: ~10 untimed calls of 1 ms, then the timed one
    calls.update(a=0, b=0)
    interleaved([make("a"), make("b")], repeat=3, warmup=1, absorb=0.0)
    assert calls == {"a": 8, "b": 8}  # one untimed call and the timed one per turn


def test_bench_repeats_31_times_by_default():
    """31 paired ratios by default: the median's 95% interval is their 10th to 22nd, which
    a lead of 3% with a spread of +-5% clears and 11 repetitions (2nd to 10th) do not."""
    import argparse

    import numpy as np

    from rnnkit.cli import bench
    from rnnkit.cli.bench_timing import REPEAT, judge, median_interval

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    assert parser.parse_args([]).repeat == REPEAT == 31
    ranks = np.arange(1.0, REPEAT + 1)
    assert median_interval(ranks) == (10.0, 22.0)
    def spread(n):  # ratios 0.97 +- 0.05, evenly spread
        return 0.97 + 0.1 * (np.arange(n) + 0.5) / n - 0.05
    assert judge(spread(31), 1.0) == "meets"
    assert judge(spread(11), 1.0) == "inside the noise"
