"""Seed 000: a vanilla RNN and an LSTM run forward over a sequence; print the shapes.

The seed feeds 5 steps of 10 features through hidden size 20 and an output layer of size 5,
one step at a time. Here the layers take the whole sequence at once and the output layer is
an rnnkit Linear applied at every step.
"""
import numpy as np

import rnnkit
from rnnkit.nn import Linear

rng = np.random.default_rng(0)
inputs = rng.standard_normal((5, 10))  # (T, F): sequence length 5, feature size 10

for layer in (rnnkit.RNN(10, 20, seed=0), rnnkit.LSTM(10, 20, seed=0)):
    head = Linear(20, 5, seed=0)
    hs, state = layer.forward(inputs)  # (T, H)
    outputs = head.forward(hs)  # (T, 5)
    h_n = state[0] if isinstance(state, tuple) else state
    print(f"{type(layer).__name__}: output sequence length {len(outputs)}, "
          f"each output shape {outputs[0].shape}, final hidden state shape {h_n.shape}")
