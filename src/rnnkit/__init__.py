"""rnnkit: recurrent neural networks from scratch in NumPy, with exact BPTT and PyTorch parity.

The package is laid out in floors (see the README): ``core`` <- ``nn`` <- ``data`` /
``metrics`` / ``io`` <- ``train`` <- ``interop`` <- ``cli``; the names below are the public API.
"""
from rnnkit.core.blas import shorten_blas_spin
from rnnkit.core.memory import keep_freed_memory

shorten_blas_spin()  # before numpy loads OpenBLAS, where it can (see rnnkit.core.blas)
keep_freed_memory()  # no page faults for each step's buffers (see rnnkit.core.memory)

from rnnkit.errors import CheckpointError, RnnkitError, TrainingError, UsageError
from rnnkit.interop.onnx_export import export_onnx
from rnnkit.interop.torch_convert import from_torch, to_torch
from rnnkit.io.checkpoint import load, load_checkpoint, save, save_checkpoint
from rnnkit.nn import (
                       GRU,
                       LSTM,
                       RNN,
                       CrossEntropyLoss,
                       Dropout,
                       Embedding,
                       LastStep,
                       Linear,
                       LuongAttention,
                       Module,
                       MSELoss,
                       Seq2Seq,
                       SequenceModel,
                       Sequential,
                       no_grad,
                       register_module,
)
from rnnkit.train import (
                       SGD,
                       Adagrad,
                       Adam,
                       AdamW,
                       ArrayData,
                       Callback,
                       CosineAnnealingLR,
                       EarlyStopping,
                       ModelCheckpoint,
                       ReduceLROnPlateau,
                       RMSprop,
                       StepLR,
                       StreamData,
                       TBPTTTask,
                       Trainer,
                       clip_grad_norm,
                       clip_grad_value,
)
from rnnkit.version import __version__
from rnnkit import moved

moved.install()  # rnnkit 0.1's module paths (rnnkit.models, rnnkit.trainer, ...) still import

__all__ = [
    "RNN", "LSTM", "GRU", "Module", "Linear", "Embedding", "Dropout", "LastStep", "Sequential",
    "SequenceModel", "Seq2Seq", "LuongAttention", "no_grad", "register_module",
    "MSELoss", "CrossEntropyLoss", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW",
    "clip_grad_norm", "clip_grad_value", "StepLR", "CosineAnnealingLR", "ReduceLROnPlateau",
    "Trainer", "TBPTTTask", "Callback", "EarlyStopping", "ModelCheckpoint", "ArrayData",
    "StreamData", "to_torch", "from_torch", "save", "load", "save_checkpoint",
    "load_checkpoint", "export_onnx", "RnnkitError", "UsageError", "TrainingError",
    "CheckpointError", "__version__",
]
