"""Difference: the series and its scaled first difference; finite differences in float64,
torch twin, padding, the SequenceModel that reads through it, saving."""
import numpy as np
import pytest
from helpers import check_module_grads, rel_error

import rnnkit
from rnnkit.nn import Difference, SequenceModel, no_grad
from rnnkit.nn.difference import difference_scale


def test_difference_values_and_padding():
    x = np.array([[[1.0], [3.0], [2.0], [0.0]], [[5.0], [4.0], [0.0], [0.0]]])
    m = Difference(1, scale=[2.0], dtype=np.float64)
    out = m.forward(x, lengths=[4, 2])
    np.testing.assert_array_equal(out[..., 0], x[..., 0])
    # slopes times 2; 0 at t = 0 and at the padded steps (not 0 - 4 at t = 2)
    np.testing.assert_array_equal(out[..., 1], [[0, 4, -2, -4], [0, -2, 0, 0]])
    np.testing.assert_array_equal(m.forward(x)[1, :, 1], [0, -2, -8, 0])  # no lengths


@pytest.mark.parametrize("lengths", [None, [6, 3, 1]])
def test_difference_gradients_by_finite_differences(lengths):
    m = Difference(2, scale=[0.5, 3.0], dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((3, 6, 2))
    check_module_grads(m, x, forward_kwargs={"lengths": lengths})


def test_difference_scale_gives_unit_spread_and_ignores_padding():
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(0, [0.1, 2.0], (4, 50, 2)), axis=1)  # random walks
    lengths = np.array([50, 30, 20, 10])
    x[np.arange(50)[None, :] >= lengths[:, None]] = 0.0
    scale = difference_scale(x, lengths)
    out = Difference(2, scale, dtype=np.float64).forward(x, lengths=lengths)
    valid = (np.arange(1, 50)[None, :] < lengths[:, None])
    np.testing.assert_allclose(out[:, 1:, 2:][valid].std(axis=0), [1.0, 1.0], rtol=1e-12)
    assert difference_scale(np.ones((2, 5, 1))) == [1.0]  # flat: no division by 0


def test_difference_equals_its_torch_twin_and_errors():
    torch = pytest.importorskip("torch")
    model = SequenceModel("gru", input_size=2, hidden_size=4, output_size=3, head="pool",
                          bidirectional=True, patch_size=3, conv_channels=5, conv_kernel=3,
                          diff_scale=[2.0, 0.5], dtype="float64", seed=0).eval()
    assert list(model.modules) == ["diff", "conv", "patch", "rnn", "pool", "fc"]
    x = np.random.default_rng(2).standard_normal((3, 11, 2))
    lengths = np.array([11, 5, 2])
    x[np.arange(11)[None, :] >= lengths[:, None]] = 0.0
    twin = rnnkit.to_torch(model)
    with torch.no_grad():
        ref = twin(torch.from_numpy(x), lengths=lengths).numpy()
    with no_grad():
        assert rel_error(model.forward(x, lengths=lengths), ref) < 1e-10
    back = rnnkit.from_torch(twin)
    assert back.config() == model.config()
    with no_grad():
        np.testing.assert_array_equal(back.forward(x, lengths=lengths),
                                      model.forward(x, lengths=lengths))
    with pytest.raises(ValueError, match=r"scale must hold 2 finite numbers"):
        Difference(2, scale=[1.0])
    with pytest.raises(ValueError, match="diff_scale applies to real-valued inputs"):
        SequenceModel("gru", vocab_size=5, embedding_dim=3, diff_scale=1.0)
    with pytest.raises(ValueError, match=r"Expected input of shape \(B, T, 2\)"):
        Difference(2).forward(np.zeros((1, 3, 1)))


@pytest.mark.parametrize("front", [{}, {"patch_size": 3}, {"conv_channels": 3, "patch_size": 2}])
def test_model_with_differences_gradients_and_saving(front, tmp_path):
    model = SequenceModel("lstm", input_size=2, hidden_size=3, output_size=2, head="pool",
                          diff_scale=1.5, dtype="float64", seed=0, **front)
    x = np.random.default_rng(3).standard_normal((3, 8, 2))
    check_module_grads(model, x, forward_kwargs={"lengths": np.array([8, 5, 2])},
                       backward_kwargs={"need_input_grad": True})
    assert model.config()["diff_scale"] == [1.5, 1.5]
    rnnkit.save(model, tmp_path / "m.safetensors")
    again = rnnkit.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(again.forward(x), model.forward(x))
    with pytest.raises(ValueError, match="differences"):
        model.step(x[:, 0])
