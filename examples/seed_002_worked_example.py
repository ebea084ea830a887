"""Seed 002, section 4.3: the worked example of a 2-3-2 RNN, with the correct arithmetic.

The seed computes W_xh x_1 as (0.07, 0.19, 0.31); it is (0.05, 0.11, 0.17), so
h_1 = tanh(0.05, 0.11, 0.17) = (0.0500, 0.1096, 0.1684) and y_1 = W_yh h_1 = (0.2742, 0.0774),
not the seed's (0.37, 0.11).
"""
import numpy as np

import rnnkit

W_xh = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
W_hh = np.array([[0.7, 0.8, 0.9], [0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
W_yh = np.array([[0.7, 0.8, 0.9], [0.1, 0.2, 0.3]])
xs = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])  # (T, F)

rnn = rnnkit.RNN(2, 3, bias=False, dtype=np.float64)
rnn.load_state_dict({"weight_ih_l0": W_xh, "weight_hh_l0": W_hh})
hs, h_n = rnn.forward(xs)  # (T, H)
np.set_printoptions(precision=4, suppress=True)
print("W_xh x_1 =", W_xh @ xs[0])
for t, h in enumerate(hs, start=1):
    print(f"h_{t} = {h}   y_{t} = {W_yh @ h}")
