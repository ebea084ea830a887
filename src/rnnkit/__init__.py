"""rnnkit: recurrent neural networks from scratch in NumPy, with exact BPTT and PyTorch parity."""
from .layers import GRU, LSTM, RNN
from .module import Module

__version__ = "0.1.0"

__all__ = ["RNN", "LSTM", "GRU", "Module", "__version__"]
