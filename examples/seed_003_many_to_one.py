"""Seed 003: a tanh RNN (hidden size 8) reads 0.1, 0.2, 0.3, 0.4, 0.5 and learns to output 0.6
after the last step: many-to-one, MSE, plain SGD with lr 0.01, 1000 full-batch epochs.

The model is the seed's: its initialisation is loaded into the parameters (W_xh, W_hh, W_hy
~ N(0, 1) * 0.01 from a seeded generator, zero biases; PyTorch's second bias b_hh is zero
too), float64 as in NumPy. What differs:

* Backward. The seed's BPTT adds the output gradient ``W_hy^T dy`` into dh at *every* time
  step, although only the last step has an output: that is the gradient of some other loss.
  rnnkit's ``LastStep`` sends dy to the last step only, and the layer's BPTT carries it back.
  The script checks dL/dW_xh at the initial weights against central finite differences:
  rnnkit's agrees to ~1e-9 relative, the seed's recipe is 3 times too large (with W_hh this
  small the true gradient is about da_5 * x_5; the seed's adds da_t * x_t for all five
  steps, and 0.1 + ... + 0.5 = 3 * 0.5).
* Loss scale. The seed prints ``mean((y - target)^2)`` but back-propagates ``dy = y - target``,
  half its gradient; rnnkit's MSELoss backward is ``2 (y - target)``, so at the same lr each
  step is twice as long.

Why the seed still prints a final loss of 3e-10: one sample with one target is fitted by the
output bias alone. With h ~ 0 (weights * 0.01) the error shrinks by (1 - lr) per epoch in the
seed, 0.36 * 0.99^2000 ~ 7e-10 (the seed's code with the bug fixed gives 6e-10), and by
(1 - 2 lr) here, 0.36 * 0.98^2000 ~ 1e-18. So the seed's low loss says nothing about its BPTT.
(With PyTorch's default initialisation instead, larger weights give larger h, a faster
contraction, and the loss reaches float64 round-off, ~1e-31, in the same 1000 epochs.)
"""
import numpy as np

import rnnkit
from rnnkit.nn import LastStep, Linear, Sequential

H = 8


def seed_model(seed=0):
    """RNN(1, 8) -> last step -> Linear(8, 1) with the seed's initialisation."""
    rnn = rnnkit.RNN(1, H, dtype=np.float64)
    fc = Linear(H, 1, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rnn.load_state_dict({"weight_ih_l0": rng.standard_normal((H, 1)) * 0.01,  # W_xh
                         "weight_hh_l0": rng.standard_normal((H, H)) * 0.01,  # W_hh
                         "bias_ih_l0": np.zeros(H), "bias_hh_l0": np.zeros(H)})  # b_h
    fc.load_state_dict({"weight": rng.standard_normal((1, H)) * 0.01,  # W_hy
                        "bias": np.zeros(1)})  # b_y
    return Sequential(rnn=rnn, last=LastStep(), fc=fc)


def seed_recipe_dW_xh(model, x, target):
    """dL/dW_xh as the seed computes it (for L = (y - target)^2): W_hy^T dy enters every step."""
    W_hh, W_hy = model["rnn"].params["weight_hh_l0"], model["fc"].params["weight"]
    hs = model["rnn"].forward(x)[0][0]  # (T, H)
    dy = 2 * (model["fc"].forward(hs[-1]) - target[0])  # (1,)
    dW_xh, dh_next = np.zeros((H, 1)), np.zeros(H)
    for t in reversed(range(len(hs))):
        dh = W_hy.T @ dy + dh_next  # the bug: an output gradient at every t
        da = (1 - hs[t] ** 2) * dh  # backprop through tanh
        dW_xh += np.outer(da, x[0, t])
        dh_next = W_hh.T @ da  # back through h_{t-1} W_hh^T
    return dW_xh


def finite_difference_dW_xh(model, loss, x, target, eps=1e-6):
    W = model["rnn"].params["weight_ih_l0"]
    grad = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        W[idx] += eps
        up = loss.forward(model.forward(x), target)
        W[idx] -= 2 * eps
        down = loss.forward(model.forward(x), target)
        W[idx] += eps
        grad[idx] = (up - down) / (2 * eps)
    return grad


def main():
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5]).reshape(1, 5, 1)  # (B, T, F)
    target = np.array([[0.6]])  # (B, 1)
    model, loss = seed_model(), rnnkit.MSELoss()

    numeric = finite_difference_dW_xh(model, loss, x, target)
    loss.forward(model.forward(x), target)
    model.backward(loss.backward())
    ours, seeds = model.grads["rnn.weight_ih_l0"], seed_recipe_dW_xh(model, x, target)
    scale = np.abs(numeric).max()
    print(f"dL/dW_xh vs finite differences, max error / max |grad|: "
          f"rnnkit {np.abs(ours - numeric).max() / scale:.1e}, "
          f"seed's recipe {np.abs(seeds - numeric).max() / scale:.1e}")

    optimizer = rnnkit.SGD(model, lr=0.01)
    for epoch in range(1000):
        model.zero_grad()
        value = loss.forward(model.forward(x), target)
        model.backward(loss.backward())
        optimizer.step()
        if epoch % 100 == 0:
            print(f"Epoch {epoch}, Loss: {value:.4g}")

    prediction = model.forward(x)
    print(f"prediction: {prediction.item():.10f}  target: {target.item()}")
    print(f"final loss: {loss.forward(prediction, target):.3g}")


if __name__ == "__main__":
    main()
