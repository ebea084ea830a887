"""Luong ("general") attention over a padded memory, as a pure forward/backward pair and a Module.

For decoder states q_t (the queries) and encoder outputs m_s (the memory) of one sequence:

    k_s  = W_a m_s                                   keys, (Dq,)
    e_ts = q_t . k_s          (-inf where s >= length: padding gets no weight)
    a_t  = softmax_s(e_t)                            attention weights over source positions
    c_t  = sum_s a_ts m_s                            context, (Dk,)
    h~_t = tanh(W_c [c_t; q_t] + b_c)                attentional state, (O,)

Shapes (batch first): q (B, Tq, Dq), memory (B, Tk, Dk), lengths (B,) -> out (B, Tq, O) and
the weights a (B, Tq, Tk). All Tq queries are attended at once; decoding one step at a time
is the same call with Tq = 1 (``keys`` can be computed once per source with
:func:`attention_keys`). Reference: Luong, Pham & Manning, "Effective Approaches to
Attention-based Neural Machine Translation", EMNLP 2015 (eq. 5 and the "general" score).
"""
from __future__ import annotations

import numpy as np

from rnnkit.core.init import seed_sequence
from rnnkit.nn.module import Module
from rnnkit.nn.registry import register_module
from rnnkit.validation import (
    as_float_array,
    check_gradient,
    check_lengths,
    float_dtype,
    positive_int,
    valid_steps,
)


def init_attention(query_size, memory_size, out_size, dtype=np.float32, rng=None) -> dict:
    """``weight_a`` (Dq, Dk), ``weight_c`` (O, Dk + Dq), ``bias_c`` (O,), each
    ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as ``torch.nn.Linear``; drawn in that order."""
    rng = np.random.default_rng(rng)
    ka, kc = 1.0 / np.sqrt(memory_size), 1.0 / np.sqrt(memory_size + query_size)
    return {
        "weight_a": rng.uniform(-ka, ka, (query_size, memory_size)).astype(dtype),
        "weight_c": rng.uniform(-kc, kc, (out_size, memory_size + query_size)).astype(dtype),
        "bias_c": rng.uniform(-kc, kc, (out_size,)).astype(dtype),
    }


def attention_keys(params: dict, memory: np.ndarray) -> np.ndarray:
    """``k = memory W_a^T``: (B, Tk, Dk) -> (B, Tk, Dq), once per source sequence."""
    return memory @ params["weight_a"].T


def attention_forward(params: dict, q, memory, lengths, keys=None):
    """Forward pass (see the module docstring). ``keys`` = :func:`attention_keys` if given.

    Returns out (B, Tq, O), the weights a (B, Tq, Tk) and the cache for the backward.
    """
    if keys is None:
        keys = attention_keys(params, memory)  # (B, Tk, Dq)
    mask = valid_steps(lengths, memory.shape[1])[:, None, :]  # (B, 1, Tk)
    scores = q @ keys.transpose(0, 2, 1)  # (B, Tq, Tk)
    scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)  # every row has a valid position
    a = np.exp(scores)  # (B, Tq, Tk), exactly 0 at padding
    a /= a.sum(axis=-1, keepdims=True)
    context = a @ memory  # (B, Tq, Dk)
    u = np.concatenate([context, q], axis=-1)  # (B, Tq, Dk + Dq)
    out = np.tanh(u @ params["weight_c"].T + params["bias_c"])  # (B, Tq, O)
    return out, a, (q, memory, keys, a, u, out)


def attention_backward(params: dict, cache, dout, grads: dict):
    """Adds dW_a, dW_c, db_c into ``grads``; returns (dq (B, Tq, Dq), dmemory (B, Tk, Dk))."""
    q, memory, keys, a, u, out = cache
    Dk = memory.shape[-1]
    dz = dout * (1.0 - out * out)  # backprop through tanh, (B, Tq, O)
    dz2, u2 = dz.reshape(-1, dz.shape[-1]), u.reshape(-1, u.shape[-1])
    grads["weight_c"] += dz2.T @ u2  # undo z = u W_c^T + b_c
    grads["bias_c"] += dz2.sum(axis=0)
    du = dz @ params["weight_c"]  # (B, Tq, Dk + Dq)
    dcontext, dq = du[..., :Dk], du[..., Dk:].copy()  # undo the concatenation
    da = dcontext @ memory.transpose(0, 2, 1)  # undo context = a m, (B, Tq, Tk)
    dmemory = a.transpose(0, 2, 1) @ dcontext  # (B, Tk, Dk)
    dscores = a * (da - (da * a).sum(axis=-1, keepdims=True))  # backprop through softmax;
    # masked positions have a = 0, so they get no gradient, as -inf would give
    dq += dscores @ keys  # undo scores = q k^T, (B, Tq, Dq)
    dkeys = dscores.transpose(0, 2, 1) @ q  # (B, Tk, Dq)
    grads["weight_a"] += dkeys.reshape(-1, dkeys.shape[-1]).T @ memory.reshape(-1, Dk)
    dmemory += dkeys @ params["weight_a"]  # undo k = m W_a^T
    return dq, dmemory


@register_module
class LuongAttention(Module):
    """Luong "general" attention with the attentional layer ``tanh(W_c [c; q] + b_c)``.

    ``out, weights = att.forward(q, memory, lengths)``: q (B, Tq, query_size),
    memory (B, Tk, memory_size), lengths (B,) in 1..Tk (None: all of Tk) ->
    out (B, Tq, out_size), weights (B, Tq, Tk) summing to 1 over the valid positions.
    ``dq, dmemory = att.backward(dout)`` adds into ``grads``.
    """

    def __init__(self, query_size, memory_size, out_size, dtype=np.float32, seed=None):
        self.query_size = positive_int(query_size, "query_size")
        self.memory_size = positive_int(memory_size, "memory_size")
        self.out_size = positive_int(out_size, "out_size")
        self.dtype = float_dtype(dtype)
        self.seed = seed
        rng = np.random.default_rng(seed_sequence(seed))
        super().__init__(init_attention(self.query_size, self.memory_size, self.out_size,
                                        self.dtype, rng))

    def config(self) -> dict:
        return dict(query_size=self.query_size, memory_size=self.memory_size,
                    out_size=self.out_size, dtype=np.dtype(self.dtype).name)

    def __repr__(self):
        return f"LuongAttention({self.query_size}, {self.memory_size}, {self.out_size})"

    def forward(self, q, memory, lengths=None, keys=None):
        """``keys``: :func:`attention_keys` of this memory, when already computed."""
        q = as_float_array(q, "q", self.dtype)
        memory = as_float_array(memory, "memory", self.dtype)
        if q.ndim != 3 or q.shape[-1] != self.query_size:
            raise ValueError(f"Expected q of shape (B, Tq, {self.query_size}), got {q.shape}")
        if memory.ndim != 3 or memory.shape[-1] != self.memory_size or \
                memory.shape[0] != q.shape[0]:
            raise ValueError(f"Expected memory of shape ({q.shape[0]}, Tk, {self.memory_size}),"
                             f" got {memory.shape}")
        B, Tk = memory.shape[:2]
        lengths = np.full(B, Tk) if lengths is None else check_lengths(lengths, B, Tk)
        out, a, cache = attention_forward(self.params, q, memory, lengths, keys)
        self.save_for_backward((cache, out.shape))
        return out, a

    def backward(self, dout):
        cache, shape = self.saved()
        dout = check_gradient(dout, shape, self.dtype)
        return attention_backward(self.params, cache, dout, self.grads)

    __call__ = forward
