"""An encoder-decoder with attention for sequence-to-sequence tasks, trained by teacher forcing.

    src (B, Ts) ids --src_embedding--> (B, Ts, E) --encoder (bidirectional RNN, lengths)-->
        memory (B, Ts, D*H) and final states h_n (L*D, B, H)
    decoder state s_0 = tanh(W_b [h_fwd; h_bwd] + b_b)                 the bridge, per layer
    tgt_in (B, Tt) ids = <bos> + target[:-1] --tgt_embedding--> (B, Tt, E)
        --decoder (unidirectional RNN from s_0)--> states (B, Tt, H)
        --attention (Luong, over memory, masked by the source lengths)--> (B, Tt, H)
        --out (Linear)--> logits (B, Tt, V_tgt)

The attention is computed after the decoder RNN on all its states at once (no input feeding),
so training is vectorised over time; :meth:`Seq2Seq.encode` and :meth:`Seq2Seq.decode_step`
run the same computation one target step at a time for greedy and beam-search decoding
(``rnnkit.nn.decoding``). For an LSTM the bridge makes h_0 and the decoder's cell state starts
at zero. Reference: Bahdanau, Cho & Bengio 2015 (bidirectional encoder), Luong et al. 2015.

The recurrent layers' variants (``rnnkit.nn.recurrent``: ``layer_norm``, ``peephole``,
``proj_size``, ``recurrent_dropout``) apply to the encoder and the decoder alike;
``learn_initial_state`` to the encoder only, since the decoder starts from the bridge. With
``proj_size`` P the encoder's h and outputs have P features: memory (B, Ts, D*P), the bridge
maps D*P -> P, the decoder's h is (L, B, P) (its cell state (L, B, H) starts at zero) and the
attention reads queries of P features.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.core.init import seed_sequence
from rnnkit.nn.attention import LuongAttention, attention_keys
from rnnkit.nn.embedding import Embedding
from rnnkit.nn.linear import Linear
from rnnkit.nn.module import Container, Module, no_grad
from rnnkit.nn.recurrent import LAYERS, VARIANTS
from rnnkit.nn.registry import register_module
from rnnkit.validation import check_indices, checked_upstream


def shift_right(labels: np.ndarray, bos: int) -> np.ndarray:
    """Teacher forcing input: ``[bos, y_0, ..., y_{T-2}]`` for labels y (B, T) -> (B, T)."""
    out = np.empty_like(labels)
    out[:, 0] = bos
    out[:, 1:] = labels[:, :-1]
    return out


@dataclass
class Encoded:
    """What decoding needs from the source: the memory, its attention keys, the source
    lengths and the decoder's initial state. ``take(idx)`` selects (or repeats) rows."""
    memory: np.ndarray  # (B, Ts, D*H)
    keys: np.ndarray  # (B, Ts, H)
    lengths: np.ndarray  # (B,)
    state: object  # (L, B, H), or the pair (h, c) for the LSTM

    def take(self, idx) -> "Encoded":
        return Encoded(self.memory[idx], self.keys[idx], self.lengths[idx],
                       take_state(self.state, idx))


def take_state(state, idx):
    """Rows ``idx`` of a decoder state (L, B, H) or (h, c): for reordering beams."""
    if isinstance(state, tuple):
        return tuple(s[:, idx] for s in state)
    return state[:, idx]


@register_module
class Seq2Seq(Container):
    """Encoder-decoder with Luong attention (see the module docstring for the equations).

    Arguments: vocabulary sizes (id 0 is padding in both), ``embedding_dim`` E,
    ``hidden_size`` H, ``cell`` rnn|lstm|gru, ``num_layers`` L (encoder and decoder),
    ``bidirectional`` encoder (D = 2), ``dtype``, ``seed``; the recurrent variants
    ``layer_norm``, ``peephole``, ``proj_size``, ``recurrent_dropout`` (encoder and decoder)
    and ``learn_initial_state`` (encoder only), off by default (module docstring).
    ``forward(src, lengths, tgt_in)`` -> logits (B, Tt, V_tgt); ``backward(dlogits)``.
    Parameter names: ``src_embedding.weight``, ``encoder.weight_ih_l0``, ``bridge.weight``,
    ``tgt_embedding.weight``, ``decoder.weight_ih_l0``, ``attention.weight_a``, ``out.weight``.
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, embedding_dim=32, hidden_size=64, *,
                 cell="gru", num_layers=1, bidirectional=True, dtype="float32", seed=None,
                 layer_norm=False, peephole=False, proj_size=0, recurrent_dropout=0.0,
                 learn_initial_state=False):
        if cell not in LAYERS:
            raise ValueError(f"Unknown cell {cell!r}; expected one of {sorted(LAYERS)}")
        super().__init__()
        self.settings = dict(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size,
                             embedding_dim=embedding_dim, hidden_size=hidden_size, cell=cell,
                             num_layers=num_layers, bidirectional=bool(bidirectional),
                             dtype=np.dtype(dtype).name, seed=seed)
        variants = {name: value for name, value in [("layer_norm", layer_norm),
                                                     ("peephole", peephole),
                                                     ("proj_size", proj_size),
                                                     ("recurrent_dropout", recurrent_dropout)]
                    if value != VARIANTS[name]}  # only those set: plain configs stay equal
        self.settings.update(variants)
        if learn_initial_state:
            self.settings["learn_initial_state"] = True
        self.cell = cell
        self.num_layers = num_layers
        self.hidden_size = hidden_size
        self.num_directions = 2 if bidirectional else 1
        s = seed_sequence(seed).spawn(7)
        encoder = LAYERS[cell](embedding_dim, hidden_size, num_layers,
                               bidirectional=bidirectional, dtype=dtype, seed=s[1],
                               learn_initial_state=learn_initial_state, **variants)
        P = encoder.output_size  # the width of h: hidden_size, or proj_size
        DP = self.num_directions * P
        self.modules: dict[str, Module] = {
            "src_embedding": Embedding(src_vocab_size, embedding_dim, padding_idx=0,
                                       dtype=dtype, seed=s[0]),
            "encoder": encoder,
            "bridge": Linear(DP, P, dtype=dtype, seed=s[2]),
            "tgt_embedding": Embedding(tgt_vocab_size, embedding_dim, padding_idx=0,
                                       dtype=dtype, seed=s[3]),
            "decoder": LAYERS[cell](embedding_dim, hidden_size, num_layers, dtype=dtype,
                                   seed=s[4], **variants),
            "attention": LuongAttention(P, DP, hidden_size, dtype=dtype, seed=s[5]),
            "out": Linear(hidden_size, tgt_vocab_size, dtype=dtype, seed=s[6]),
        }

    def config(self) -> dict:
        return dict(self.settings)

    def __repr__(self):
        inner = ",\n  ".join(f"{k}={m!r}" for k, m in self.modules.items())
        return f"Seq2Seq(\n  {inner}\n)"

    # --- the bridge between the encoder's final states and the decoder's initial state ---
    def _join_directions(self, h_n):
        """(L*D, B, H) -> (L, B, D*H): each layer's forward and reverse final states side
        by side."""
        L, D = self.num_layers, self.num_directions
        _, B, H = h_n.shape
        return h_n.reshape(L, D, B, H).transpose(0, 2, 1, 3).reshape(L, B, D * H)

    def _split_directions(self, dh):
        """Inverse of :meth:`_join_directions`: (L, B, D*H) -> (L*D, B, H)."""
        L, D = self.num_layers, self.num_directions
        _, B, DH = dh.shape
        H = DH // D
        return dh.reshape(L, B, D, H).transpose(0, 2, 1, 3).reshape(L * D, B, H)

    def _decoder_state(self, h0):
        """The decoder's initial state from the bridge output h0 (L, B, P): h0 itself, or for
        the LSTM the pair (h0, zeros (L, B, H))."""
        if self.cell != "lstm":
            return h0
        return h0, np.zeros(h0.shape[:2] + (self.hidden_size,), h0.dtype)  # c0 (L, B, H)

    # --- training: teacher forcing over all target steps at once ------------------------
    def forward(self, src, lengths, tgt_in):
        """src (B, Ts) ids with valid lengths (B,); tgt_in (B, Tt) ids -> logits (B, Tt, V)."""
        with checked_upstream():  # the embeddings check the ids; the rest is computed here
            return self._forward(src, lengths, tgt_in)

    def _forward(self, src, lengths, tgt_in):
        m = self.modules
        e_src = m["src_embedding"].forward(src)  # (B, Ts, E)
        memory, enc_state = m["encoder"].forward(e_src, lengths=lengths)  # (B, Ts, D*H)
        h_n = enc_state[0] if self.cell == "lstm" else enc_state  # (L*D, B, P)
        h0 = np.tanh(m["bridge"].forward(self._join_directions(h_n)))  # (L, B, P)
        e_tgt = m["tgt_embedding"].forward(tgt_in)  # (B, Tt, E)
        # no lengths for the decoder: steps after a target's end only feed later steps,
        # whose logits the loss ignores
        dec, _ = m["decoder"].forward(e_tgt, self._decoder_state(h0))  # (B, Tt, H)
        att, _ = m["attention"].forward(dec, memory, lengths)  # (B, Tt, H)
        c_shape = enc_state[1].shape if self.cell == "lstm" else None  # (L*D, B, H)
        self.save_for_backward((h0, c_shape))
        return m["out"].forward(att)  # (B, Tt, V)

    def backward(self, dlogits):
        """Adds every parameter's gradient; returns None (token ids have no gradient)."""
        dlogits = self.checked(dlogits, "dlogits", self.modules["out"].dtype)
        with checked_upstream():
            self._backward(dlogits)

    def _backward(self, dlogits):
        h0, c_shape = self.saved()
        m = self.modules
        datt = m["out"].backward(dlogits)  # (B, Tt, H)
        ddec, dmemory = m["attention"].backward(datt)  # (B, Tt, H), (B, Ts, D*H)
        de_tgt, dstate0 = m["decoder"].backward(ddec)
        m["tgt_embedding"].backward(de_tgt)
        dh0 = dstate0[0] if self.cell == "lstm" else dstate0  # (L, B, P)
        dh_n = self._split_directions(m["bridge"].backward(dh0 * (1.0 - h0 * h0)))  # undo tanh
        # the encoder's final c reaches nothing: its gradient is zero
        dstate_n = (dh_n, np.zeros(c_shape, dh_n.dtype)) if self.cell == "lstm" else dh_n
        de_src, _ = m["encoder"].backward(dmemory, dstate_n)
        m["src_embedding"].backward(de_src)

    __call__ = forward

    # --- inference: one target step at a time -------------------------------------------
    def encode(self, src, lengths) -> Encoded:
        """Run the encoder and the bridge once per source batch; keeps no cache."""
        m = self.modules
        src = check_indices(src, m["src_embedding"].num_embeddings, "src")
        with no_grad():
            e_src = m["src_embedding"].forward(src)  # (B, Ts, E)
            memory, enc_state = m["encoder"].forward(e_src, lengths=lengths)  # (B, Ts, D*H)
            h_n = enc_state[0] if self.cell == "lstm" else enc_state
            h0 = np.tanh(m["bridge"].forward(self._join_directions(h_n)))  # (L, B, P)
        keys = attention_keys(m["attention"].params, memory)  # (B, Ts, H)
        return Encoded(memory, keys, np.asarray(lengths), self._decoder_state(h0))

    def decode_step(self, tokens, state, enc: Encoded):
        """tokens (B,) ids, the decoder state -> logits (B, V), the new state and the
        attention weights (B, Ts). Equal to teacher forcing's logits at the same step;
        keeps no cache."""
        m = self.modules
        tokens = check_indices(tokens, m["tgt_embedding"].num_embeddings, "tokens")
        with no_grad():
            x = m["tgt_embedding"].forward(tokens)  # (B, E)
            h, state = m["decoder"].step(x, state)  # (B, H)
            att, a = m["attention"].forward(h[:, None], enc.memory, enc.lengths,
                                            keys=enc.keys)  # (B, 1, H), (B, 1, Ts)
            logits = m["out"].forward(att[:, 0])  # (B, V)
        return logits, state, a[:, 0]
