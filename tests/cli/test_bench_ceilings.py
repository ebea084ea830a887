"""``rnnkit bench``'s section on missed layer targets: the products' GFLOP of a layer, the
rates a target asks, and the ceiling measured on this machine."""
import numpy as np
import pytest

from rnnkit.cli import bench, bench_ceilings, main
from rnnkit.cli.bench_ceilings import ceiling_lines, layer_flops, missed


def _mm(m, k, n):
    """Floating-point operations of an (m x k)(k x n) product."""
    return 2.0 * m * k * n


@pytest.mark.parametrize("kind,G", [("rnn", 1), ("gru", 3), ("lstm", 4)])
def test_layer_flops_counts_each_product_of_the_forward_and_backward(kind, G):
    B, T, I, H = 6, 5, 3, 7
    R = B * T  # rows of the products over all steps
    forward = _mm(R, I, G * H) + T * _mm(B, H, G * H)  # x W_ih^T, then h_{t-1} W_hh^T a step
    backward = (T * _mm(B, G * H, H)  # dG_t W_hh a step
                + _mm(R, G * H, I)  # dx = dG W_ih
                + _mm(I, R, G * H) + _mm(H, R, G * H))  # dW_ih = x^T dG, dW_hh = h^T dG
    assert layer_flops(kind, B, T, I, H, "forward") == forward
    assert layer_flops(kind, B, T, I, H, "train") == forward + backward


def _row(kind, shape, train, forward):
    """A layer-table row as ``bench.benchmark`` makes it: (rnnkit, torch) seconds per op."""
    return {"kind": kind, "shape": shape, "train": train, "forward": forward}


def test_only_the_missed_targets_get_a_line_with_the_rate_they_ask():
    shape = (64, 100, 256, 512)
    rows = [_row("lstm", shape, (0.2, 0.16), (0.05, 0.06)),  # train 1.25x misses, fwd meets
            _row("gru", shape, (0.09, 0.2), (0.3, 0.1)),  # train 0.45x meets (no fwd target)
            _row("rnn", shape, (0.05, 0.05), (0.01, 0.02))]  # train 1.0x misses 0.6x
    assert [(r["kind"], op) for r, op, _ in missed(rows, bench.TARGETS)] == [
        ("lstm", "train"), ("rnn", "train")]
    lines = ceiling_lines(rows, bench.TARGETS, {"numpy": 400.0, "torch.mm": 500.0})
    assert len(lines) == 2
    cells = [c.strip() for c in lines[0].strip("|").split("|")]
    flops = layer_flops("lstm", *shape, "train")
    assert cells[:4] == ["lstm", "64, 100, 256, 512", "train",
                         "misses at the median, 1 repetition"]  # no ratios: the medians'
    assert float(cells[4]) == pytest.approx(flops / 1e9, abs=0.005)
    assert float(cells[5]) == pytest.approx(flops / 0.2 / 1e9, abs=0.5)  # rnnkit's rate
    assert float(cells[6]) == pytest.approx(flops / 0.16 / 1e9, abs=0.5)  # torch's
    assert float(cells[7]) == pytest.approx(flops / 0.16 / 1e9, abs=0.5)  # 1.0x torch's time
    assert cells[8] == f"{100 * flops / 0.16 / 1e9 / 500:.0f}%"  # of the faster ceiling
    rnn = [c.strip() for c in lines[1].strip("|").split("|")]
    asks = layer_flops("rnn", *shape, "train") / (0.6 * 0.05)  # 0.6x of torch's time
    assert float(rnn[7]) == pytest.approx(asks / 1e9, abs=0.5)


def test_a_target_inside_the_noise_gets_a_line_too():
    """Paired ratios whose interval holds the limit: not met, so the rate it asks is shown."""
    shape = (64, 100, 128, 128)
    noisy = np.array([0.95, 0.97, 0.99, 1.0, 1.01, 1.01, 1.02, 1.02, 1.03, 1.04, 1.1]) - 0.02
    row = dict(_row("lstm", shape, (0.0099, 0.01), (0.004, 0.005)),
               ratios={"train": noisy, "forward": noisy - 0.2})  # median 0.99x: not clearly
    assert [op for _, op, _ in missed([row], bench.TARGETS)] == ["train"]
    line = ceiling_lines([row], bench.TARGETS, {"numpy": 400.0})[0]
    assert "| train | inside the noise |" in line


def test_gemm_ceiling_measures_the_three_products():
    torch = pytest.importorskip("torch")
    rates = bench_ceilings.gemm_ceiling(torch, repeat=1, warmup=0, n=64)
    assert set(rates) == {"numpy", "torch.mm", "rnnkit"}
    assert all(0 < r < 1e6 for r in rates.values())  # GFLOP/s: positive and finite


def test_bench_writes_the_section_for_missed_targets(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setitem(bench.TARGETS, "lstm", {"train": 1e-9, "forward": 1e-9})  # all miss
    monkeypatch.setitem(bench.TARGETS, "gru", {"train": 1e9})  # all meet
    monkeypatch.setattr(bench_ceilings, "CEILING_N", 64)  # a quick ceiling
    out = tmp_path / "bench.md"
    assert main(["bench", "--sections", "layers", "--kinds", "lstm,gru", "--shapes", "2,3,4,5",
                 "--repeat", "1", "--warmup", "0", "--out", str(out)]) == 0
    text = out.read_text()
    section = text.split("## What the missed targets ask")[1]
    lines = [line for line in section.splitlines() if line.startswith("| lstm |")]
    assert [line.split("|")[3].strip() for line in lines] == ["train", "forward"]
    assert "| gru |" not in section  # met: no line
    assert "64^3 product on this machine, in GFLOP/s: numpy " in section


def test_bench_says_when_every_layer_target_is_met(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setitem(bench.TARGETS, "lstm", {"train": 1e9, "forward": 1e9})
    out = tmp_path / "bench.md"
    assert main(["bench", "--sections", "layers", "--kinds", "lstm", "--shapes", "2,3,4,5",
                 "--repeat", "1", "--warmup", "0", "--out", str(out)]) == 0
    section = out.read_text().split("## What the missed targets ask")[1]
    assert section.strip() == "Every layer row meets its target."
