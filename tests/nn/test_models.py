"""SequenceModel with patches (after a convolution or not) and a pooled read-out: finite
differences, torch twin, saving."""
import numpy as np
import pytest
from helpers import check_module_grads, rel_error

import rnnkit
from rnnkit.nn import no_grad


def patch_pool_model(dtype="float64", cell="gru", conv_channels=None, patch_mode="linear"):
    return rnnkit.SequenceModel(cell, input_size=2, hidden_size=4, output_size=3,
                                patch_size=3, head="pool", bidirectional=True, dtype=dtype,
                                seed=0, conv_channels=conv_channels, conv_kernel=3,
                                patch_mode=patch_mode)


@pytest.mark.parametrize("patch_mode", ["linear", "max"])
def test_conv_patch_pool_model_gradients(patch_mode):
    model = patch_pool_model(conv_channels=5, patch_mode=patch_mode)
    x = np.random.default_rng(0).standard_normal((3, 10, 2))
    check_module_grads(model, x, forward_kwargs={"lengths": np.array([10, 4, 1])},
                       backward_kwargs={"need_input_grad": True})
    assert type(model.modules["patch"]).__name__ == {"linear": "PatchEmbedding",
                                                     "max": "PatchMaxPool"}[patch_mode]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_patch_pool_model_gradients(cell):
    x = np.random.default_rng(0).standard_normal((3, 10, 2))
    check_module_grads(patch_pool_model(cell=cell), x,
                       forward_kwargs={"lengths": np.array([10, 4, 1])},
                       backward_kwargs={"need_input_grad": True})


@pytest.mark.parametrize("conv_channels,patch_mode", [(None, "linear"), (5, "linear"),
                                                      (5, "max")])
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_patch_pool_model_equals_its_torch_twin(dtype, tol, conv_channels, patch_mode):
    torch = pytest.importorskip("torch")
    model = patch_pool_model(dtype, conv_channels=conv_channels, patch_mode=patch_mode).eval()
    x = np.random.default_rng(1).standard_normal((3, 11, 2)).astype(dtype)
    lengths = np.array([11, 5, 2])
    twin = rnnkit.to_torch(model)
    with torch.no_grad():
        ref = twin(torch.from_numpy(x), lengths=lengths).numpy()
    with no_grad():
        assert rel_error(model.forward(x, lengths=lengths), ref) < tol
    back = rnnkit.from_torch(twin)
    assert back.config() == model.config()


@pytest.mark.parametrize("conv_channels", [None, 5])
def test_a_series_result_does_not_depend_on_its_batch_padding(conv_channels):
    """The same series, padded to 9 or to 20 steps, gives the same logits: the convolution's
    outputs at padded steps are 0 before the patches read them (they used to be
    relu(bias + ...), so the last patch depended on the batch's longest series)."""
    model = patch_pool_model(conv_channels=conv_channels).eval()
    x = np.random.default_rng(3).standard_normal((2, 9, 2))
    x[1, 4:] = 0.0
    lengths = np.array([9, 4])
    wide = np.concatenate([x, np.zeros((2, 11, 2))], axis=1)
    with no_grad():
        np.testing.assert_allclose(model.forward(wide, lengths=lengths),
                                   model.forward(x, lengths=lengths), atol=1e-12)
        np.testing.assert_allclose(model.forward(x[1:, :4], lengths=[4]),
                                   model.forward(x, lengths=lengths)[1:], atol=1e-12)


@pytest.mark.parametrize("conv_channels,patch_mode", [(None, "linear"), (1, "linear"),
                                                      (3, "max")])  # 1 < input_size: a bound
def test_patch_pool_model_saves_and_loads(tmp_path, conv_channels, patch_mode):
    model = patch_pool_model(conv_channels=conv_channels, patch_mode=patch_mode)
    rnnkit.save(model, tmp_path / "m.safetensors")
    again = rnnkit.load(tmp_path / "m.safetensors")
    x = np.random.default_rng(2).standard_normal((2, 7, 2))
    np.testing.assert_array_equal(again.forward(x), model.forward(x))


def test_patch_and_pool_refuse_what_they_cannot_do():
    with pytest.raises(ValueError, match="whole sequence"):
        patch_pool_model().step(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="patch_size applies to real-valued inputs"):
        rnnkit.SequenceModel("gru", vocab_size=5, embedding_dim=2, patch_size=2)
    with pytest.raises(ValueError, match="patch_mode must be 'linear' or 'max'"):
        patch_pool_model(patch_mode="mean")
    with pytest.raises(ValueError, match="head must be 'last', 'pool' or 'all'"):
        rnnkit.SequenceModel("gru", input_size=2, head="mean")


def spy_on_rnn_backward(model, monkeypatch) -> list:
    """The keywords of every call to the model's recurrent backward, in a list."""
    asked = []
    rnn_backward = model.rnn.backward
    monkeypatch.setattr(model.rnn, "backward",
                        lambda d, **kw: asked.append(kw) or rnn_backward(d, **kw))
    return asked


def test_model_on_data_skips_its_input_gradient(monkeypatch):
    """The first recurrent layer reads the data: the model's backward asks it for no dx
    unless told to, and every parameter gradient is the same either way."""
    model = rnnkit.SequenceModel("lstm", input_size=3, hidden_size=4, output_size=2,
                                 num_layers=2, dtype="float64", seed=0)
    x = np.random.default_rng(3).standard_normal((2, 5, 3))
    check_module_grads(model, x, backward_kwargs={"need_input_grad": True})
    asked = spy_on_rnn_backward(model, monkeypatch)
    grads = {}
    for need in (True, False):
        model.zero_grad()
        out = model.forward(x)
        dx = model.backward(np.ones_like(out), need_input_grad=need)
        assert (dx is None) == (not need)
        grads[need] = {k: g.copy() for k, g in model.grads.items()}
    assert asked == [{"need_input_grad": True}, {"need_input_grad": False}]
    for name in grads[True]:
        np.testing.assert_array_equal(grads[False][name], grads[True][name], err_msg=name)


@pytest.mark.parametrize("front", [{"patch_size": 2}, {"vocab_size": 6, "embedding_dim": 3}])
def test_model_with_a_front_end_keeps_the_recurrent_input_gradient(front, monkeypatch):
    """A patch projection or an embedding before the recurrent layer needs its dx."""
    data = {"input_size": 3} if "patch_size" in front else {}
    model = rnnkit.SequenceModel("gru", hidden_size=4, seed=0, **data, **front)
    x = (np.ones((2, 6, 3), np.float32) if data else np.arange(12).reshape(2, 6) % 6)
    asked = spy_on_rnn_backward(model, monkeypatch)
    model.backward(np.ones_like(model.forward(x)))
    assert asked == [{"need_input_grad": True}]
