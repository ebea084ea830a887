"""Conv1d: finite differences in float64 and equality with torch's Conv1d(padding="same")
followed by relu, and the SequenceModel that reads through it."""
import numpy as np
import pytest
from helpers import check_module_grads, rel_error, torch_forward_backward

from rnnkit.nn.conv import Conv1d, same_padding
from rnnkit.nn.models import SequenceModel


@pytest.mark.parametrize("T,K,activation", [(9, 3, "relu"), (6, 4, "relu"), (5, 7, None),
                                            (4, 1, None)])
def test_conv_gradients_by_finite_differences(T, K, activation):
    m = Conv1d(3, 4, K, activation=activation, dtype=np.float64, seed=0)
    x = np.random.default_rng(1).standard_normal((2, T, 3))
    check_module_grads(m, x)
    assert m.forward(x).shape == (2, T, 4)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's, K = 4
@pytest.mark.parametrize("T,K,activation", [(11, 7, "relu"), (8, 4, "relu"), (3, 5, None)])
def test_conv_equals_torch_conv1d(T, K, activation):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    m = Conv1d(3, 5, K, activation=activation, dtype=np.float64, seed=2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, T, 3))
    dz = rng.standard_normal((2, T, 5))

    def conv(x_t, w, b):  # (B, T, C) -> Conv1d on (B, C, T) -> (B, T, D)
        z = F.conv1d(x_t.transpose(1, 2), w, b, padding="same").transpose(1, 2)
        return torch.relu(z) if activation == "relu" else z

    z_t, (dx_t, dW_t, db_t) = torch_forward_backward(
        conv, [x, m.params["weight"], m.params["bias"]], dz)
    z = m.forward(x)
    dx = m.backward(dz)
    assert rel_error(z, z_t) < 1e-12 and rel_error(dx, dx_t) < 1e-12
    assert rel_error(m.grads["weight"], dW_t) < 1e-12 and rel_error(m.grads["bias"], db_t) < 1e-12


def test_conv_with_lengths_zeroes_the_padded_steps():
    """z[b, t] = 0 for t >= lengths[b]; the valid part equals the series run alone, whatever
    padding follows it; gradients by finite differences and equal to torch's twin."""
    m = Conv1d(2, 4, 3, dtype=np.float64, seed=0)
    rng = np.random.default_rng(5)
    lengths = np.array([7, 3, 1])
    x = rng.standard_normal((3, 7, 2))
    x[np.arange(7)[None, :] >= lengths[:, None]] = 0.0  # zero padding, as the batches have
    z = m.forward(x, lengths=lengths)
    for b, L in enumerate(lengths):
        assert not z[b, L:].any()
        alone = m.forward(x[b : b + 1, :L])
        np.testing.assert_allclose(z[b, :L], alone[0], atol=1e-14)
        wider = np.concatenate([x[b : b + 1], np.zeros((1, 4, 2))], axis=1)  # more padding
        np.testing.assert_allclose(m.forward(wider, lengths=[L])[0, :7], z[b], atol=1e-14)
    check_module_grads(m, x, forward_kwargs={"lengths": lengths})
    torch = pytest.importorskip("torch")
    from rnnkit.interop.torch_twins import Conv1d as TorchConv1d
    twin = TorchConv1d(2, 4, 3, dtype=torch.float64)
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(m.params["weight"]))
        twin.bias.copy_(torch.from_numpy(m.params["bias"]))
    dz = rng.standard_normal(z.shape)
    x_t = torch.from_numpy(x).requires_grad_()
    z_t = twin(x_t, lengths)
    z_t.backward(torch.from_numpy(dz))
    m.zero_grad()
    assert rel_error(m.forward(x, lengths=lengths), z_t.detach().numpy()) < 1e-12
    assert rel_error(m.backward(dz), x_t.grad.numpy()) < 1e-12
    assert rel_error(m.grads["weight"], twin.weight.grad.numpy()) < 1e-12
    with pytest.raises(ValueError, match="lengths must lie in 1..7"):
        m.forward(x, lengths=[8, 1, 1])


def test_conv_initialisation_follows_torch():
    """Uniform(-1/sqrt(C K), 1/sqrt(C K)) for weight and bias, as torch.nn.Conv1d."""
    m = Conv1d(4, 256, 5, seed=0)
    bound = 1 / np.sqrt(4 * 5)
    for name in ("weight", "bias"):
        p = m.params[name]
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.9 * bound
    assert m.params["weight"].shape == (256, 4, 5) and m.params["weight"].dtype == np.float32


def test_same_padding_and_errors():
    assert same_padding(7) == (3, 3) and same_padding(4) == (1, 2) and same_padding(1) == (0, 0)
    with pytest.raises(ValueError, match=r"Expected input of shape \(B, T, 3\)"):
        Conv1d(3, 4, 3).forward(np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match="kernel_size must be a positive integer"):
        Conv1d(3, 4, 0)
    with pytest.raises(ValueError, match="activation must be 'relu' or None"):
        Conv1d(3, 4, 3, activation="tanh")
    with pytest.raises(ValueError, match="conv_channels applies to real-valued inputs"):
        SequenceModel("gru", vocab_size=5, embedding_dim=3, conv_channels=4)


def test_model_with_conv_front_end_gradients_by_finite_differences():
    m = SequenceModel("gru", input_size=2, hidden_size=3, output_size=2, head="pool",
                      bidirectional=True, patch_size=3, conv_channels=4, conv_kernel=3,
                      dtype="float64", seed=0)
    x = np.random.default_rng(1).standard_normal((3, 8, 2))
    lengths = np.array([8, 5, 2])
    check_module_grads(m, x, forward_kwargs={"lengths": lengths},
                       backward_kwargs={"need_input_grad": True})
    assert list(m.modules) == ["conv", "patch", "rnn", "pool", "fc"]
    with pytest.raises(ValueError, match="a convolution"):
        m.step(x[:, 0])
