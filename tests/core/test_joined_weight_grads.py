"""dW_ih and dW_hh from one product over [x_t | h_{t-1}] (rnnkit.core.stack, where the input
is not wider than the state: 2 <= I <= H): the same gradients as the two products, checked against finite
differences, in every setting that reaches it."""
import numpy as np
import pytest
from core.test_gradcheck import BACKENDS, directional_check, make_problem

import rnnkit
from rnnkit.core import stack, weight_grads


def test_the_rule_follows_the_input_width():
    assert stack.joins_weight_grads(32, 256) and stack.joins_weight_grads(128, 128)
    assert stack.joins_weight_grads(2, 4)
    assert not stack.joins_weight_grads(1, 64)  # a matrix-vector product alone is cheaper
    assert not stack.joins_weight_grads(256, 128)  # a bidirectional stack's second layer


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind,num_layers,bidirectional,use_lengths", [
    ("lstm", 1, False, False), ("lstm", 2, True, True), ("rnn", 1, True, True),
    ("rnn", 2, False, False)])
def test_joined_gradients_match_finite_differences(kind, num_layers, bidirectional,
                                                   use_lengths, backend, monkeypatch):
    calls = []
    joined = stack._joined_weight_grads
    monkeypatch.setattr(stack, "_joined_weight_grads",
                        lambda *a: calls.append(1) or joined(*a))
    problem = make_problem(kind, num_layers, bidirectional, use_lengths, True, backend,
                           I=2, H=4)
    directional_check(*problem)
    # every direction takes the joined product, but a bidirectional second layer's, which
    # reads 2H features
    assert len(calls) == (2 if bidirectional else num_layers)


VARIANTS = [dict(), dict(bidirectional=True, num_layers=2), dict(recurrent_dropout=0.3),
            dict(bias=False), dict(peephole=True), dict(learn_initial_state=True)]


@pytest.mark.parametrize("kind,options", [
    (kind, options) for kind in ("rnn", "lstm") for options in VARIANTS
    if kind == "lstm" or "peephole" not in options],  # peepholes are the LSTM's
    ids=lambda v: v if isinstance(v, str) else ",".join(v) or "plain")
def test_joined_and_separate_products_agree(kind, options, monkeypatch):
    """float64, with padding: the joined product's gradients equal the two products' to
    rounding, for each variant that keeps dgh = dgx (not layer_norm or proj_size, which
    take the separate products)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 7, 3))
    lengths = np.array([7, 2, 5, 1])
    results = []
    for joins in (True, False):
        monkeypatch.setattr(stack, "joins_weight_grads", lambda I, H, j=joins: j)
        layer = getattr(rnnkit, kind.upper())(3, 8, dtype=np.float64, seed=0, **options)
        y, _ = layer.forward(x, lengths=lengths)
        layer.backward(np.cos(y))
        results.append({k: v.copy() for k, v in layer.grads.items()})
    for name, g in results[0].items():
        np.testing.assert_allclose(g, results[1][name], rtol=1e-12, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 40), (37, 16), (64, 300), (512, 33)])
def test_add_transposed_makes_numpys_sums(rows, cols, dtype):
    """dst += src.T in blocks: the same sums, bit for bit, as NumPy's, for shapes off the
    block size."""
    rng = np.random.default_rng(rows * cols)
    src_block = rng.standard_normal((cols + 2, rows)).astype(dtype)
    src = src_block[1:-1]  # rows of a larger array, as the joined product's slices
    dst = rng.standard_normal((rows, cols)).astype(dtype)
    expected = dst + src.T
    weight_grads.add_transposed(dst, src)
    np.testing.assert_array_equal(dst, expected)


def test_add_transposed_takes_other_layouts_through_numpy():
    rng = np.random.default_rng(0)
    src = rng.standard_normal((20, 6))[:, ::2]  # columns not contiguous
    dst = rng.standard_normal((3, 20))
    expected = dst + src.T
    weight_grads.add_transposed(dst, src)
    np.testing.assert_array_equal(dst, expected)
    dst32 = np.zeros((3, 20), np.float32)
    weight_grads.add_transposed(dst32, np.ones((20, 3)))  # other dtype: NumPy casts as it does
    np.testing.assert_array_equal(dst32, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B,T,I,H", [(3, 5, 32, 64), (2, 7, 5, 27), (1, 1, 40, 24),
                                     (4, 3, 16, 48), (17, 20, 64, 96), (2, 33, 3, 1)])
def test_join_packed_equals_the_joined_rows_packed(B, T, I, H, dtype):
    """Panels wholly in x, wholly in h_{t-1} (the first steps from h0), across the border,
    and past the last column (zero), as gemm.pack makes them from the joined rows."""
    from rnnkit.core import gemm
    from rnnkit.core.weight_grads import join_packed

    rng = np.random.default_rng(B * T + I + H)
    x, y = (rng.standard_normal((B, T, n)).astype(dtype) for n in (I, H))
    h0 = rng.standard_normal((B, H)).astype(dtype)
    rows = np.concatenate([x, np.concatenate([h0[:, None], y[:, :-1]], axis=1)], axis=2)
    np.testing.assert_array_equal(join_packed(x, y, h0), gemm.pack(rows.reshape(B * T, -1)))


def test_join_packed_splits_its_panels_over_the_cores(monkeypatch):
    from rnnkit.core import gemm, weight_grads

    calls = []
    run = weight_grads.run_sharded
    monkeypatch.setattr(weight_grads, "run_sharded",
                        lambda fn, args, n, shards: calls.append((n, shards)) or run(fn, args,
                                                                                    n, shards))
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal((64, 100, 128)).astype(np.float32) for _ in range(2))
    h0 = np.zeros((64, 128), np.float32)
    monkeypatch.setattr(weight_grads, "cores", lambda: 2)
    weight_grads.join_packed(x, y, h0)  # 6.5 MB: both cores
    weight_grads.join_packed(x[:2, :3], y[:2, :3], h0[:2])  # small: this thread
    assert calls == [(8, 2), (8, 1)]
    assert gemm.PACK_SHARDED_MIN_BYTES < 64 * 100 * 256 * 4


@pytest.mark.parametrize("on_tile", [True, False])
def test_joined_weight_grads_on_the_tile_and_on_blas_add_the_same_sums(on_tile, monkeypatch):
    from rnnkit.core import paths

    monkeypatch.setattr(paths, "products_on_tile", lambda M, K, N: on_tile)
    rng = np.random.default_rng(1)
    B, T, I, H = 5, 6, 7, 20
    dg = rng.standard_normal((B, T, 4 * H))
    x, y = rng.standard_normal((B, T, I)), rng.standard_normal((B, T, H))
    h0 = rng.standard_normal((B, H))
    grad_ih, grad_hh = np.ones((4 * H, I)), np.ones((4 * H, H))
    weight_grads._joined_weight_grads(dg, x, y, h0, grad_ih, grad_hh)
    h_prev = np.concatenate([h0[:, None], y[:, :-1]], axis=1)  # (B, T, H)
    np.testing.assert_allclose(grad_ih, 1 + np.einsum("btg,bti->gi", dg, x), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(grad_hh, 1 + np.einsum("btg,bth->gh", dg, h_prev),
                               rtol=1e-12, atol=1e-12)
