"""PatchEmbedding: finite differences in float64 and equality with torch.nn.Conv1d."""
import numpy as np
import pytest
from helpers import check_module_grads, rel_error, torch_forward_backward

from rnnkit.nn.patch import PatchEmbedding, patch_lengths


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
