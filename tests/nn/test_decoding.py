"""Greedy and beam-search decoding: beam 1 is greedy, a wide beam finds the best sequence
by exhaustive search, chunking changes nothing, and a small model learns to reverse."""
import itertools

import numpy as np
import pytest

from rnnkit.nn.decoding import beam_search, greedy_decode, translate_ids
from rnnkit.nn.losses import CrossEntropyLoss, log_softmax
from rnnkit.nn.seq2seq import Seq2Seq, shift_right
from rnnkit.train.batches import ArrayData
from rnnkit.train.optim import Adam
from rnnkit.train.tasks import TeacherForcingTask
from rnnkit.train.trainer import Trainer

BOS, EOS = 2, 3


def random_model(seed, V_tgt=8, eos_bias=2.0, cell="gru"):
    """An untrained model whose outputs differ between sources and in length."""
    model = Seq2Seq(9, V_tgt, embedding_dim=4, hidden_size=6, cell=cell, dtype="float64",
                    seed=seed).eval()
    model.params["src_embedding.weight"][...] *= 3.0  # inputs that move the states
    model.params["tgt_embedding.weight"][...] *= 3.0
    model.params["out.weight"][...] *= 12.0  # peaked next-token distributions
    model.params["out.bias"][EOS] += eos_bias  # how soon <eos> becomes likely
    return model


def sources(seed, B=6, Ts=5):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, Ts + 1, B)  # (B,)
    src = rng.integers(1, 9, (B, Ts))  # (B, Ts)
    src[np.arange(Ts)[None, :] >= lengths[:, None]] = 0
    return src, lengths


def sequence_log_prob(model, src, length, tokens):
    """sum_t log p(y_t | y_<t, x) of tokens + <eos> by teacher forcing (one source)."""
    y = np.array([list(tokens) + [EOS]])  # (1, T)
    logits = model.forward(src[None, :length], np.array([length]), shift_right(y, BOS))
    logp = log_softmax(logits[0])  # (T, V)
    return float(logp[np.arange(y.shape[1]), y[0]].sum())


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_beam_one_is_greedy(seed, cell):
    model = random_model(seed, cell=cell)
    src, lengths = sources(1, B=12)
    greedy, weights = greedy_decode(model, src, lengths, bos=BOS, eos=EOS, max_len=7)
    beam = beam_search(model, src, lengths, bos=BOS, eos=EOS, max_len=7, beam=1)
    assert beam == greedy
    assert len({tuple(out) for out in greedy}) > 1  # the sources are told apart
    assert all(EOS not in out for out in greedy)
    for out, w, n in zip(greedy, weights, lengths):
        assert w.shape == (min(len(out) + 1, 7), n)  # one row per token, <eos> included
        np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_a_beam_wider_than_the_search_space_finds_the_best_sequence():
    """With max_len 3 and 7 non-<eos> tokens there are 1 + 7 + 49 finished sequences and at
    most 7^3 partial ones; a beam of 400 keeps them all, so it must return the sequence with
    the best length-normalised log-probability, found here by enumerating every one."""
    model = random_model(0)
    src, lengths = sources(3, B=4)
    found = beam_search(model, src, lengths, bos=BOS, eos=EOS, max_len=3, beam=400)
    assert len({tuple(f) for f in found}) > 1
    others = [v for v in range(8) if v != EOS]
    for b in range(4):
        candidates = [c for n in range(3) for c in itertools.product(others, repeat=n)]
        scores = [sequence_log_prob(model, src[b], lengths[b], c) / (len(c) + 1)
                  for c in candidates]
        assert tuple(found[b]) == candidates[int(np.argmax(scores))]


@pytest.mark.parametrize("beam", [1, 3])
def test_chunks_do_not_change_the_result(beam):
    model = random_model(0)
    src, lengths = sources(7, B=7)
    whole = translate_ids(model, src, lengths, bos=BOS, eos=EOS, max_len=5, beam=beam)
    parts = translate_ids(model, src, lengths, bos=BOS, eos=EOS, max_len=5, beam=beam,
                          chunk=2)
    assert whole == parts and len(whole) == 7
    with pytest.raises(ValueError, match="beam must be at least 1"):
        translate_ids(model, src, lengths, bos=BOS, eos=EOS, max_len=5, beam=0)


@pytest.mark.slow
def test_a_small_model_learns_to_reverse_sequences():
    """Reverse strings of 2-6 letters: greedy and beam decoding of held-out sources."""
    rng = np.random.default_rng(0)
    n, T = 1200, 6
    lengths = rng.integers(2, T + 1, n)
    src = rng.integers(4, 10, (n, T))  # letters are ids 4..9 in both vocabularies
    src[np.arange(T)[None, :] >= lengths[:, None]] = 0
    y = np.zeros((n, T + 1), np.int64)  # reversed letters + <eos>, zero-padded
    for i, k in enumerate(lengths):
        y[i, :k], y[i, k] = src[i, :k][::-1], EOS
    model = Seq2Seq(10, 10, embedding_dim=8, hidden_size=32, seed=0)
    loss = CrossEntropyLoss(ignore_index=0)
    trainer = Trainer(model, loss, Adam(model, lr=1e-2), task=TeacherForcingTask(loss, BOS),
                      clip_norm=1.0, progress=False, seed=0)
    trainer.fit(ArrayData(src[:1000], y[:1000], lengths[:1000]), epochs=12, batch_size=32,
                verbose=False)
    model.eval()
    test, test_len = src[1000:], lengths[1000:]
    wanted = [list(s[:k][::-1]) for s, k in zip(test, test_len)]
    for beam in (1, 3):
        out = translate_ids(model, test, test_len, bos=BOS, eos=EOS, max_len=10, beam=beam)
        accuracy = np.mean([o == w for o, w in zip(out, wanted)])
        assert accuracy > 0.9, (beam, accuracy)
