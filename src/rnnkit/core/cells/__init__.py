"""Recurrent cells as pure step functions, each with its backward beside it.

Each module holds one cell kind in two layers of API:

* ``recur(gx, state, w_hh, b_hh) -> (new_state, cache)`` and ``recur_backward``: the part of
  a step that depends on the previous state, given the input projection
  ``gx = x_t W_ih^T + b_ih``.  The layers hoist the input projection of all time steps into
  one GEMM and call only this part inside the time loop.
* ``cell(params, x, state) -> (new_state, cache)`` and ``cell_backward``: a whole step with
  parameters keyed like ``torch.nn.RNNCell/LSTMCell/GRUCell`` (``weight_ih``, ``weight_hh``,
  ``bias_ih``, ``bias_hh``).
"""
from rnnkit.core.cells import gru as gru_cell
from rnnkit.core.cells import lstm as lstm_cell
from rnnkit.core.cells import rnn as rnn_cell

CELLS = {"rnn": rnn_cell, "lstm": lstm_cell, "gru": gru_cell}

__all__ = ["CELLS", "rnn_cell", "lstm_cell", "gru_cell"]
