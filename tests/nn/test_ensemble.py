"""Ensemble: the log of the averaged probabilities of its members; saved and loaded whole."""
import numpy as np
import pytest

import rnnkit
from rnnkit.nn import Ensemble
from rnnkit.nn.losses import log_softmax


def members():
    return [rnnkit.SequenceModel("gru", input_size=2, hidden_size=3, output_size=4, seed=s)
            for s in range(3)]


def test_forward_averages_probabilities(tmp_path):
    ms = members()
    ens = Ensemble(*ms)
    x = np.random.default_rng(0).standard_normal((5, 6, 2)).astype(np.float32)
    probs = np.mean([np.exp(log_softmax(m.forward(x).astype(np.float64))) for m in ms], axis=0)
    out = ens.forward(x)
    np.testing.assert_allclose(np.exp(out), probs, rtol=1e-12)
    np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0)
    rnnkit.save(ens, tmp_path / "e.safetensors")
    again = rnnkit.load(tmp_path / "e.safetensors")
    assert list(again.params) == list(ens.params) and "0.rnn.weight_ih_l0" in again.params
    np.testing.assert_array_equal(again.forward(x), out)


def test_ensemble_refuses_training_and_emptiness():
    with pytest.raises(RuntimeError, match="train its members"):
        Ensemble(*members()).backward(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble()


def test_mean_ensemble_averages_outputs_and_saves(tmp_path):
    from rnnkit.io.checkpoint import load, save
    from rnnkit.nn.ensemble import MeanEnsemble
    from rnnkit.nn.models import SequenceModel

    members = [SequenceModel("gru", input_size=1, hidden_size=4, output_size=3, seed=s)
               for s in range(3)]
    ens = MeanEnsemble(*members).eval()
    x = np.random.default_rng(0).normal(size=(2, 5, 1)).astype(np.float32)
    assert np.allclose(ens.forward(x), np.mean([m.forward(x) for m in members], axis=0))
    save(ens, tmp_path / "e.safetensors")
    back = load(tmp_path / "e.safetensors")
    assert type(back) is MeanEnsemble
    assert np.array_equal(back.forward(x), ens.forward(x))
