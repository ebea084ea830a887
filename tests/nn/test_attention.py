"""Luong attention: finite differences (masking and softmax included), PyTorch parity in
float64, the mask's meaning, and the Module's interface."""
import numpy as np
import pytest
import torch

from helpers import numerical_grad, rel_error
from rnnkit.nn.attention import (
    LuongAttention,
    attention_backward,
    attention_forward,
    attention_keys,
    init_attention,
)

# (B, Tq, Tk, Dq, Dk, O): B = 1, Tq = 1 (a decoding step) and Tk = 1 included
SHAPES = [(1, 1, 1, 2, 3, 2), (2, 3, 4, 3, 2, 4), (3, 1, 5, 4, 4, 3), (1, 4, 2, 2, 5, 2)]


def make_case(shape, seed, scale=1.0):
    B, Tq, Tk, Dq, Dk, O = shape
    rng = np.random.default_rng(seed)
    params = init_attention(Dq, Dk, O, np.float64, rng)
    q = scale * rng.standard_normal((B, Tq, Dq))  # (B, Tq, Dq)
    memory = scale * rng.standard_normal((B, Tk, Dk))  # (B, Tk, Dk)
    lengths = rng.integers(1, Tk + 1, size=B)  # (B,)
    lengths[0] = Tk  # one full row, the others padded at random
    dout = rng.standard_normal((B, Tq, O))  # (B, Tq, O)
    return params, q, memory, lengths, dout


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", [1.0, 3.0])  # 3.0: nearly one-hot weights, saturated tanh
def test_attention_finite_differences(shape, scale):
    params, q, memory, lengths, dout = make_case(shape, seed=sum(shape), scale=scale)
    # saturated: gradients of order 1e-3 against the differences' round-off of ~1e-10
    tol = 1e-7 if scale == 1.0 else 1e-6

    def loss(_):
        return float(np.sum(attention_forward(params, q, memory, lengths)[0] * dout))

    grads = {k: np.zeros_like(v) for k, v in params.items()}
    _, _, cache = attention_forward(params, q, memory, lengths)
    dq, dmemory = attention_backward(params, cache, dout, grads)
    assert rel_error(dq, numerical_grad(loss, q)) < tol
    assert rel_error(dmemory, numerical_grad(loss, memory)) < tol
    for name, p in params.items():
        assert rel_error(grads[name], numerical_grad(loss, p)) < tol, name


def torch_attention(q, memory, W_a, W_c, b_c, lengths):
    """The same computation written in torch: scores q W_a m^T, masked_fill(-inf), softmax."""
    scores = q @ (memory @ W_a.T).transpose(1, 2)  # (B, Tq, Tk)
    pad = torch.arange(memory.shape[1])[None, :] >= torch.as_tensor(lengths)[:, None]
    weights = torch.softmax(scores.masked_fill(pad[:, None, :], float("-inf")), dim=-1)
    context = weights @ memory  # (B, Tq, Dk)
    return torch.tanh(torch.cat([context, q], dim=-1) @ W_c.T + b_c), weights


@pytest.mark.parametrize("shape", SHAPES + [(4, 6, 7, 8, 10, 5)])
def test_attention_matches_torch(shape):
    params, q, memory, lengths, dout = make_case(shape, seed=7)
    leaves = [torch.tensor(a, requires_grad=True) for a in
              (q, memory, params["weight_a"], params["weight_c"], params["bias_c"])]
    out_t, weights_t = torch_attention(*leaves, lengths)
    (out_t * torch.tensor(dout)).sum().backward()
    dq_t, dmemory_t, dW_a_t, dW_c_t, db_c_t = (t.grad.numpy() for t in leaves)

    out, weights, cache = attention_forward(params, q, memory, lengths)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dq, dmemory = attention_backward(params, cache, dout, grads)
    for ours, theirs in [(out, out_t.detach().numpy()), (weights, weights_t.detach().numpy()),
                         (dq, dq_t), (dmemory, dmemory_t), (grads["weight_a"], dW_a_t),
                         (grads["weight_c"], dW_c_t), (grads["bias_c"], db_c_t)]:
        assert rel_error(ours, theirs) < 1e-10


def test_padding_gets_no_weight_and_does_not_matter():
    params, q, memory, lengths, dout = make_case((3, 4, 6, 3, 5, 2), seed=11)
    lengths = np.array([6, 2, 1])
    out, weights, cache = attention_forward(params, q, memory, lengths)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    pad = np.arange(6)[None, :] >= lengths[:, None]  # (B, Tk)
    assert np.all(weights[np.broadcast_to(pad[:, None, :], weights.shape)] == 0)
    assert np.all(weights[2, :, 0] == 1.0)  # one valid position takes all the weight
    changed = memory.copy()
    changed[pad] = 1e3  # whatever sits in the padding
    out2, _, cache2 = attention_forward(params, q, changed, lengths)
    assert np.array_equal(out, out2)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    _, dmemory = attention_backward(params, cache2, dout, grads)
    assert np.all(dmemory[pad] == 0)


def test_precomputed_keys_give_the_same_result():
    params, q, memory, lengths, _ = make_case((2, 3, 4, 3, 5, 2), seed=3)
    out, weights, _ = attention_forward(params, q, memory, lengths)
    out_k, weights_k, _ = attention_forward(params, q, memory, lengths,
                                            attention_keys(params, memory))
    assert np.array_equal(out, out_k) and np.array_equal(weights, weights_k)


def test_module_wraps_the_pure_functions():
    att = LuongAttention(3, 5, 4, dtype=np.float64, seed=0)
    assert att.config() == dict(query_size=3, memory_size=5, out_size=4, dtype="float64")
    assert att.params["weight_a"].shape == (3, 5) and att.params["weight_c"].shape == (4, 8)
    params, q, memory, lengths, dout = make_case((2, 3, 4, 3, 5, 4), seed=5)
    att.load_state_dict({k: v for k, v in params.items()})
    out, weights = att.forward(q, memory, lengths)
    dq, dmemory = att.backward(dout)
    out_f, weights_f, cache = attention_forward(params, q, memory, lengths)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dq_f, dmemory_f = attention_backward(params, cache, dout, grads)
    assert np.array_equal(out, out_f) and np.array_equal(dq, dq_f)
    assert np.array_equal(dmemory, dmemory_f)
    assert all(np.array_equal(att.grads[k], grads[k]) for k in grads)
    full, _ = att.forward(q, memory)  # no lengths: every position is valid
    assert np.array_equal(full, attention_forward(params, q, memory, np.full(2, 4))[0])
    assert att.backward(dout) is not None
    with pytest.raises(RuntimeError, match="needs a forward"):
        att.backward(dout)
    with pytest.raises(ValueError, match=r"Expected q of shape \(B, Tq, 3\)"):
        att.forward(np.zeros((2, 3, 4)), memory)
    with pytest.raises(ValueError, match="Expected memory of shape"):
        att.forward(q, np.zeros((2, 4, 6)))
    with pytest.raises(ValueError, match="lengths must lie in 1..4"):
        att.forward(q, memory, np.array([0, 4]))
