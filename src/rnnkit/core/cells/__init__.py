"""Recurrent cells as pure step functions, each with its backward beside it: one file per kind,
all with the same names, and ``CELLS``, the one table from a kind to its cell module.

Every cell module defines

* ``GATES`` (rows of W_ih per hidden unit), ``CARRY`` (names of the carried arrays, ``("h",)``
  or ``("h", "c")``), ``ACTS`` (H-wide columns of one step's activation buffer), ``OPTIONS``
  (names of the cell's settings, passed as keywords) and ``GH_APART`` (whether the hidden
  projection h W_hh^T + b_hh enters the gates apart from the input projection, as in the GRU;
  when it does not, b_hh can be folded into gx and the two projections share one gradient);
* ``step(params, x_t, carry, **options) -> (carry, h_t, cache)`` and
  ``step_backward(params, dh_t, dcarry, cache, **options) -> (dx_t, dcarry_prev, grads)``, a
  whole step with parameters keyed like ``torch.nn.RNNCell/LSTMCell/GRUCell`` (``weight_ih``,
  ``weight_hh``, ``bias_ih``, ``bias_hh``; biases may be absent). ``carry`` is a tuple of
  (B, H) arrays and ``h_t`` is ``carry[0]``; ``dh_t`` is the gradient of the output h_t and
  ``dcarry`` (None for zeros) that of the new carry from later steps; ``grads`` is keyed like
  ``params``;
* ``recur(gx, carry, w_hh, b_hh, acts, **options, drop=None) -> carry`` and
  ``recur_backward(dcarry, carry_prev, carry, acts, w_hh, **options, drop=None)
  -> (dgx, dgh, dcarry_prev)``: the part of a step that depends on the previous carry, given
  the input projection ``gx = x_t W_ih^T + b_ih``. The time loops (``rnnkit.core.scan``) hoist
  the input projection of all steps into one GEMM and run only this part per step; ``recur``
  writes the step's activations into ``acts`` (B, ACTS*H), a row of the loop's buffer.
  ``drop`` (B, H), keyword only, is a recurrent dropout mask: the hidden projection reads
  ``(h_{t-1} * drop) W_hh^T`` (Gal & Ghahramani, "A theoretically grounded application of
  dropout in recurrent neural networks", 2016); only that projection sees it.
"""
from rnnkit.core.cells import gru as gru_cell
from rnnkit.core.cells import lstm as lstm_cell
from rnnkit.core.cells import rnn as rnn_cell

CELLS = {"rnn": rnn_cell, "lstm": lstm_cell, "gru": gru_cell}

__all__ = ["CELLS", "rnn_cell", "lstm_cell", "gru_cell"]
