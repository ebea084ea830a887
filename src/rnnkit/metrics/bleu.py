"""Corpus BLEU (Papineni, Roukos, Ward & Zhu, "BLEU: a Method for Automatic Evaluation of
Machine Translation", ACL 2002), one reference per hypothesis, no smoothing.

    p_n  = sum over sentences of clipped n-gram matches / sum of hypothesis n-grams
           (clipped: an n-gram counts at most as often as it occurs in the reference)
    BP   = 1 if c > r else exp(1 - r / c)      c, r: total hypothesis and reference lengths
    BLEU = BP * exp(sum_{n=1..N} (1/N) log p_n)          N = 4; 0 if some p_n is 0

Sentences are sequences of tokens (words, or characters for a character-level model).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def ngrams(tokens: Sequence, n: int) -> Counter:
    """Counts of the n-grams (as tuples) of one sentence."""
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def bleu_statistics(hypothesis: Sequence, reference: Sequence, max_n: int = 4):
    """(matches[n-1], totals[n-1]) for n = 1..max_n, and the lengths (c, r) of one pair."""
    matches, totals = [], []
    for n in range(1, max_n + 1):
        hyp, ref = ngrams(hypothesis, n), ngrams(reference, n)
        matches.append(sum(min(count, ref[g]) for g, count in hyp.items()))
        totals.append(max(len(hypothesis) - n + 1, 0))
    return matches, totals, len(hypothesis), len(reference)


def corpus_bleu(hypotheses: Sequence[Sequence], references: Sequence[Sequence],
                max_n: int = 4) -> float:
    """Corpus BLEU-``max_n`` in [0, 1] of token sequences against one reference each.

    The n-gram statistics are summed over the corpus before the precisions are taken (not
    an average of sentence scores).
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        raise ValueError("BLEU of an empty corpus is undefined")
    matches, totals, c, r = [0] * max_n, [0] * max_n, 0, 0
    for hyp, ref in zip(hypotheses, references):
        m, t, hc, hr = bleu_statistics(list(hyp), list(ref), max_n)
        matches = [a + b for a, b in zip(matches, m)]
        totals = [a + b for a, b in zip(totals, t)]
        c, r = c + hc, r + hr
    if c == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if c > r else math.exp(1.0 - r / c)
    return brevity * math.exp(log_precision)
