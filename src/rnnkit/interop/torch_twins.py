"""The conversions between rnnkit modules and torch modules, and the PyTorch twins of
rnnkit's composite modules, each conversion registered in ``rnnkit.nn.registry`` next to
what it converts (``"to_torch"`` keyed by the rnnkit class, ``"from_torch"`` by the torch
class); ``rnnkit.to_torch`` / ``rnnkit.from_torch`` dispatch through the registry.

Each twin has the same submodule names as its rnnkit original (``rnn``, ``fc``,
``embedding``, ...), so ``state_dict`` keys are equal and a safetensors file written by
``rnnkit.save`` loads with ``load_state_dict``. Importing this module needs torch.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit import nn as knn
from rnnkit.nn.recurrent import LAYERS, Recurrent
from rnnkit.nn.registry import converter, register_converter

TORCH_RECURRENT = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def torch_dtype(dtype):
    return torch.float64 if np.dtype(dtype) == np.float64 else torch.float32


def numpy_dtype(module):
    p = next(module.parameters())
    if p.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"from_torch: unsupported parameter dtype {p.dtype} (float32 and "
                         "float64 only)")
    return np.float64 if p.dtype == torch.float64 else np.float32


def with_weights(module: nn.Module, params) -> nn.Module:
    """``module`` after copying rnnkit's arrays into it (names and shapes are equal)."""
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in params.items()})
    return module


def weights(module: nn.Module) -> dict:
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def valid_steps(lengths, y) -> "torch.Tensor":
    """(B, T, 1) booleans for y (B, T, ...) right-padded: True at the steps t < lengths[b]."""
    lengths = torch.as_tensor(lengths, device=y.device)
    return (torch.arange(y.shape[1], device=y.device)[None, :] < lengths[:, None])[..., None]


def child_to_torch(m) -> nn.Module:
    """A child of a container, converted through the registry (as ``rnnkit.to_torch``)."""
    return converter("to_torch", m)(m).train(m.training)


def child_from_torch(t, seed):
    return converter("from_torch", t)(t, seed).train(t.training)


# --- leaves: the recurrent layers and torch.nn's own modules ------------------------------
@register_converter("to_torch", Recurrent)
def _recurrent_to_torch(m):
    if m.kind == "rnn" and m.spec.nonlinearity == "sigmoid":
        raise ValueError("torch.nn.RNN has no sigmoid nonlinearity (only tanh and relu)")
    if m.learn_initial_state:
        raise ValueError(f"{m!r}: torch.nn.{TORCH_RECURRENT[m.kind].__name__} has no learned "
                         "initial state (learn_initial_state=True); pass h0 as an input there")
    if m.peephole:
        raise ValueError(f"{m!r}: torch.nn.LSTM has no peephole connections")
    if m.layer_norm:
        raise ValueError(f"{m!r}: torch.nn.{TORCH_RECURRENT[m.kind].__name__} has no "
                         "layer_norm")
    if m.recurrent_dropout:
        raise ValueError(f"{m!r}: torch.nn.{TORCH_RECURRENT[m.kind].__name__} has no "
                         "recurrent_dropout")
    kw = dict(num_layers=m.num_layers, bias=m.bias, bidirectional=m.bidirectional,
              dropout=m.dropout, batch_first=True, dtype=torch_dtype(m.dtype))
    if m.kind == "rnn":
        kw["nonlinearity"] = m.spec.nonlinearity
    if m.proj_size:
        kw["proj_size"] = m.proj_size
    return with_weights(TORCH_RECURRENT[m.kind](m.input_size, m.hidden_size, **kw), m.params)


@register_converter("from_torch", nn.RNNBase)
def _recurrent_from_torch(t, seed):
    kind = {nn.RNN: "rnn", nn.LSTM: "lstm", nn.GRU: "gru"}.get(type(t))
    if kind is None:
        raise TypeError(f"from_torch does not know {type(t).__name__}")
    kw = dict(num_layers=t.num_layers, bias=t.bias, bidirectional=t.bidirectional,
              dropout=t.dropout, dtype=numpy_dtype(t), seed=seed)
    if kind == "rnn":
        kw["nonlinearity"] = t.nonlinearity
    if getattr(t, "proj_size", 0):
        kw["proj_size"] = t.proj_size
    out = LAYERS[kind](t.input_size, t.hidden_size, **kw)
    out.load_state_dict(weights(t))
    return out


@register_converter("to_torch", knn.Linear)
def _linear_to_torch(m):
    return with_weights(nn.Linear(m.in_features, m.out_features, bias="bias" in m.params,
                                  dtype=torch_dtype(m.dtype)), m.params)


@register_converter("from_torch", nn.Linear)
def _linear_from_torch(t, seed):
    out = knn.Linear(t.in_features, t.out_features, bias=t.bias is not None,
                     dtype=numpy_dtype(t), seed=seed)
    out.load_state_dict(weights(t))
    return out


@register_converter("to_torch", knn.Embedding)
def _embedding_to_torch(m):
    return with_weights(nn.Embedding(m.num_embeddings, m.embedding_dim,
                                     padding_idx=m.padding_idx, dtype=torch_dtype(m.dtype)),
                        m.params)


@register_converter("from_torch", nn.Embedding)
def _embedding_from_torch(t, seed):
    out = knn.Embedding(t.num_embeddings, t.embedding_dim, padding_idx=t.padding_idx,
                        dtype=numpy_dtype(t), seed=seed)
    out.load_state_dict(weights(t))
    return out


@register_converter("to_torch", knn.Dropout)
def _dropout_to_torch(m):
    return nn.Dropout(m.p)


@register_converter("from_torch", nn.Dropout)
def _dropout_from_torch(t, seed):
    return knn.Dropout(t.p, seed=seed)

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


# --- twins of rnnkit's own modules -----------------------------------------------------------
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


@register_converter("to_torch", knn.LastStep)
def _last_step_to_torch(m):
    return LastStep(m.reverse_features)


@register_converter("from_torch", LastStep)
def _last_step_from_torch(t, seed):
    return knn.LastStep(t.reverse_features)


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


@register_converter("to_torch", knn.Sequential)
def _sequential_to_torch(m):
    return Sequential({k: child_to_torch(c) for k, c in m.modules.items()})


@register_converter("from_torch", Sequential)
def _sequential_from_torch(t, seed):
    return knn.Sequential(**{k: child_from_torch(c, seed) for k, c in t.named_children()})


class PatchEmbedding(nn.Conv1d):
    """rnnkit.nn.patch.PatchEmbedding: Conv1d(C, D, p, stride=p) on (B, T, C) zero-padded to a
    multiple of p, returning (B, ceil(T/p), D); parameters ``weight`` (D, C, p), ``bias``."""

    def __init__(self, in_channels, out_features, patch_size, dtype=torch.float32):
        super().__init__(in_channels, out_features, patch_size, stride=patch_size, dtype=dtype)
        self.patch_size = patch_size

    def forward(self, x):
        T, p = x.shape[1], self.patch_size
        x = nn.functional.pad(x.transpose(1, 2), (0, -(-T // p) * p - T))  # (B, C, n*p)
        return super().forward(x).transpose(1, 2)  # (B, n, D)


@register_converter("to_torch", knn.PatchEmbedding)
def _patch_to_torch(m):
    return with_weights(PatchEmbedding(m.in_channels, m.out_features, m.patch_size,
                                       dtype=torch_dtype(m.dtype)), m.params)


class PatchMaxPool(nn.Module):
    """rnnkit.nn.patch.PatchMaxPool: max_pool1d with kernel = stride = p, ceil_mode, on
    (B, T, F), returning (B, ceil(T/p), F)."""

    def __init__(self, patch_size):
        super().__init__()
        self.patch_size = patch_size

    def forward(self, z):
        p = self.patch_size
        return nn.functional.max_pool1d(z.transpose(1, 2), p, p, ceil_mode=True).transpose(1, 2)


@register_converter("to_torch", knn.PatchMaxPool)
def _patch_max_to_torch(m):
    return PatchMaxPool(m.patch_size)


class Conv1d(nn.Conv1d):
    """rnnkit.nn.conv.Conv1d: Conv1d(C, D, K, padding="same") on (B, T, C), then relu (or
    not), returning (B, T, D); parameters ``weight`` (D, C, K), ``bias``."""

    def __init__(self, in_channels, out_channels, kernel_size, activation="relu",
                 dtype=torch.float32):
        super().__init__(in_channels, out_channels, kernel_size, padding="same", dtype=dtype)
        self.activation = activation

    def forward(self, x, lengths=None):
        z = super().forward(x.transpose(1, 2)).transpose(1, 2)  # (B, T, D)
        z = torch.relu(z) if self.activation == "relu" else z
        if lengths is not None:  # the padded steps' outputs are 0, as rnnkit's
            z = z * valid_steps(lengths, z)
        return z


@register_converter("to_torch", knn.Conv1d)
def _conv_to_torch(m):
    return with_weights(Conv1d(m.in_channels, m.out_channels, m.kernel_size, m.activation,
                               dtype=torch_dtype(m.dtype)), m.params)


class Difference(nn.Module):
    """rnnkit.nn.difference.Difference: x (B, T, C) -> [x, scale * first difference] (B, T,
    2C), the difference 0 at t = 0 and at the padded steps; ``scale`` a buffer, not learned."""

    def __init__(self, channels, scale, dtype=torch.float32):
        super().__init__()
        # not in the state dict: it is part of the config, as rnnkit keeps it
        self.register_buffer("scale", torch.as_tensor(scale, dtype=dtype), persistent=False)

    def forward(self, x, lengths=None):
        d = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)  # (B, T, C)
        if lengths is not None:
            d = d * valid_steps(lengths, x)
        return torch.cat([x, d * self.scale], dim=-1)


@register_converter("to_torch", knn.Difference)
def _difference_to_torch(m):
    return Difference(m.channels, m.scale, dtype=torch_dtype(m.dtype))


class MeanMaxPool(nn.Module):
    """rnnkit.nn.pooling.MeanMaxPool: mean and max over the valid steps, concatenated."""

    def forward(self, y, lengths=None):
        if lengths is None:
            return torch.cat([y.mean(1), y.amax(1)], dim=1)
        valid = valid_steps(lengths, y)
        lengths = torch.as_tensor(lengths, device=y.device)
        mean = (y * valid).sum(1) / lengths[:, None].to(y.dtype)
        return torch.cat([mean, y.masked_fill(~valid, float("-inf")).amax(1)], dim=1)


@register_converter("to_torch", knn.MeanMaxPool)
def _pool_to_torch(m):
    return MeanMaxPool()


class SequenceModel(nn.Module):
    """rnnkit.nn.models.SequenceModel: embedding, or differences? convolution? patches? -> rnn -> last
    step or pooling? -> fc."""

    def __init__(self, config: dict, modules: dict[str, nn.Module]):
        super().__init__()
        self.rnnkit_config = dict(config)
        for name, m in modules.items():
            self.add_module(name, m)

    def forward(self, x, lengths=None, state=None, return_state=False):
        h = self.embedding(x) if hasattr(self, "embedding") else x
        if hasattr(self, "diff"):
            h = self.diff(h, lengths)
        if hasattr(self, "conv"):
            h = self.conv(h, lengths)
        if hasattr(self, "patch"):
            h = self.patch(h)
            if lengths is not None:
                p = self.patch.patch_size
                lengths = -(-torch.as_tensor(lengths, dtype=torch.int64) // p)
        y, state_n = run_recurrent(self.rnn, h, state, lengths)
        if hasattr(self, "last"):
            y = self.last(y, lengths)
        if hasattr(self, "pool"):
            y = self.pool(y, lengths)
        out = self.fc(y)
        return (out, state_n) if return_state else out


class LuongAttention(nn.Module):
    """rnnkit.nn.attention.LuongAttention: out = tanh(W_c [softmax(q (m W_a^T)^T) m; q] + b_c),
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


@register_converter("to_torch", knn.LuongAttention)
def _attention_to_torch(m):
    return with_weights(LuongAttention(m.query_size, m.memory_size, m.out_size,
                                       dtype=torch_dtype(m.dtype)), m.params)


class Seq2Seq(nn.Module):
    """rnnkit.nn.seq2seq.Seq2Seq: bidirectional encoder, tanh bridge, decoder, Luong attention,
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
        h0 = torch.tanh(self.bridge(joined))  # (L, B, H), or (L, B, P) with proj_size
        c0 = h0.new_zeros(L, B, self.decoder.hidden_size) if lstm else None  # (L, B, H)
        state = (h0, c0) if lstm else h0
        dec, _ = self.decoder(self.tgt_embedding(tgt_in), state)  # (B, Tt, H or P)
        return self.out(self.attention(dec, memory, lengths))


def _composite(twin_cls, rnnkit_cls):
    """A model built from its config, whose children convert one by one (same names)."""
    @register_converter("to_torch", rnnkit_cls)
    def to_twin(m):
        return twin_cls(m.config(), {k: child_to_torch(c) for k, c in m.modules.items()})

    @register_converter("from_torch", twin_cls)
    def from_twin(t, seed):
        out = rnnkit_cls(**t.rnnkit_config)
        out.load_state_dict(weights(t))
        return out


_composite(SequenceModel, knn.SequenceModel)
_composite(Seq2Seq, knn.Seq2Seq)
