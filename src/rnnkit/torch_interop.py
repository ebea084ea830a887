"""Moving models between rnnkit and PyTorch: ``to_torch(model)`` and ``from_torch(module)``.

Parameter names, shapes and gate orders are the same on both sides, so the conversion is a
copy of arrays: ``to_torch`` builds ``nn.RNN/LSTM/GRU``, ``nn.Linear``, ``nn.Embedding``, ...
(batch-first) with rnnkit's weights; ``from_torch`` does the reverse. Outputs agree to
rounding (tested: 1e-10 in float64, 1e-5 in float32).
"""
from __future__ import annotations

import numpy as np

from .module import Module


def import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError("this needs PyTorch: pip install 'rnnkit[torch]'") from exc
    return torch


def _torch_dtype(torch, dtype):
    return torch.float64 if np.dtype(dtype) == np.float64 else torch.float32


def _copy_in(module, params) -> None:
    torch = import_torch()
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in params.items()})


def to_torch(model: Module):
    """An ``nn.Module`` with the same architecture and weights as ``model``.

    Recurrent layers become ``nn.RNN/LSTM/GRU(batch_first=True)`` (call them as usual);
    Sequential and SequenceModel become twins that accept ``lengths`` like rnnkit's.
    """
    torch = import_torch()
    from torch import nn

    from . import layers
    from . import nn as knn
    from . import torch_modules as tm
    from .attention import LuongAttention
    from .models import SequenceModel
    from .seq2seq import Seq2Seq

    if isinstance(model, layers.Recurrent):
        if model.kind == "rnn" and model.spec.nonlinearity == "sigmoid":
            raise ValueError("torch.nn.RNN has no sigmoid nonlinearity (only tanh and relu)")
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[model.kind]
        kw = dict(num_layers=model.num_layers, bias=model.bias,
                  bidirectional=model.bidirectional, dropout=model.dropout, batch_first=True,
                  dtype=_torch_dtype(torch, model.dtype))
        if model.kind == "rnn":
            kw["nonlinearity"] = model.spec.nonlinearity
        out = cls(model.input_size, model.hidden_size, **kw)
    elif isinstance(model, knn.Linear):
        out = nn.Linear(model.in_features, model.out_features, bias="bias" in model.params,
                        dtype=_torch_dtype(torch, model.dtype))
    elif isinstance(model, knn.Embedding):
        out = nn.Embedding(model.num_embeddings, model.embedding_dim,
                           padding_idx=model.padding_idx, dtype=_torch_dtype(torch, model.dtype))
    elif isinstance(model, knn.Dropout):
        return nn.Dropout(model.p).train(model.training)
    elif isinstance(model, knn.LastStep):
        return tm.LastStep(model.reverse_features)
    elif isinstance(model, knn.Sequential):
        return tm.Sequential({k: to_torch(m) for k, m in model.modules.items()}) \
            .train(model.training)
    elif isinstance(model, SequenceModel):
        return tm.SequenceModel(model.config(), {k: to_torch(m) for k, m in
                                                 model.modules.items()}).train(model.training)
    elif isinstance(model, Seq2Seq):
        return tm.Seq2Seq(model.config(), {k: to_torch(m) for k, m in
                                           model.modules.items()}).train(model.training)
    elif isinstance(model, LuongAttention):
        out = tm.LuongAttention(model.query_size, model.memory_size, model.out_size,
                                dtype=_torch_dtype(torch, model.dtype))
    else:
        raise TypeError(f"to_torch does not know {type(model).__name__}")
    _copy_in(out, model.params)
    return out.train(model.training)


def _arrays(module) -> dict:
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def from_torch(module, seed=None) -> Module:
    """An rnnkit model with the architecture and weights of a torch module: ``nn.RNN/LSTM/
    GRU`` (any ``batch_first``: the weights do not depend on it), ``nn.Linear``,
    ``nn.Embedding``, ``nn.Dropout``, or a module made by :func:`to_torch`."""
    torch = import_torch()
    from torch import nn

    from . import layers
    from . import nn as knn
    from . import torch_modules as tm
    from .models import SequenceModel
    from .seq2seq import Seq2Seq

    def dtype_of(m):
        p = next(m.parameters())
        return {torch.float64: np.float64, torch.float32: np.float32}.get(p.dtype) or \
            _unsupported(f"parameter dtype {p.dtype}")

    if isinstance(module, (nn.RNN, nn.LSTM, nn.GRU)):
        if getattr(module, "proj_size", 0):
            raise ValueError("LSTM with proj_size is not supported by rnnkit")
        kind = type(module).__name__
        kw = dict(num_layers=module.num_layers, bias=module.bias,
                  bidirectional=module.bidirectional, dropout=module.dropout,
                  dtype=dtype_of(module), seed=seed)
        if kind == "RNN":
            kw["nonlinearity"] = module.nonlinearity
        out = getattr(layers, kind)(module.input_size, module.hidden_size, **kw)
    elif isinstance(module, nn.Linear):
        out = knn.Linear(module.in_features, module.out_features, bias=module.bias is not None,
                         dtype=dtype_of(module), seed=seed)
    elif isinstance(module, nn.Embedding):
        out = knn.Embedding(module.num_embeddings, module.embedding_dim,
                            padding_idx=module.padding_idx, dtype=dtype_of(module), seed=seed)
    elif isinstance(module, nn.Dropout):
        return knn.Dropout(module.p, seed=seed).train(module.training)
    elif isinstance(module, tm.LastStep):
        return knn.LastStep(module.reverse_features)
    elif isinstance(module, tm.Sequential):
        return knn.Sequential(**{k: from_torch(m, seed) for k, m in module.named_children()})
    elif isinstance(module, tm.SequenceModel):
        out = SequenceModel(**module.rnnkit_config)
    elif isinstance(module, tm.Seq2Seq):
        out = Seq2Seq(**module.rnnkit_config)
    else:
        raise TypeError(f"from_torch does not know {type(module).__name__}")
    out.load_state_dict(_arrays(module))
    return out.train(module.training)


def _unsupported(what):
    raise ValueError(f"from_torch: unsupported {what} (float32 and float64 only)")
