"""Greedy and beam-search decoding for an encoder-decoder (``rnnkit.nn.seq2seq.Seq2Seq``).

The model supplies ``enc = model.encode(src, lengths)`` and
``logits, state, weights = model.decode_step(tokens, state, enc)``; decoding starts from
<bos> and a hypothesis ends at <eos> (not included in the output) or after ``max_len`` tokens.

Beam search keeps the ``beam`` best partial hypotheses of every source by their summed
log-probability; a hypothesis that emits <eos> among the ``beam`` best candidates of a step
is finished with the length-normalised score ``sum_t log p(y_t | y_<t, x) / |y|`` (|y|
counts the <eos>). A source is done when ``beam`` hypotheses have finished; the best
normalised score wins (unfinished hypotheses compete only if none finished). With beam 1
this is exactly greedy decoding. Reference: e.g. Koehn, "Statistical Machine Translation"
(2010), ch. 6; length normalisation as in Wu et al. 2016 with alpha = 1.
"""
from __future__ import annotations

import numpy as np

from rnnkit.nn.losses import log_softmax
from rnnkit.nn.seq2seq import take_state


def greedy_decode(model, src, lengths, *, bos: int, eos: int, max_len: int):
    """Most likely token at every step. src (B, Ts) ids, lengths (B,).

    Returns the token lists (without <eos>) and each source's attention weights
    (len(output) + 1, lengths[b]): one row per emitted token, <eos> included when reached.
    """
    enc = model.encode(src, lengths)
    B, Ts = np.shape(src)
    tokens = np.full(B, bos)  # (B,)
    state = enc.state
    out = np.zeros((B, max_len), np.int64)  # (B, max_len)
    weights = np.zeros((B, max_len, Ts))  # (B, max_len, Ts)
    n_out = np.full(B, max_len)  # output length without <eos>
    done = np.zeros(B, bool)
    for t in range(max_len):
        logits, state, a = model.decode_step(tokens, state, enc)  # (B, V), (B, Ts)
        tokens = logits.argmax(axis=-1)
        out[:, t], weights[:, t] = tokens, a
        ended = ~done & (tokens == eos)
        n_out[ended] = t
        done |= ended
        if done.all():
            break
    outputs = [out[b, :n_out[b]].tolist() for b in range(B)]
    attention = [weights[b, :min(n_out[b] + 1, max_len), :lengths[b]] for b in range(B)]
    return outputs, attention


def _top_candidates(total: np.ndarray, m: int) -> np.ndarray:
    """Indices of the m largest entries of each row of total (B, N), best first; ties go to
    the lower index, as argmax does."""
    m = min(m, total.shape[1])
    part = np.argpartition(-total, m - 1, axis=1)[:, :m]  # (B, m), unordered
    vals = np.take_along_axis(total, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)  # by score, then index
    return np.take_along_axis(part, order, axis=1)  # (B, m)


def beam_search(model, src, lengths, *, bos: int, eos: int, max_len: int, beam: int):
    """Beam search of width ``beam`` (see the module docstring) for every source at once.

    src (B, Ts) ids, lengths (B,). Returns the best token list (without <eos>) per source.
    """
    B, K = len(src), beam
    enc = model.encode(src, lengths).take(np.repeat(np.arange(B), K))  # rows b*K + k
    state = enc.state
    tokens = np.full(B * K, bos)  # (B*K,)
    scores = np.full((B, K), -np.inf)  # summed log-probabilities of the live hypotheses
    scores[:, 0] = 0.0  # start from one hypothesis, not K copies of it
    history = np.zeros((B, K, 0), np.int64)  # (B, K, t)
    finished: list[list] = [[] for _ in range(B)]  # (normalised score, tokens)
    done = np.zeros(B, bool)
    for t in range(max_len):
        logits, state, _ = model.decode_step(tokens, state, enc)  # (B*K, V)
        V = logits.shape[-1]
        total = (scores[:, :, None] + log_softmax(logits).reshape(B, K, V)).reshape(B, K * V)
        top = _top_candidates(total, 2 * K)  # (B, 2K): at most K of them are <eos>
        new_scores = np.full((B, K), -np.inf)
        parent = np.zeros((B, K), np.int64)
        new_tokens = np.full((B, K), eos)
        for b in np.flatnonzero(~done):
            n = 0
            for rank, c in enumerate(top[b]):
                if total[b, c] == -np.inf or n == K:
                    break
                k, v = divmod(int(c), V)
                if v == eos:
                    if rank < K:
                        finished[b].append((total[b, c] / (t + 1), history[b, k].tolist()))
                else:
                    new_scores[b, n], parent[b, n], new_tokens[b, n] = total[b, c], k, v
                    n += 1
            done[b] = len(finished[b]) >= K
        if done.all():
            break
        history = np.concatenate([np.take_along_axis(history, parent[..., None], axis=1),
                                  new_tokens[..., None]], axis=2)  # (B, K, t + 1)
        scores = new_scores
        state = take_state(state, (np.arange(B)[:, None] * K + parent).ravel())
        tokens = new_tokens.ravel()
    results = []
    for b in range(B):
        candidates = finished[b] or [(scores[b, k] / max(history.shape[2], 1),
                                      history[b, k].tolist()) for k in range(K)]
        results.append(max(candidates, key=lambda c: c[0])[1])
    return results


def translate_ids(model, src, lengths, *, bos: int, eos: int, max_len: int, beam: int = 1,
                  chunk: int = 256):
    """Decode many sources in chunks of ``chunk`` (bounded memory): greedy for beam 1, else
    beam search. Returns one token list per source."""
    if beam < 1:
        raise ValueError(f"beam must be at least 1, got {beam}")
    outputs = []
    for start in range(0, len(src), chunk):
        sl = slice(start, start + chunk)
        s, n = src[sl], np.asarray(lengths[sl])
        s = s[:, :n.max()]  # trim to the chunk's longest source
        if beam == 1:
            outputs += greedy_decode(model, s, n, bos=bos, eos=eos, max_len=max_len)[0]
        else:
            outputs += beam_search(model, s, n, bos=bos, eos=eos, max_len=max_len, beam=beam)
    return outputs
