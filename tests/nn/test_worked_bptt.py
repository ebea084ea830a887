"""The worked BPTT example: seed 002's numbers with the right arithmetic, every gradient equal
to finite differences and to torch on the same network."""
import numpy as np
import pytest

from helpers import rel_error
from rnnkit.nn.worked_bptt import SEED_002_PRINTED, XS, format_example, worked_example


def value(ex, name):
    return next(line.value for line in ex.lines if line.name == name)


def test_rnn_shows_the_right_values_where_the_seed_is_wrong():
    ex = worked_example("rnn")
    np.testing.assert_allclose(value(ex, "a_1"), [0.05, 0.11, 0.17], rtol=1e-12)
    np.testing.assert_allclose(value(ex, "h_1"), np.tanh([0.05, 0.11, 0.17]), rtol=1e-12)
    np.testing.assert_allclose(value(ex, "y_1"), [0.274161, 0.077422], atol=5e-7)
    for name, printed in SEED_002_PRINTED.items():
        assert not np.allclose(value(ex, name), printed, atol=1e-2), name
    text = format_example(ex)
    assert "a_1 = W_xh x_1 + W_hh h_0 = [0.050000, 0.110000, 0.170000]" in text
    assert "(seed 002 printed [0.07, 0.19, 0.31]: wrong)" in text
    assert "y_1 = W_yh h_1 = [0.274161, 0.077422]" in text


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_every_gradient_equals_finite_differences_and_torch(kind):
    torch = pytest.importorskip("torch")
    ex = worked_example(kind)
    assert max(ex.checks.values()) < 1e-7, ex.checks
    assert {line.t for line in ex.lines if line.phase == "backward"} == {0, 1, 2, 3}
    p = ex.params
    cls = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[kind]
    cell = cls(2, 3, bias=False, dtype=torch.float64)
    cell.load_state_dict({k: torch.tensor(p[k]) for k in ("weight_ih", "weight_hh")})
    w_yh, xs = torch.tensor(p["W_yh"], requires_grad=True), torch.tensor(XS)
    h = c = torch.zeros(1, 3, dtype=torch.float64)
    loss = 0
    for t in range(3):
        if kind == "lstm":
            h, c = cell(xs[t : t + 1], (h, c))
        else:
            h = cell(xs[t : t + 1], h)
        loss = loss + 0.5 * ((h @ w_yh.T - xs[t]) ** 2).sum()
    loss.backward()
    assert abs(float(loss.detach()) - ex.loss) < 1e-12
    assert rel_error(ex.grads["weight_ih"], cell.weight_ih.grad.numpy()) < 1e-12
    assert rel_error(ex.grads["weight_hh"], cell.weight_hh.grad.numpy()) < 1e-12
    assert rel_error(ex.grads["W_yh"], w_yh.grad.numpy()) < 1e-12


def test_lstm_lines_name_the_gates_and_the_cell_state():
    names = {line.name for line in worked_example("lstm").lines}
    assert {"i_1", "f_1", "g_1", "o_1", "c_3", "dL/dc_3", "dL/da_3[f]", "dL/dc_2 (through c)"} \
        <= names
    with pytest.raises(ValueError, match="Unknown cell"):
        worked_example("transformer")
