"""rnnkit: recurrent neural networks from scratch in NumPy, with exact BPTT and PyTorch parity."""
__version__ = "0.1.0"

from .checkpoint import load, load_checkpoint, register_module, save, save_checkpoint
from .fileio import CheckpointError
from .layers import GRU, LSTM, RNN
from .losses import CrossEntropyLoss, MSELoss
from .module import Module
from .nn import Dropout, Embedding, LastStep, Linear, Sequential
from .onnx_export import export_onnx
from .optim import SGD, Adagrad, Adam, AdamW, RMSprop, clip_grad_norm, clip_grad_value
from .schedules import CosineAnnealingLR, ReduceLROnPlateau, StepLR
from .torch_interop import from_torch, to_torch

__all__ = [
    "RNN", "LSTM", "GRU", "Module", "Linear", "Embedding", "Dropout", "LastStep", "Sequential",
    "MSELoss", "CrossEntropyLoss", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW",
    "clip_grad_norm", "clip_grad_value", "StepLR", "CosineAnnealingLR", "ReduceLROnPlateau",
    "to_torch", "from_torch", "save", "load", "save_checkpoint", "load_checkpoint", "register_module", "CheckpointError",
    "export_onnx", "__version__",
]
