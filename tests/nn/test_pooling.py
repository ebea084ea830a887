"""MeanMaxPool: finite differences in float64 with lengths, and the same values as torch."""
import numpy as np
import pytest
from helpers import check_module_grads, rel_error, torch_forward_backward

from rnnkit.nn.pooling import MeanMaxPool


@pytest.mark.parametrize("lengths", [None, np.array([3, 1, 5])])
def test_pool_gradients_by_finite_differences(lengths):
    x = np.random.default_rng(0).standard_normal((3, 5, 4))
    check_module_grads(MeanMaxPool(), x, forward_kwargs={"lengths": lengths})


def test_pool_equals_torch_with_lengths():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    y = rng.standard_normal((3, 6, 2))
    lengths = np.array([6, 2, 4])
    dout = rng.standard_normal((3, 4))

    def pool(y_t):
        valid = torch.arange(6)[None, :, None] < torch.tensor(lengths)[:, None, None]
        mean = (y_t * valid).sum(1) / torch.tensor(lengths, dtype=y_t.dtype)[:, None]
        peak = y_t.masked_fill(~valid, float("-inf")).amax(1)
        return torch.cat([mean, peak], 1)

    out_t, (dy_t,) = torch_forward_backward(pool, [y], dout)
    m = MeanMaxPool()
    assert rel_error(m.forward(y, lengths), out_t) < 1e-14
    assert rel_error(m.backward(dout), dy_t) < 1e-14


def test_padding_never_wins_the_max():
    y = np.full((1, 3, 1), -5.0)
    y[0, 2, 0] = 100.0  # past the length
    out = MeanMaxPool().forward(y, np.array([2]))
    np.testing.assert_array_equal(out, [[-5.0, -5.0]])
