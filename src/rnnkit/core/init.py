"""Parameter names, shapes and PyTorch's default initialisation for recurrent layers.

Names and shapes are those of ``torch.nn.RNN/LSTM/GRU`` (``weight_ih_l{k}{_reverse}`` of shape
(G*H, I_k), ``weight_hh_l{k}`` (G*H, H), ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (G*H,), with
G the cell's ``GATES`` (1, 4, 3) and I_k = input_size for k = 0, else D*H; an LSTM with
``proj_size`` P > 0 has ``weight_hr_l{k}`` (P, H) too, weight_hh (4H, P) and I_k = D*P; one
with peepholes has ``weight_peephole_l{k}`` (3H,), [p_i, p_f, p_o], which torch has not),
and with layer normalisation the gains ``ln_weight_{part}_l{k}`` (ones) and biases
``ln_bias_{part}_l{k}`` (zeros) of each normalised part (``NORMED``), after all the others,
listed in PyTorch's state_dict order, so a dict of these arrays loads into the torch module
with ``load_state_dict``.
"""
from __future__ import annotations

import numpy as np

from rnnkit.core.cells import CELLS


# the parts a layer_norm layer normalises, and their width in H: the input and hidden
# projections (G*H), and the LSTM's cell state (H)
NORMED = {"lstm": ("ih", "hh", "c"), "gru": ("ih", "hh")}


def param_suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction else "")


def param_shapes(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True,
                 proj_size=0, peephole=False):
    """Ordered dict name -> shape, in PyTorch's order."""
    G, D = CELLS[kind].GATES, 2 if bidirectional else 1
    out = proj_size or hidden_size  # the width of h
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(num_layers):
        fan_in = input_size if layer == 0 else D * out
        for direction in range(D):
            s = param_suffix(layer, direction)
            shapes["weight_ih" + s] = (G * hidden_size, fan_in)
            shapes["weight_hh" + s] = (G * hidden_size, out)
            if bias:
                shapes["bias_ih" + s] = (G * hidden_size,)
                shapes["bias_hh" + s] = (G * hidden_size,)
            if peephole:
                shapes["weight_peephole" + s] = (3 * hidden_size,)
            if proj_size:
                shapes["weight_hr" + s] = (proj_size, hidden_size)
    return shapes


def init_recurrent(kind, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True,
                   dtype=np.float32, rng: np.random.Generator | None = None,
                   proj_size=0, peephole=False, layer_norm=False) -> dict:
    """PyTorch's default: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), drawn in name order;
    with layer_norm, then gains of ones and biases of zeros (nothing drawn)."""
    rng = np.random.default_rng(rng)
    k = 1.0 / np.sqrt(hidden_size)
    params = {
        name: rng.uniform(-k, k, size=shape).astype(dtype)
        for name, shape in param_shapes(kind, input_size, hidden_size, num_layers,
                                        bidirectional, bias, proj_size, peephole).items()
    }
    if layer_norm:
        G, H = CELLS[kind].GATES, hidden_size
        for layer in range(num_layers):
            for direction in range(2 if bidirectional else 1):
                s = param_suffix(layer, direction)
                for part in NORMED[kind]:
                    n = H if part == "c" else G * H
                    params[f"ln_weight_{part}{s}"] = np.ones(n, dtype)
                    params[f"ln_bias_{part}{s}"] = np.zeros(n, dtype)
    return params


def seed_sequence(seed) -> np.random.SeedSequence:
    """A SeedSequence from an int, None (fresh entropy) or a SeedSequence (used as is), so
    that a parent model can hand each child an independent stream."""
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
