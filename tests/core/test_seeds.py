"""The seeds' worked examples, with the right numbers where a seed printed wrong ones."""
import math

import numpy as np

import rnnkit

# Seed 002, section 4.3: input size 2, hidden 3, output 2, no biases, h0 = 0.
W_XH = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]
W_HH = [[0.7, 0.8, 0.9], [0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
W_YH = [[0.7, 0.8, 0.9], [0.1, 0.2, 0.3]]
XS = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]


def matvec(m, v):
    return [sum(a * b for a, b in zip(row, v)) for row in m]


def plain_python_rnn():
    """The worked example done by hand in plain Python: pre-activations, h_t and y_t."""
    h, pre, hs, ys = [0.0, 0.0, 0.0], [], [], []
    for x in XS:
        a = [p + q for p, q in zip(matvec(W_XH, x), matvec(W_HH, h))]
        h = [math.tanh(v) for v in a]
        pre.append(a)
        hs.append(h)
        ys.append(matvec(W_YH, h))
    return pre, hs, ys


def seed_002_layer():
    layer = rnnkit.RNN(2, 3, bias=False, dtype=np.float64)
    layer.load_state_dict({"weight_ih_l0": np.array(W_XH), "weight_hh_l0": np.array(W_HH)})
    return layer


def test_seed_002_first_step_arithmetic():
    """W_xh x_1 = (0.1*0.1 + 0.2*0.2, 0.3*0.1 + 0.4*0.2, 0.5*0.1 + 0.6*0.2) = (0.05, 0.11, 0.17).

    The seed prints (0.07, 0.19, 0.31) for it, then h_1 = (0.07, 0.19, 0.30) and
    y_1 = (0.37, 0.11); none of these is right (even from its own h_1, y_1 would be 0.471).
    """
    pre, hs, ys = plain_python_rnn()
    np.testing.assert_allclose(pre[0], [0.05, 0.11, 0.17], rtol=1e-12)
    assert not np.allclose(pre[0], [0.07, 0.19, 0.31], atol=1e-3)
    y, h_n = seed_002_layer().forward(np.array(XS))
    np.testing.assert_allclose(y[0], np.tanh([0.05, 0.11, 0.17]), rtol=1e-12)
    y1 = np.array(W_YH) @ y[0]
    np.testing.assert_allclose(y1, ys[0], rtol=1e-12)
    np.testing.assert_allclose(y1, [0.274161, 0.077422], atol=5e-7)
    assert not np.allclose(y1, [0.37, 0.11], atol=1e-2)


def test_seed_002_whole_sequence_matches_plain_python():
    _, hs, ys = plain_python_rnn()
    y, h_n = seed_002_layer().forward(np.array(XS))
    np.testing.assert_allclose(y, hs, rtol=1e-12)
    np.testing.assert_allclose(h_n[0], hs[-1], rtol=1e-12)
    np.testing.assert_allclose(y @ np.array(W_YH).T, ys, rtol=1e-12)


def seed_003_buggy_gradient(layer, why, x, target):
    """Seed 003's backward for its many-to-one model: it adds the output gradient W_hy^T dy
    at *every* step, although only the last step produces an output."""
    wxh, whh = layer.params["weight_ih_l0"], layer.params["weight_hh_l0"]
    y, _ = layer.forward(x[None])
    hs = y[0]  # (T, H)
    dy = 2 * (hs[-1] @ why.T - target)  # d/dy of (y - target)^2
    dwxh, dh_next = np.zeros_like(wxh), np.zeros(hs.shape[1])
    for t in reversed(range(len(x))):
        dh = why.T @ dy + dh_next  # the bug: the output gradient enters at every t
        da = (1 - hs[t] ** 2) * dh
        dwxh += np.outer(da, x[t])
        dh_next = whh.T @ da
    return dwxh


def test_seed_003_many_to_one_gradient_enters_only_at_the_last_step():
    """rnnkit's BPTT equals finite differences; seed 003's recipe does not."""
    layer = rnnkit.RNN(1, 8, dtype=np.float64, seed=3)
    why = np.random.default_rng(3).uniform(-0.3, 0.3, size=(1, 8))
    x, target = np.array([[0.1], [0.2], [0.3], [0.4], [0.5]]), np.array([0.6])

    def loss():
        y, _ = layer.forward(x[None])
        return float(np.sum((y[0, -1] @ why.T - target) ** 2))

    y, _ = layer.forward(x[None])
    dy = np.zeros_like(y)
    dy[0, -1] = 2 * (y[0, -1] @ why.T - target) @ why  # only the last step has an output
    layer.zero_grad()
    layer.backward(dy)
    w, eps = layer.params["weight_ih_l0"], 1e-6
    numeric = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        w[idx] += eps
        up = loss()
        w[idx] -= 2 * eps
        down = loss()
        w[idx] += eps
        numeric[idx] = (up - down) / (2 * eps)
    np.testing.assert_allclose(layer.grads["weight_ih_l0"], numeric, rtol=1e-7, atol=1e-10)
    buggy = seed_003_buggy_gradient(layer, why, x, target)
    assert np.abs(buggy - numeric).max() > 0.1 * np.abs(numeric).max()
