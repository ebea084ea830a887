"""Modules: the recurrent layers, feed-forward blocks, attention, losses and ready-made models.

Every module has ``params`` and ``grads`` keyed by PyTorch's names, ``forward``/``backward``
by hand, and registers itself (``rnnkit.nn.registry``) so checkpoints can rebuild it.
"""
from rnnkit.nn.attention import LuongAttention
from rnnkit.nn.conv import Conv1d
from rnnkit.nn.difference import Difference
from rnnkit.nn.dropout import Dropout
from rnnkit.nn.embedding import Embedding
from rnnkit.nn.ensemble import Ensemble
from rnnkit.nn.heads import LastStep
from rnnkit.nn.linear import Linear
from rnnkit.nn.losses import CrossEntropyLoss, MSELoss
from rnnkit.nn.models import SequenceModel
from rnnkit.nn.module import Container, Module, no_grad
from rnnkit.nn.patch import PatchEmbedding, PatchMaxPool
from rnnkit.nn.pooling import MeanMaxPool
from rnnkit.nn.recurrent import GRU, LSTM, RNN
from rnnkit.nn.registry import register_module
from rnnkit.nn.seq2seq import Seq2Seq
from rnnkit.nn.sequential import Sequential

__all__ = ["RNN", "LSTM", "GRU", "Linear", "Embedding", "Dropout", "LastStep", "Sequential",
           "SequenceModel", "Seq2Seq", "LuongAttention", "PatchEmbedding", "PatchMaxPool", "Conv1d", "Difference",
           "MeanMaxPool",
           "Ensemble",
           "MSELoss", "CrossEntropyLoss", "Module", "Container", "no_grad", "register_module"]
