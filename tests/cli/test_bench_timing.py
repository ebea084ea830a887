"""A verdict against a target comes from the repetitions: the median's distribution-free
interval (rnnkit.cli.bench_timing), so that a ratio inside the noise says so."""
import math

import numpy as np
import pytest

from rnnkit.cli.bench_timing import judge, median_interval, ratio_cell


def _coverage(n, k):
    """P(x_(k) <= median <= x_(n+1-k)) for n samples of any continuous distribution."""
    return 1 - 2 * sum(math.comb(n, j) for j in range(k)) / 2 ** n


@pytest.mark.parametrize("n,k", [(6, 1), (8, 1), (9, 2), (11, 2), (15, 4), (41, 14),
                                 (100, 40)])
def test_the_interval_is_the_sign_tests_order_statistics(n, k):
    """The largest k whose interval still holds the median with probability >= 95%: k for
    n = 100 is 40 (the textbook x_(40)..x_(61))."""
    x = np.random.default_rng(n).permutation(np.arange(1.0, n + 1))  # order statistic i = i
    assert median_interval(x) == (k, n + 1 - k)
    assert _coverage(n, k) >= 0.95 > _coverage(n, k + 1)


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_too_few_samples_give_no_interval(n):
    assert median_interval(np.ones(n)) is None


def test_the_interval_holds_the_median_in_95_percent_of_draws():
    rng = np.random.default_rng(0)
    draws = rng.lognormal(0.0, 0.3, size=(4000, 11))  # skewed, like timings; median 1
    held = [low <= 1.0 <= high for low, high in map(median_interval, draws)]
    assert 0.975 < np.mean(held) < 0.997  # 98.8% for n = 11, k = 2


def test_judge_meets_misses_or_says_the_noise():
    ratios = np.array([0.95, 0.97, 0.99, 1.0, 1.01, 1.01, 1.02, 1.02, 1.03, 1.04, 1.1])
    assert judge(ratios, 1.0) == "inside the noise"  # median 1.01 > 1.0, but not clearly
    assert judge(ratios - 0.1, 1.0) == "meets"
    assert judge(ratios + 0.1, 1.0) == "misses"
    assert judge(ratios, 1.04) == "meets"  # the interval's top, 1.04, is within
    assert judge(ratios, 1.04, strict=True) == "inside the noise"
    assert judge(ratios, 0.97) == "inside the noise" and judge(ratios, 0.96) == "misses"


def test_judge_with_too_few_repetitions_says_it_rests_on_the_median():
    assert judge([0.9], 1.0) == "meets at the median, 1 repetition"
    assert judge([1.2, 1.3], 1.0) == "misses at the median, 2 repetitions"


def test_ratio_cell_gives_the_median_and_its_interval():
    assert ratio_cell(np.arange(1.0, 12.0) / 10) == "0.60x (0.20-1.00)"
    assert ratio_cell([0.5, 0.7]) == "0.60x"


def test_a_layer_row_names_the_operations_inside_the_noise_or_missing():
    from rnnkit.cli.bench import _format_row

    noisy = np.array([0.95, 0.97, 0.99, 1.0, 1.01, 1.01, 1.02, 1.02, 1.03, 1.04, 1.1])
    row = {"kind": "lstm", "shape": (64, 100, 128, 128), "train": [0.9, 1.0],
           "forward": [1.01, 1.0], "ratios": {"train": noisy - 0.1, "forward": noisy}}
    cells = [c.strip() for c in _format_row(row).split("|")[1:-1]]
    assert cells[7] == "0.91x (0.87-0.94)" and cells[10] == "1.01x (0.97-1.04)"
    assert cells[-1] == "forward inside the noise"
    row["ratios"]["forward"] = noisy + 0.1
    assert _format_row(row).endswith("| forward misses |")
    row["ratios"]["forward"] = noisy - 0.2
    assert _format_row(row).endswith("| meets |")
    gru = {"kind": "gru", "shape": (1, 2, 3, 4), "train": [2.0, 1.0], "forward": [1.0, 1.0],
           "ratios": {"train": noisy + 1, "forward": noisy}}  # the GRU has no forward target
    assert _format_row(gru).endswith("| train <= 0.6x | train misses |")
