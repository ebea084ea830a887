"""Tokenisation, the vocabulary with <pad>=0 and <unk>=1, and padding id sequences."""
import numpy as np
import pytest

from rnnkit.data.text import PAD, UNK, Vocabulary, pad_ids, tokenize


def test_tokenize_char_and_word():
    text = "Hello, World!\nbye"
    assert tokenize(text, "char") == list(text)
    assert "".join(tokenize(text, "char", lower=True)) == text.lower()
    assert tokenize(text, "word", lower=True) == ["hello", ",", "world", "!", "bye"]
    assert tokenize("  ", "word") == []
    with pytest.raises(ValueError, match="level must be"):
        tokenize(text, "byte")


def test_vocabulary_orders_by_frequency_and_round_trips():
    seqs = [list("abcab"), list("bcb")]
    vocab = Vocabulary.build(seqs, specials=("<bos>",))
    counts = {t: sum(s.count(t) for s in seqs) for t in "abc"}
    ranked = sorted(counts, key=lambda t: (-counts[t], t))
    assert vocab.tokens == [PAD, UNK, "<bos>", *ranked]
    assert vocab.pad_id == vocab.index[PAD] and vocab.unk_id == vocab.index[UNK]
    ids = vocab.encode(list("abz"))
    assert ids.dtype == np.int64 and ids[-1] == vocab.unk_id
    assert vocab.decode(ids) == ["a", "b", UNK]
    assert Vocabulary(vocab.tokens).index == vocab.index  # rebuilt from the saved list


def test_vocabulary_min_count_max_size_and_checks():
    seqs = [["x", "x", "y", "z", "z", "z"]]
    assert Vocabulary.build(seqs, min_count=2).tokens == [PAD, UNK, "z", "x"]
    assert Vocabulary.build(seqs, max_size=3).tokens == [PAD, UNK, "z"]
    with pytest.raises(ValueError, match="no room"):
        Vocabulary.build(seqs, max_size=1)
    with pytest.raises(ValueError, match="starts with"):
        Vocabulary(["a", PAD, UNK])
    with pytest.raises(ValueError, match="twice"):
        Vocabulary([PAD, UNK, "a", "a"])


def test_pad_ids_truncates_and_pads():
    seqs = [np.array([5, 6, 7]), np.array([8]), np.array([1, 2, 3, 4, 9])]
    batch, lengths = pad_ids(seqs)
    assert batch.shape == (3, 5) and lengths.tolist() == [len(s) for s in seqs]
    for row, s in zip(batch, seqs):
        np.testing.assert_array_equal(row[: len(s)], s)
        assert (row[len(s):] == 0).all()
    batch, lengths = pad_ids(seqs, max_len=2)
    assert batch.shape == (3, 2) and lengths.tolist() == [2, 1, 2]
    np.testing.assert_array_equal(batch[2], seqs[2][:2])
