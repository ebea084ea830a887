"""The layers' backward refuses a non-finite output gradient and names a wrong-shaped final
state gradient as what it is (dh_n, dc_n), not as an initial state."""
import numpy as np
import pytest

import rnnkit


@pytest.mark.parametrize("layer", [rnnkit.RNN(2, 3, seed=0), rnnkit.GRU(2, 3, seed=0),
                                   rnnkit.LSTM(2, 3, seed=0)])
def test_backward_refuses_a_nan_dy(layer):
    y, _ = layer.forward(np.ones((2, 4, 2), np.float32))
    dy = np.zeros_like(y)
    dy[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"dy contains NaN at index \(1, 2, 0\)"):
        layer.backward(dy)


def test_a_wrong_shaped_state_gradient_is_named_as_such():
    lstm = rnnkit.LSTM(2, 3, seed=0)
    y, _ = lstm.forward(np.ones((2, 4, 2), np.float32))
    with pytest.raises(ValueError, match=r"Expected dh_n of shape \(1, 2, 3\)"):
        lstm.backward(np.zeros_like(y), (np.zeros((1, 5, 3)), np.zeros((1, 2, 3))))
    y, _ = lstm.forward(np.ones((2, 4, 2), np.float32))
    with pytest.raises(ValueError, match=r"Expected dc_n of shape"):
        lstm.backward(np.zeros_like(y), (np.zeros((1, 2, 3)), np.zeros((2, 2, 3))))
    with pytest.raises(ValueError, match=r"Expected h0 of shape"):
        lstm.forward(np.ones((2, 4, 2), np.float32), state=(np.zeros((1, 5, 3)), None))
