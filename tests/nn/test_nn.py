"""Linear, Embedding, Dropout, LastStep and Sequential: finite differences, PyTorch parity,
initialisation and error messages."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import check_module_grads, rel_error, torch_forward_backward
from rnnkit.nn import Dropout, Embedding, LastStep, Linear, Sequential
from rnnkit.nn.recurrent import GRU, LSTM
from rnnkit.train.optim import SGD

SHAPES = [(4,), (1, 4), (3, 4), (1, 1, 4), (2, 5, 4)]  # leading shapes around in_features=4


# --- Linear --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_finite_differences(shape, bias):
    layer = Linear(4, 3, bias=bias, dtype=np.float64, seed=1)
    x = np.random.default_rng(2).standard_normal(shape)
    check_module_grads(layer, x)


@pytest.mark.parametrize("shape", SHAPES)
def test_linear_matches_torch(shape):
    layer = Linear(4, 3, dtype=np.float64, seed=3)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(shape[:-1] + (3,))
    W, b = layer.params["weight"], layer.params["bias"]
    y_t, (dx_t, dW_t, db_t) = torch_forward_backward(F.linear, [x, W, b], dy)
    y = layer.forward(x)
    dx = layer.backward(dy)
    assert rel_error(y, y_t) < 1e-12 and rel_error(dx, dx_t) < 1e-12
    assert rel_error(layer.grads["weight"], dW_t) < 1e-12
    assert rel_error(layer.grads["bias"], db_t) < 1e-12


def test_linear_init_matches_torch_default_and_loads_into_torch():
    layer = Linear(50, 30, seed=0)
    assert layer.params["weight"].dtype == np.float32
    assert layer.params["weight"].shape == (30, 50) and layer.params["bias"].shape == (30,)
    bound = 1 / np.sqrt(50)
    for p in layer.params.values():
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.9 * bound
    torch.manual_seed(0)
    ref = torch.nn.Linear(50, 30)  # same names and shapes: the state dict loads as is
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in layer.params.items()})
    x = np.random.default_rng(0).standard_normal((2, 50)).astype(np.float32)
    np.testing.assert_allclose(layer.forward(x), ref(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_linear_seed_reproducible_and_grads_accumulate():
    a, b = Linear(3, 2, seed=5), Linear(3, 2, seed=5)
    assert np.array_equal(a.params["weight"], b.params["weight"])
    assert not np.array_equal(a.params["weight"], Linear(3, 2, seed=6).params["weight"])
    x, dy = np.ones((2, 3)), np.ones((2, 2))
    a.forward(x), a.backward(dy)
    once = a.grads["weight"].copy()
    a.forward(x), a.backward(dy)
    np.testing.assert_allclose(a.grads["weight"], 2 * once)  # backward adds
    a.zero_grad()
    assert not a.grads["weight"].any()


def test_linear_errors():
    layer = Linear(4, 3)
    with pytest.raises(ValueError, match=r"Expected input of shape \(\.\.\., 4\).*\(2, 5\)"):
        layer.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="contains NaN"):
        layer.forward(np.full((2, 4), np.nan))
    with pytest.raises(RuntimeError, match="needs a forward"):
        layer.backward(np.zeros((2, 3)))
    layer.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"Expected dy of shape \(2, 3\)"):
        layer.backward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        Linear(0, 3)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        Linear(2, 3, dtype=np.int32)


# --- Embedding -----------------------------------------------------------------------------
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
@pytest.mark.parametrize("shape", [(1,), (7,), (1, 1), (3, 5)])
def test_embedding_matches_torch(padding_idx, shape):
    emb = Embedding(6, 4, padding_idx=padding_idx, dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 6, size=shape)
    idx.flat[0] = 5  # a padding entry for padding_idx=-1; repeats are likely too
    dy = rng.standard_normal(shape + (4,))
    y_t, (_, dW_t) = torch_forward_backward(
        lambda i, W: F.embedding(i, W, padding_idx=padding_idx), [idx, emb.params["weight"]],
        dy)
    y = emb.forward(idx)
    assert emb.backward(dy) is None  # indices have no gradient
    assert rel_error(y, y_t) < 1e-12
    assert rel_error(emb.grads["weight"], dW_t) < 1e-12


def test_embedding_finite_differences_and_padding_row():
    idx = np.array([[0, 2, 2, 4], [4, 4, 1, 2]])
    check_module_grads(Embedding(5, 3, dtype=np.float64, seed=0), idx, check_input=False)
    emb = Embedding(5, 3, padding_idx=2, dtype=np.float64, seed=0)
    assert not emb.params["weight"][2].any()  # the padding row starts at zero
    emb.forward(idx)
    emb.backward(np.ones((2, 4, 3)))
    assert not emb.grads["weight"][2].any()  # ... and gets no gradient
    np.testing.assert_array_equal(emb.grads["weight"][:, 0], [1, 1, 0, 0, 3])
    assert Embedding(5, 3, padding_idx=-1).padding_idx == 4


def test_embedding_init_is_standard_normal():
    w = Embedding(2000, 50, seed=0).params["weight"]
    assert w.dtype == np.float32
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01


def test_embedding_errors():
    emb = Embedding(10, 3)
    with pytest.raises(TypeError, match="indices must be integers, got dtype float64"):
        emb.forward(np.array([1.0, 2.0]))
    with pytest.raises(IndexError, match=r"indices must lie in 0\.\.9, got 10"):
        emb.forward(np.array([[1, 10]]))
    with pytest.raises(IndexError, match="got -1"):
        emb.forward(np.array([-1]))
    with pytest.raises(ValueError, match="padding_idx must lie in"):
        Embedding(10, 3, padding_idx=10)
    emb.forward(np.array([1, 2]))
    with pytest.raises(ValueError, match=r"Expected dy of shape \(2, 3\)"):
        emb.backward(np.zeros((2, 4)))


# --- Dropout -------------------------------------------------------------------------------
def test_dropout_training_statistics_and_backward():
    drop = Dropout(0.3, seed=0)
    x = np.random.default_rng(1).standard_normal((200, 50)) + 3  # no zeros in x
    y = drop.forward(x)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y[kept], x[kept] / 0.7)  # inverted scaling
    dy = np.random.default_rng(2).standard_normal(x.shape)
    np.testing.assert_allclose(drop.backward(dy), dy * kept / 0.7)  # same mask as forward


def test_dropout_eval_is_identity_and_seed_reproducible():
    x = np.random.default_rng(0).standard_normal((4, 6))
    drop = Dropout(0.5, seed=3).eval()
    assert np.array_equal(drop.forward(x), x)
    assert np.array_equal(drop.backward(x), x)
    a, b = Dropout(0.5, seed=7), Dropout(0.5, seed=7)
    assert np.array_equal(a.forward(x), b.forward(x))
    assert not np.array_equal(a.forward(x), Dropout(0.5, seed=8).forward(x))


def test_dropout_edge_probabilities_and_errors():
    x = np.ones((3, 4), np.float32)
    assert np.array_equal(Dropout(0.0).forward(x), x)
    y = Dropout(1.0).forward(x)
    assert y.dtype == np.float32 and not y.any()  # like torch: p=1 drops everything
    with pytest.raises(ValueError, match=r"p must be a number >= 0 and <= 1, got 1.5"):
        Dropout(1.5)


# --- LastStep ------------------------------------------------------------------------------
@pytest.mark.parametrize("B,T", [(1, 1), (1, 4), (3, 1), (3, 5)])
def test_last_step_picks_and_scatters(B, T):
    rng = np.random.default_rng(B * 10 + T)
    y = rng.standard_normal((B, T, 2))
    lengths = rng.integers(1, T + 1, size=B)
    head = LastStep()
    np.testing.assert_array_equal(head.forward(y), y[:, -1])
    head.backward(np.ones((B, 2)))
    out = head.forward(y, lengths=lengths)
    np.testing.assert_array_equal(out, [y[b, lengths[b] - 1] for b in range(B)])
    dout = rng.standard_normal((B, 2))
    dy = head.backward(dout)
    for b in range(B):
        np.testing.assert_array_equal(dy[b, lengths[b] - 1], dout[b])
        assert np.count_nonzero(np.delete(dy[b], lengths[b] - 1, axis=0)) == 0
    check_module_grads(head, y, forward_kwargs={"lengths": lengths})
    # batch-first and contiguous, so that a recurrent layer's backward takes it without a copy
    assert dy.flags.c_contiguous


def test_last_step_both_ends_gives_each_directions_final_state():
    """With reverse_features=H on a bidirectional layer the head returns [h_n forward,
    h_n reverse] of every sequence, lengths included."""
    from rnnkit import GRU

    layer = GRU(3, 4, bidirectional=True, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    x, lengths = rng.standard_normal((3, 5, 3)), np.array([5, 1, 3])
    y, h_n = layer.forward(x, lengths=lengths)
    head = LastStep(reverse_features=4)
    out = head.forward(y, lengths=lengths)
    np.testing.assert_allclose(out, np.concatenate([h_n[0], h_n[1]], axis=1), atol=1e-15)
    check_module_grads(head, y, forward_kwargs={"lengths": lengths})
    assert repr(head) == "LastStep(reverse_features=4)"
    with pytest.raises(ValueError, match="exceeds the 2 features"):
        LastStep(reverse_features=3).forward(np.zeros((1, 2, 2)))


def test_last_step_errors():
    head = LastStep()
    with pytest.raises(ValueError, match=r"Expected y to be 3D \(B, T, F\), got 2D"):
        head.forward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"lengths must lie in 1\.\.4"):
        head.forward(np.zeros((2, 4, 3)), lengths=[5, 1])
    with pytest.raises(ValueError, match=r"Expected lengths of shape \(2,\)"):
        head.forward(np.zeros((2, 4, 3)), lengths=[1, 1, 1])
    head.forward(np.zeros((2, 4, 3)))
    with pytest.raises(ValueError, match=r"Expected dout of shape \(2, 3\)"):
        head.backward(np.zeros((2, 4, 3)))


# --- Sequential ----------------------------------------------------------------------------
def test_sequential_names_share_arrays_and_optimizer_reaches_children():
    model = Sequential(Linear(3, 4, seed=0), Dropout(0.1), Linear(4, 2, seed=1))
    assert list(model.params) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(model.grads) == list(model.params)
    assert model.params["2.weight"] is model[2].params["weight"]
    assert model.grads["0.bias"] is model[0].grads["bias"]
    with pytest.raises(TypeError):
        model.params["0.weight"] = np.zeros((4, 3))  # read-only: rebinding would not train
    named = Sequential(rnn=GRU(3, 5, seed=0), last=LastStep(), fc=Linear(5, 2, seed=1))
    assert list(named.params)[:2] == ["rnn.weight_ih_l0", "rnn.weight_hh_l0"]
    assert named["fc"] is named[2] and len(named) == 3
    nested = Sequential(enc=Sequential(Linear(2, 3)), head=Linear(3, 1))
    assert list(nested.params) == ["enc.0.weight", "enc.0.bias", "head.weight", "head.bias"]
    before = named["fc"].params["weight"].copy()
    named.grads["fc.weight"][...] = 1.0
    SGD(named, lr=0.5).step()
    np.testing.assert_allclose(named["fc"].params["weight"], before - 0.5)


def test_sequential_train_eval_propagates():
    model = Sequential(Linear(2, 2), Dropout(0.5))
    model.eval()
    assert not model.training and not model[1].training
    model.train()
    assert model[1].training


def test_sequential_finite_differences():
    model = Sequential(Linear(3, 4, dtype=np.float64, seed=0), Dropout(0.5).eval(),
                       Linear(4, 2, dtype=np.float64, seed=1))
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    check_module_grads(model, x)
    emb = Sequential(emb=Embedding(7, 3, dtype=np.float64, seed=0),
                     fc=Linear(3, 2, dtype=np.float64, seed=1))
    check_module_grads(emb, np.array([[1, 6, 6], [0, 2, 3]]), check_input=False)


def test_sequential_lstm_many_to_one_matches_torch():
    B, T, I, H, O = 3, 5, 2, 4, 3
    model = Sequential(rnn=LSTM(I, H, dtype=np.float64, seed=0), last=LastStep(),
                       fc=Linear(H, O, dtype=np.float64, seed=1))
    rng = np.random.default_rng(2)
    x, dout, lengths = rng.standard_normal((B, T, I)), rng.standard_normal((B, O)), [5, 1, 3]
    out = model.forward(x, lengths=lengths)
    model.zero_grad()
    dx = model.backward(dout)

    lstm = torch.nn.LSTM(I, H, batch_first=True).double()
    fc = torch.nn.Linear(H, O).double()
    for name, m in (("rnn", lstm), ("fc", fc)):
        m.load_state_dict({k: torch.tensor(model[name].params[k]) for k in m.state_dict()})
    xt = torch.tensor(x, requires_grad=True)
    # each sequence alone, cut at its length: the reference for right-padded batches
    ref = torch.stack([fc(lstm(xt[b:b + 1, :n])[0][0, -1]) for b, n in enumerate(lengths)])
    ref.backward(torch.tensor(dout))
    assert rel_error(out, ref.detach().numpy()) < 1e-10
    assert rel_error(dx, xt.grad.numpy()) < 1e-10
    for prefix, m in (("rnn", lstm), ("fc", fc)):
        for k, p in m.named_parameters():
            assert rel_error(model.grads[f"{prefix}.{k}"], p.grad.numpy()) < 1e-10, k


def test_sequential_errors():
    lin = Linear(2, 2)
    with pytest.raises(ValueError, match="appears twice"):
        Sequential(lin, lin)
    with pytest.raises(ValueError, match="by position or by name"):
        Sequential(lin, fc=Linear(2, 2))
    with pytest.raises(TypeError, match="child '0' is a function"):
        Sequential(lambda x: x)
    with pytest.raises(ValueError, match="must not contain '.'"):
        Sequential(**{"a.b": lin})
    with pytest.raises(ValueError, match="no child's forward takes lengths"):
        Sequential(lin).forward(np.zeros((1, 2)), lengths=[1])


def test_a_training_output_the_backward_reads_is_read_only():
    """y of a one-direction layer is the buffer its backward reads h_t from (no copy): an
    in-place change would corrupt the gradient, so it is refused, as torch refuses to change
    a tensor saved for backward. Without a backward to serve (no_grad) y is the user's."""
    from rnnkit import LSTM
    from rnnkit.nn.module import no_grad

    layer = LSTM(2, 3, seed=0)
    x = np.ones((2, 4, 2), np.float32)
    y, _ = layer.forward(x)
    with pytest.raises(ValueError, match="read-only"):
        y[0, 0, 0] = 1.0
    layer.backward(np.ones_like(y))
    with no_grad():
        y, _ = layer.forward(x)
    y[0, 0, 0] = 1.0
