"""``rnnkit bench`` on a tiny shape, its option checks, and its error without torch."""
import sys

import pytest

from rnnkit.cli import main

pytest.importorskip("torch")


def test_bench_runs_and_writes_table(tmp_path, capsys):
    out = tmp_path / "bench.md"
    code = main(["bench", "--kinds", "lstm,gru", "--shapes", "2,3,4,5;1,2,1,3", "--repeat", "2",
                 "--warmup", "1", "--out", str(out)])
    assert code == 0
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| lstm") or
            line.startswith("| gru")]
    assert len(rows) == 4
    assert rows[0].startswith("| lstm | 2 | 3 | 4 | 5 |") and rows[0].endswith("x |")
    assert "| lstm | 2 | 3 | 4 | 5 |" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--kinds", "cnn"], ["--shapes", "1,2,3"], ["--repeat", "0"]])
def test_bench_rejects_bad_options(argv, capsys):
    assert main(["bench", *argv]) == 2
    assert "error" in capsys.readouterr().err


def test_bench_without_torch_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    assert main(["bench", "--shapes", "quick"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "pip install 'rnnkit[torch]'" in err
