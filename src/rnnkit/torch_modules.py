"""PyTorch twins of rnnkit's composite modules, used by ``rnnkit.to_torch``.

Each has the same submodule names as its rnnkit original (``rnn``, ``fc``, ``embedding``, ...),
so ``state_dict`` keys are equal and a safetensors file written by ``rnnkit.save`` loads with
``load_state_dict``. Importing this module needs torch.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

RECURRENT = (nn.RNN, nn.LSTM, nn.GRU)


def run_recurrent(rnn: nn.Module, x, state=None, lengths=None):
    """A batch-first torch RNN/LSTM/GRU with rnnkit's ``lengths`` semantics (packed
    sequences; outputs past a length are zero). Returns (y (B, T, D*H), state)."""
    if lengths is None:
        return rnn(x, state)
    lengths = torch.as_tensor(lengths, dtype=torch.int64).cpu()
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    y, state = rnn(packed, state)
    y, _ = pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
    return y, state


class LastStep(nn.Module):
    """out[b] = y[b, lengths[b] - 1], or y[:, -1]; the last ``reverse_features`` features
    are read at t = 0 (where a reverse direction ends), as rnnkit.LastStep."""

    def __init__(self, reverse_features=None):
        super().__init__()
        self.reverse_features = reverse_features

    def forward(self, y, lengths=None):
        if lengths is None:
            out = y[:, -1]
        else:
            last = torch.as_tensor(lengths, dtype=torch.int64, device=y.device) - 1
            out = y[torch.arange(y.shape[0], device=y.device), last]
        if self.reverse_features:
            split = y.shape[-1] - self.reverse_features
            out = torch.cat([out[:, :split], y[:, 0, split:]], dim=1)
        return out


class Sequential(nn.Module):
    """rnnkit.Sequential: children in order; recurrent children and LastStep take lengths."""

    def __init__(self, modules: dict[str, nn.Module]):
        super().__init__()
        for name, m in modules.items():
            self.add_module(name, m)

    def forward(self, x, lengths=None):
        for m in self.children():
            if isinstance(m, RECURRENT):
                x, _ = run_recurrent(m, x, None, lengths)
            elif isinstance(m, LastStep):
                x = m(x, lengths)
            else:
                x = m(x)
        return x


class SequenceModel(nn.Module):
    """rnnkit.models.SequenceModel: embedding? -> rnn -> last step? -> fc."""

    def __init__(self, config: dict, modules: dict[str, nn.Module]):
        super().__init__()
        self.rnnkit_config = dict(config)
        for name, m in modules.items():
            self.add_module(name, m)

    def forward(self, x, lengths=None, state=None, return_state=False):
        h = self.embedding(x) if hasattr(self, "embedding") else x
        y, state_n = run_recurrent(self.rnn, h, state, lengths)
        if hasattr(self, "last"):
            y = self.last(y, lengths)
        out = self.fc(y)
        return (out, state_n) if return_state else out


class LuongAttention(nn.Module):
    """rnnkit.attention.LuongAttention: out = tanh(W_c [softmax(q (m W_a^T)^T) m; q] + b_c),
    masked by the memory lengths. Parameters ``weight_a``, ``weight_c``, ``bias_c``."""

    def __init__(self, query_size, memory_size, out_size, dtype=torch.float32):
        super().__init__()
        self.weight_a = nn.Parameter(torch.empty(query_size, memory_size, dtype=dtype))
        self.weight_c = nn.Parameter(torch.empty(out_size, memory_size + query_size, dtype=dtype))
        self.bias_c = nn.Parameter(torch.empty(out_size, dtype=dtype))

    def forward(self, q, memory, lengths):
        keys = memory @ self.weight_a.T  # (B, Tk, Dq)
        scores = q @ keys.transpose(1, 2)  # (B, Tq, Tk)
        lengths = torch.as_tensor(lengths, dtype=torch.int64, device=q.device)
        valid = torch.arange(memory.shape[1], device=q.device)[None, :] < lengths[:, None]
        a = torch.softmax(scores.masked_fill(~valid[:, None, :], float("-inf")), dim=-1)
        u = torch.cat([a @ memory, q], dim=-1)  # (B, Tq, Dk + Dq)
        return torch.tanh(u @ self.weight_c.T + self.bias_c)


class Seq2Seq(nn.Module):
    """rnnkit.seq2seq.Seq2Seq: bidirectional encoder, tanh bridge, decoder, Luong attention,
    output layer; ``forward(src, lengths, tgt_in)`` -> logits (teacher forcing)."""

    def __init__(self, config: dict, modules: dict[str, nn.Module]):
        super().__init__()
        self.rnnkit_config = dict(config)
        for name, m in modules.items():
            self.add_module(name, m)

    def forward(self, src, lengths, tgt_in):
        memory, enc_state = run_recurrent(self.encoder, self.src_embedding(src), None, lengths)
        lstm = isinstance(self.encoder, nn.LSTM)
        h_n = enc_state[0] if lstm else enc_state  # (L*D, B, H)
        L, D = self.encoder.num_layers, 2 if self.encoder.bidirectional else 1
        _, B, H = h_n.shape
        joined = h_n.reshape(L, D, B, H).permute(0, 2, 1, 3).reshape(L, B, D * H)
        h0 = torch.tanh(self.bridge(joined))  # (L, B, H)
        state = (h0, torch.zeros_like(h0)) if lstm else h0
        dec, _ = self.decoder(self.tgt_embedding(tgt_in), state)  # (B, Tt, H)
        return self.out(self.attention(dec, memory, lengths))
