"""Text to token ids and back: tokenisation at the character or word level, a vocabulary
with the special tokens ``<pad>`` = 0 and ``<unk>`` = 1, and padding into a batch.

    tokens = tokenize("Hello, world!", level="word", lower=True)  # ['hello', ',', 'world', '!']
    vocab = Vocabulary.build([tokens, ...], min_count=1)           # ids by falling frequency
    ids = vocab.encode(tokens)                                     # (n,) int64, 1 = unknown
    batch, lengths = pad_ids([ids, ...])                           # (B, T) zero-padded, (B,)

A vocabulary is saved as its token list (``vocab.tokens``, id = position) and rebuilt with
``Vocabulary(tokens)``.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

PAD, UNK = "<pad>", "<unk>"
LEVELS = ("char", "word")
WORD = re.compile(r"\w+|[^\w\s]")  # runs of letters/digits/_, or one punctuation mark


def tokenize(text: str, level: str = "char", lower: bool = False) -> list[str]:
    """``level="char"``: every character, spaces and newlines included; ``level="word"``:
    runs of word characters and single punctuation marks, whitespace dropped."""
    if level not in LEVELS:
        raise ValueError(f"level must be 'char' or 'word', got {level!r}")
    if lower:
        text = text.lower()
    return list(text) if level == "char" else WORD.findall(text)


class Vocabulary:
    """Token <-> id. ``tokens[0]`` is ``<pad>``, ``tokens[1]`` is ``<unk>``, then any extra
    special tokens, then the rest. Unknown tokens encode to the id of ``<unk>``."""

    def __init__(self, tokens):
        tokens = list(tokens)
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r}, {UNK!r}; got {tokens[:2]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary lists a token twice")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, sequences, min_count: int = 1, max_size: int | None = None,
              specials=()) -> "Vocabulary":
        """From token sequences: tokens seen at least ``min_count`` times, most frequent
        first (ties in alphabetical order), at most ``max_size`` tokens in all (specials
        included); ``specials`` (e.g. ``("<bos>", "<eos>")``) follow ``<pad>``, ``<unk>``."""
        head = [PAD, UNK, *specials]
        counts = Counter(t for seq in sequences for t in seq)
        ranked = sorted((t for t, n in counts.items() if n >= min_count and t not in head),
                        key=lambda t: (-counts[t], t))
        if max_size is not None:
            if max_size < len(head):
                raise ValueError(f"max_size {max_size} leaves no room for the special tokens")
            ranked = ranked[: max_size - len(head)]
        return cls(head + ranked)

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self):
        return f"Vocabulary({len(self)} tokens)"

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def encode(self, tokens) -> np.ndarray:
        """(n,) int64 ids; tokens not in the vocabulary -> ``unk_id``."""
        return np.array([self.index.get(t, 1) for t in tokens], dtype=np.int64)

    def decode(self, ids) -> list[str]:
        return [self.tokens[int(i)] for i in ids]


def pad_ids(sequences, max_len: int | None = None, pad_id: int = 0):
    """Right-pad id sequences into one batch, keeping the first ``max_len`` ids of each.

    Returns ids (B, T) int64 with T = the longest kept length, and lengths (B,) int64.
    """
    lengths = np.array([len(s) if max_len is None else min(len(s), max_len)
                        for s in sequences], dtype=np.int64)  # (B,)
    batch = np.full((len(lengths), int(lengths.max(initial=0))), pad_id, dtype=np.int64)
    for i, seq in enumerate(sequences):
        batch[i, : lengths[i]] = seq[: lengths[i]]  # (B, T)
    return batch, lengths
