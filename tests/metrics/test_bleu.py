"""Corpus BLEU against cases worked out from the definition (Papineni et al. 2002), an
independent brute-force count, and sacrebleu / nltk when they happen to be installed."""
import math

import numpy as np
import pytest

from rnnkit.metrics.bleu import bleu_statistics, corpus_bleu, ngrams


def brute_force_bleu(hypotheses, references, max_n=4):
    """The definition, counted naively: every n-gram of a hypothesis is matched against the
    reference's n-grams, each reference n-gram used at most once."""
    matched, total, c, r = [0] * max_n, [0] * max_n, 0, 0
    for hyp, ref in zip(hypotheses, references):
        c, r = c + len(hyp), r + len(ref)
        for n in range(1, max_n + 1):
            pool = [tuple(ref[i:i + n]) for i in range(len(ref) - n + 1)]
            for i in range(len(hyp) - n + 1):
                total[n - 1] += 1
                if tuple(hyp[i:i + n]) in pool:
                    pool.remove(tuple(hyp[i:i + n]))
                    matched[n - 1] += 1
    if min(matched) == 0:
        return 0.0
    geometric = math.prod(m / t for m, t in zip(matched, total)) ** (1 / max_n)
    return geometric * (1.0 if c > r else math.exp(1 - r / c))


def test_papineni_modified_unigram_precision():
    """The paper's example: 'the' seven times against a reference with two 'the's gives a
    modified unigram precision of 2/7."""
    hyp = "the the the the the the the".split()
    ref = "the cat is on the mat".split()
    matches, totals, c, r = bleu_statistics(hyp, ref)
    assert (matches[0], totals[0]) == (ref.count("the"), len(hyp))
    assert (c, r) == (len(hyp), len(ref))
    assert corpus_bleu([hyp], [ref]) == 0.0  # no matching bigram: BLEU without smoothing is 0


def test_identical_corpus_scores_one():
    refs = [list("1998-03-03"), "a b c d e".split()]
    assert corpus_bleu(refs, refs) == 1.0


def test_one_substitution_at_the_end():
    """hyp abcde vs ref abcdf: n-grams ending in e miss, so the precisions are
    (5 - n) / (6 - n) for n = 1..4, and equal lengths give no brevity penalty."""
    precisions = [(5 - n) / (6 - n) for n in range(1, 5)]
    expected = math.prod(precisions) ** 0.25
    assert corpus_bleu([list("abcde")], [list("abcdf")]) == pytest.approx(expected, rel=1e-15)


def test_brevity_penalty():
    """A correct prefix has every precision 1, so BLEU = exp(1 - r/c) when c < r; a longer
    hypothesis is not penalised for its length (only through its precisions)."""
    ref = list("abcdefgh")
    assert corpus_bleu([ref[:6]], [ref]) == pytest.approx(math.exp(1 - 8 / 6), rel=1e-15)
    matches, totals, _, _ = bleu_statistics(ref + ["x"], ref)
    expected = math.prod(m / t for m, t in zip(matches, totals)) ** 0.25
    assert corpus_bleu([ref + ["x"]], [ref]) == pytest.approx(expected, rel=1e-15)


def test_corpus_level_is_not_the_mean_of_sentence_scores():
    """Statistics are pooled: a short sentence without 4-gram matches scores 0 alone, but
    the corpus still scores above 0."""
    hyps, refs = [list("abcdef"), list("xyz")], [list("abcdef"), list("xyw")]
    assert corpus_bleu(hyps[1:], refs[1:]) == 0.0
    assert corpus_bleu(hyps, refs) > 0.0
    assert corpus_bleu(hyps, refs) == pytest.approx(brute_force_bleu(hyps, refs), rel=1e-15)


def test_matches_brute_force_on_random_corpora():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 6))
        refs = [list(rng.integers(0, 4, int(rng.integers(1, 12)))) for _ in range(n)]
        hyps = [list(rng.integers(0, 4, int(rng.integers(0, 12)))) for _ in range(n)]
        assert corpus_bleu(hyps, refs) == pytest.approx(brute_force_bleu(hyps, refs),
                                                        rel=1e-12, abs=0)


def test_ngrams_and_errors():
    assert ngrams(list("abab"), 2) == {("a", "b"): 2, ("b", "a"): 1}
    assert corpus_bleu([[]], [list("abc")]) == 0.0  # an empty output
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        corpus_bleu([["a"], ["b"]], [["a"]])
    with pytest.raises(ValueError, match="empty corpus"):
        corpus_bleu([], [])


def test_agrees_with_nltk():
    bleu_score = pytest.importorskip("nltk.translate.bleu_score")
    rng = np.random.default_rng(1)
    refs = [[str(t) for t in rng.integers(0, 5, 12)] for _ in range(20)]
    hyps = [r[:10] + [str(t) for t in rng.integers(0, 5, 3)] for r in refs]
    theirs = bleu_score.corpus_bleu([[r] for r in refs], hyps)
    assert corpus_bleu(hyps, refs) == pytest.approx(theirs, rel=1e-12)


def test_agrees_with_sacrebleu():
    sacrebleu = pytest.importorskip("sacrebleu")
    rng = np.random.default_rng(2)
    refs = [[str(t) for t in rng.integers(0, 5, 12)] for _ in range(20)]
    hyps = [r[:10] + [str(t) for t in rng.integers(0, 5, 3)] for r in refs]
    theirs = sacrebleu.corpus_bleu([" ".join(h) for h in hyps], [[" ".join(r) for r in refs]],
                                   tokenize="none", smooth_method="none").score / 100
    assert corpus_bleu(hyps, refs) == pytest.approx(theirs, rel=1e-9)
