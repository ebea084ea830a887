"""The cells: one contract for every kind, and one step equal to torch.nn.RNNCell/LSTMCell/GRUCell
in float64, outputs and every gradient."""
import numpy as np
import pytest

from helpers import rel_error
from rnnkit.core.cells import CELLS

CONTRACT = ("GATES", "CARRY", "ACTS", "OPTIONS", "GH_APART", "step", "step_backward", "recur",
            "recur_backward")
TORCH_CELLS = {"rnn": "RNNCell", "lstm": "LSTMCell", "gru": "GRUCell"}
# torch's RNNCell has no sigmoid; the finite-difference checks cover it
CASES = [("rnn", {"nonlinearity": "tanh"}), ("rnn", {"nonlinearity": "relu"}), ("lstm", {}),
         ("gru", {})]


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_every_cell_has_the_contract(kind):
    cell = CELLS[kind]
    assert all(hasattr(cell, name) for name in CONTRACT)
    assert cell.CARRY[0] == "h"  # the output h_t is carry[0]


def torch_cell_step(kind, params, x, carry, dh, dcarry, options):
    """torch.nn.*Cell on the same weights, one step: its new carry, and the gradients of
    L = <h_t, dh> + <carry_t, dcarry> for x, each carried array and each parameter."""
    import torch

    names = CELLS[kind].CARRY
    module = getattr(torch.nn, TORCH_CELLS[kind])(x.shape[1], dh.shape[1],
                                                  bias="bias_ih" in params,
                                                  dtype=torch.float64, **options)
    module.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    xt = torch.tensor(x, requires_grad=True)
    ct = [torch.tensor(a, requires_grad=True) for a in carry]
    out = module(xt, ct[0] if len(ct) == 1 else tuple(ct))  # h, or the pair (h, c)
    new = out if isinstance(out, tuple) else (out,)
    loss = (new[0] * torch.tensor(dh)).sum()
    for a, d in zip(new, dcarry):
        loss = loss + (a * torch.tensor(d)).sum()
    loss.backward()
    grads = {"x": xt.grad, **dict(zip(names, (c.grad for c in ct))),
             **{k: p.grad for k, p in module.named_parameters()}}
    return [a.detach().numpy() for a in new], {k: g.numpy() for k, g in grads.items()}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind,options", CASES)
def test_cell_step_matches_torch(kind, options, bias):
    pytest.importorskip("torch")
    cell = CELLS[kind]
    r = np.random.default_rng(0)
    B, I, H, G = 3, 4, 5, cell.GATES
    params = {"weight_ih": r.standard_normal((G * H, I)), "weight_hh": r.standard_normal((G * H, H))}
    if bias:
        params.update(bias_ih=r.standard_normal(G * H), bias_hh=r.standard_normal(G * H))
    x, dh = r.standard_normal((B, I)), r.standard_normal((B, H))
    carry = tuple(r.standard_normal((B, H)) for _ in cell.CARRY)
    dcarry = tuple(r.standard_normal((B, H)) for _ in cell.CARRY)

    new, h, cache = cell.step(params, x, carry, **options)
    dx, dcarry_prev, grads = cell.step_backward(params, dh, dcarry, cache, **options)
    ref_new, ref_grads = torch_cell_step(kind, params, x, carry, dh, dcarry, options)
    assert h is new[0]
    for name, a, b in zip(cell.CARRY, new, ref_new):
        assert rel_error(a, b) <= 1e-13, name
    got = {"x": dx, **dict(zip(cell.CARRY, dcarry_prev)), **grads}
    assert got.keys() == ref_grads.keys()
    for name, g in ref_grads.items():
        assert rel_error(got[name], g) <= 1e-12, (name, rel_error(got[name], g))
