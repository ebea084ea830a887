"""Sampling: temperature, top-k and exclusion against their definitions (softmax from torch in
float64), the empirical distribution of many draws, and streaming generation with a model."""
import tracemalloc

import numpy as np
import pytest
import torch

from rnnkit.nn.models import SequenceModel
from rnnkit.nn.sampling import generate, sample, sampling_distribution, scaled_logits


def chi2_critical(df: int, z: float = 3.719) -> float:
    """Upper quantile of chi-square(df) by the Wilson-Hilferty approximation; z = 3.719 is the
    normal quantile of 1 - 1e-4 (a test that fails once in 10,000 seeds by chance)."""
    a = 2.0 / (9.0 * df)
    return df * (1.0 - a + z * np.sqrt(a)) ** 3


def assert_draws_follow(draws, p):
    """Pearson's chi-square of the counts of ``draws`` against probabilities ``p``, over the
    entries with p > 0; no draw may fall where p = 0."""
    counts = np.bincount(draws, minlength=len(p))
    assert counts[p == 0].sum() == 0
    expected = len(draws) * p[p > 0]
    stat = ((counts[p > 0] - expected) ** 2 / expected).sum()
    assert stat < chi2_critical(int((p > 0).sum()) - 1), (counts, expected)


def random_logits(rng, rows, V):
    return rng.normal(scale=2.0, size=(rows, V))


def test_distribution_is_softmax_of_logits_over_temperature():
    rng = np.random.default_rng(0)
    for V, T in [(1, 1.0), (2, 0.3), (7, 1.0), (50, 2.5)]:
        z = random_logits(rng, 4, V)
        ref = torch.softmax(torch.tensor(z / T, dtype=torch.float64), dim=-1).numpy()
        np.testing.assert_allclose(sampling_distribution(z, T), ref, rtol=1e-12, atol=1e-15)


def test_top_k_keeps_the_k_most_likely_renormalised():
    rng = np.random.default_rng(1)
    z = random_logits(rng, 5, 12)
    for k in (1, 3, 12, 20):
        p = sampling_distribution(z, 0.7, top_k=k)
        top = np.argsort(-z, axis=-1)[:, : min(k, 12)]  # (5, k)
        kept = np.zeros_like(p, dtype=bool)
        np.put_along_axis(kept, top, True, axis=-1)
        assert ((p > 0) == kept).all()
        ref = torch.softmax(torch.tensor(np.where(kept, z / 0.7, -np.inf)), dim=-1).numpy()
        np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-15)


def test_temperature_to_zero_is_argmax():
    rng = np.random.default_rng(2)
    z = random_logits(rng, 200, 30)
    p = sampling_distribution(z, 1e-9)
    np.testing.assert_array_equal(p.argmax(-1), z.argmax(-1))
    np.testing.assert_allclose(p.max(-1), 1.0)
    for seed in range(5):
        np.testing.assert_array_equal(sample(z, np.random.default_rng(seed), 1e-9),
                                      z.argmax(-1))


def test_top_k_one_is_greedy_at_any_temperature():
    rng = np.random.default_rng(3)
    z = random_logits(rng, 300, 25)
    for T in (0.1, 1.0, 10.0):
        np.testing.assert_array_equal(sample(z, rng, T, top_k=1), z.argmax(-1))


def test_draws_never_leave_the_top_k():
    rng = np.random.default_rng(4)
    for V, k in [(5, 2), (30, 4), (100, 10)]:
        z = random_logits(rng, 1, V)[0]
        draws = sample(np.tile(z, (5000, 1)), rng, 3.0, top_k=k)  # a high T spreads the draws
        assert set(draws.tolist()) <= set(np.argsort(-z)[:k].tolist())
        assert len(set(draws.tolist())) == k  # and every one of them occurs


@pytest.mark.parametrize("T, k", [(1.0, None), (0.6, None), (1.5, 4)])
def test_empirical_distribution_matches(T, k):
    rng = np.random.default_rng(5)
    z = random_logits(rng, 1, 8)[0]
    draws = sample(np.tile(z, (40000, 1)), rng, T, top_k=k)  # (40000,)
    assert_draws_follow(draws, sampling_distribution(z, T, top_k=k))


def test_excluded_ids_are_never_drawn():
    z = np.array([5.0, 0.0, 4.0, 0.5])
    draws = sample(np.tile(z, (2000, 1)), np.random.default_rng(6), exclude=(0, 2))
    assert set(draws.tolist()) == {1, 3}
    assert sample(z, np.random.default_rng(0), top_k=1, exclude=(0,)) == 2  # top-k after
    assert scaled_logits(z, exclude=(0,))[0] == -np.inf


def test_sample_is_reproducible_from_the_rng():
    z = random_logits(np.random.default_rng(7), 50, 10)
    a = sample(z, np.random.default_rng(11))
    np.testing.assert_array_equal(a, sample(z, np.random.default_rng(11)))
    assert (a != sample(z, np.random.default_rng(12))).any()


def test_bad_settings_are_refused():
    z = np.zeros(4)
    rng = np.random.default_rng(0)
    for T in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="temperature"):
            sample(z, rng, T)
    for k in (0, -2, 1.5):
        with pytest.raises(ValueError, match="top_k"):
            sample(z, rng, top_k=k)
    with pytest.raises(ValueError, match="every token"):
        sample(z, rng, exclude=range(4))
    with pytest.raises(ValueError, match="finite"):
        sample(np.array([0.0, np.nan]), rng)
    with pytest.raises(ValueError, match="non-empty"):
        sample(np.zeros((2, 0)), rng)


# --- generation with a model's step ---------------------------------------------------------
def char_model(cell="gru", V=11, seed=0):
    return SequenceModel(cell, vocab_size=V, embedding_dim=6, hidden_size=16, output_size=V,
                         num_layers=2, head="all", dtype="float64", seed=seed).eval()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_greedy_generation_follows_the_full_forward(cell):
    """Greedy ids fed back one step at a time are the argmax of the whole-sequence forward:
    the state carries over exactly between steps."""
    model = char_model(cell)
    prime = [3, 1, 4, 1, 5]
    ids = list(generate(model, prime, 20, rng=np.random.default_rng(0), top_k=1))
    seq = np.array(prime + ids)[None]  # (1, 25)
    logits = model.forward(seq[:, :-1])  # (1, 24, V)
    np.testing.assert_array_equal(logits[0, len(prime) - 1 :].argmax(-1), ids)


def test_generation_is_reproducible_and_seed_dependent():
    model = char_model()

    def run(seed):
        return list(generate(model, [2], 60, rng=np.random.default_rng(seed), temperature=1.3))

    assert run(4) == run(4)
    assert run(4) != run(5)
    assert len(run(4)) == 60 and all(0 <= t < 11 for t in run(4))


def test_generation_memory_does_not_grow_with_length():
    model = char_model()

    def peak(length):
        tracemalloc.start()
        for _ in generate(model, [1, 2], length, rng=np.random.default_rng(0)):
            pass
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    short, long = peak(50), peak(2000)
    assert long < 1.2 * short + 4096, (short, long)


def test_generate_refuses_bad_arguments():
    model, rng = char_model(), np.random.default_rng(0)
    with pytest.raises(ValueError, match="prime"):
        generate(model, [], 5, rng=rng)
    with pytest.raises(ValueError, match="length"):
        generate(model, [1], 0, rng=rng)
    with pytest.raises(ValueError, match="temperature"):
        generate(model, [1], 5, rng=rng, temperature=0)
