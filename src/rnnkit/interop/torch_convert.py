"""Moving models between rnnkit and PyTorch: ``to_torch(model)`` and ``from_torch(module)``.

Parameter names, shapes and gate orders are the same on both sides, so the conversion is a
copy of arrays: ``to_torch`` builds ``nn.RNN/LSTM/GRU``, ``nn.Linear``, ``nn.Embedding``, ...
(batch-first) with rnnkit's weights; ``from_torch`` does the reverse. Outputs agree to
rounding (tested: 1e-10 in float64, 1e-5 in float32).
"""
from __future__ import annotations

from rnnkit.nn.module import Module
from rnnkit.nn.registry import converter


def import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError("this needs PyTorch: pip install 'rnnkit[torch]'") from exc
    return torch


def to_torch(model: Module):
    """An ``nn.Module`` with the same architecture and weights as ``model``.

    Recurrent layers become ``nn.RNN/LSTM/GRU(batch_first=True)`` (call them as usual);
    Sequential, SequenceModel and Seq2Seq become twins (``rnnkit.interop.torch_twins``) that
    accept ``lengths`` like rnnkit's. The conversion of each class is registered in
    ``rnnkit.nn.registry`` under "to_torch".
    """
    import_torch()
    import rnnkit.interop.torch_twins  # noqa: F401  (registers the conversions)

    try:
        convert = converter("to_torch", model)
    except TypeError as exc:
        raise TypeError(f"to_torch does not know {type(model).__name__} ({exc})") from None
    return convert(model).train(model.training)


def from_torch(module, seed=None) -> Module:
    """An rnnkit model with the architecture and weights of a torch module: ``nn.RNN/LSTM/
    GRU`` (any ``batch_first``: the weights do not depend on it), ``nn.Linear``,
    ``nn.Embedding``, ``nn.Dropout``, or a module made by :func:`to_torch`."""
    import_torch()
    import rnnkit.interop.torch_twins  # noqa: F401  (registers the conversions)

    try:
        convert = converter("from_torch", module)
    except TypeError as exc:
        raise TypeError(f"from_torch does not know {type(module).__name__} ({exc})") from None
    return convert(module, seed).train(module.training)
