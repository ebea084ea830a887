"""PatchEmbedding: finite differences in float64 and equality with torch.nn.Conv1d."""
import numpy as np
import pytest
from helpers import check_module_grads, rel_error, torch_forward_backward

from rnnkit.nn.patch import PatchEmbedding, PatchMaxPool, patch_lengths


@pytest.mark.parametrize("T,p", [(12, 4), (13, 4), (5, 1), (3, 5)])
def test_patch_gradients_by_finite_differences(T, p):
    m = PatchEmbedding(3, 4, p, dtype=np.float64, seed=0)
    x = np.random.default_rng(1).standard_normal((2, T, 3))
    check_module_grads(m, x)
    assert m.forward(x).shape == (2, -(-T // p), 4)


@pytest.mark.parametrize("T,p", [(12, 4), (14, 4), (7, 1)])
def test_patch_equals_torch_conv1d(T, p):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    m = PatchEmbedding(3, 5, p, dtype=np.float64, seed=2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, T, 3))
    n = -(-T // p)
    dz = rng.standard_normal((2, n, 5))

    def conv(x_t, w, b):  # (B, T, C) -> pad T to n*p -> Conv1d on (B, C, T) -> (B, n, D)
        x_t = F.pad(x_t.transpose(1, 2), (0, n * p - T))
        return F.conv1d(x_t, w, b, stride=p).transpose(1, 2)

    z_t, (dx_t, dW_t, db_t) = torch_forward_backward(
        conv, [x, m.params["weight"], m.params["bias"]], dz)
    z = m.forward(x)
    dx = m.backward(dz)
    assert rel_error(z, z_t) < 1e-12 and rel_error(dx, dx_t) < 1e-12
    assert rel_error(m.grads["weight"], dW_t) < 1e-12 and rel_error(m.grads["bias"], db_t) < 1e-12


def test_patch_lengths_and_errors():
    np.testing.assert_array_equal(patch_lengths(np.array([1, 4, 5, 8]), 4), [1, 1, 2, 2])
    with pytest.raises(ValueError, match=r"Expected input of shape \(B, T, 3\)"):
        PatchEmbedding(3, 4, 2).forward(np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match="patch_size must be a positive integer"):
        PatchEmbedding(3, 4, 0)


@pytest.mark.parametrize("T,p", [(12, 4), (13, 4), (5, 1), (3, 5)])
def test_patch_max_gradients_by_finite_differences(T, p):
    m = PatchMaxPool(p)
    x = np.random.default_rng(1).standard_normal((2, T, 3))  # no ties: the max is smooth
    check_module_grads(m, x)
    assert m.forward(x).shape == (2, -(-T // p), 3)


@pytest.mark.parametrize("T,p", [(12, 4), (14, 4), (7, 1), (2, 3)])
def test_patch_max_equals_torch_max_pool1d(T, p):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    m = PatchMaxPool(p)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, T, 3))
    dz = rng.standard_normal((2, -(-T // p), 3))

    def pool(x_t):
        return F.max_pool1d(x_t.transpose(1, 2), p, p, ceil_mode=True).transpose(1, 2)

    z_t, (dx_t,) = torch_forward_backward(pool, [x], dz)
    assert rel_error(m.forward(x), z_t) < 1e-15 and rel_error(m.backward(dz), dx_t) < 1e-15


def test_patch_max_ties_go_to_the_first_step():
    m = PatchMaxPool(3)
    z = m.forward(np.array([[[1.0], [1.0], [0.0], [2.0]]]))
    np.testing.assert_array_equal(z[0, :, 0], [1.0, 2.0])
    np.testing.assert_array_equal(m.backward(np.ones((1, 2, 1)))[0, :, 0], [1, 0, 0, 1])
    with pytest.raises(ValueError, match="patch_size must be a positive integer"):
        PatchMaxPool(0)
