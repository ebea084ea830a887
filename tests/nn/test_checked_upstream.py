"""Containers scan their own input and output gradient for NaN and inf once, and their
children skip the scans of what the one before computed (rnnkit.validation.checked_upstream):
which arrays are scanned, and that bad values still get the error that names them."""
import numpy as np
import pytest

import rnnkit
from rnnkit import validation
from rnnkit.nn.linear import Linear
from rnnkit.nn.seq2seq import Seq2Seq
from rnnkit.nn.sequential import Sequential

rng = np.random.default_rng(0)


@pytest.fixture
def scanned(monkeypatch):
    """The names of the arrays check_finite scans, in order."""
    names = []
    real = validation.check_finite

    def spy(x, name):
        names.append(name)
        real(x, name)
    monkeypatch.setattr(validation, "check_finite", spy)
    return names


def test_a_token_model_scans_only_its_output_gradient(scanned):
    """textgen's model: embedding, LSTM, linear head over all steps. Before, each of the
    LSTM's input, the head's input, the head's dy, the LSTM's dy and the embedding's dy was
    scanned (3.3 MB twice at textgen's shape)."""
    model = rnnkit.SequenceModel("lstm", vocab_size=11, embedding_dim=4, hidden_size=6,
                                 output_size=11, head="all", seed=0)
    out = model.forward(rng.integers(0, 11, (3, 7)))
    assert scanned == []
    model.backward(np.ones_like(out))
    assert scanned == ["dout"]


def test_a_series_model_scans_its_input_and_output_gradient(scanned):
    model = rnnkit.SequenceModel("gru", input_size=2, hidden_size=5, output_size=1,
                                 conv_channels=3, conv_kernel=2, patch_size=2, head="pool",
                                 seed=0)
    out = model.forward(rng.standard_normal((3, 8, 2)), lengths=np.array([8, 5, 2]))
    model.backward(np.ones_like(out), need_input_grad=True)
    assert scanned == ["input", "dout"]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_bad_values_reaching_a_model_are_named_and_the_scans_come_back(bad):
    model = rnnkit.SequenceModel("lstm", input_size=2, hidden_size=4, output_size=3,
                                 head="all", seed=0)
    x = rng.standard_normal((2, 5, 2))
    x[1, 3, 0] = bad
    word = "NaN" if np.isnan(bad) else "inf"
    with pytest.raises(ValueError, match=rf"input contains {word} at index \(1, 3, 0\)"):
        model.forward(x)
    out = model.forward(np.zeros((2, 5, 2)))
    dout = np.ones_like(out)
    dout[0, 4, 2] = bad
    with pytest.raises(ValueError, match=rf"dout contains {word} at index \(0, 4, 2\)"):
        model.backward(dout)
    with pytest.raises(ValueError, match="input contains"):  # no scan was left switched off
        Linear(2, 3).forward(x)


def test_a_user_state_is_still_scanned_inside_the_model():
    model = rnnkit.SequenceModel("gru", input_size=2, hidden_size=4, output_size=3, seed=0)
    with pytest.raises(ValueError, match="h0 contains NaN|contains NaN"):
        model.forward(np.zeros((2, 5, 2)), state=np.full((1, 2, 4), np.nan))


def test_sequential_scans_what_enters_its_first_and_last_child(scanned):
    seq = Sequential(rnn=rnnkit.LSTM(3, 4, seed=0), fc=Linear(4, 2, seed=1))
    out = seq.forward(rng.standard_normal((2, 6, 3)))
    seq.backward(np.ones_like(out))
    assert scanned == ["input", "dy"]  # the LSTM's input and the head's dy, once each
    bad = np.ones_like(out)
    bad[1, 2, 1] = np.nan
    seq.forward(np.zeros((2, 6, 3)))
    with pytest.raises(ValueError, match=r"dy contains NaN at index \(1, 2, 1\)"):
        seq.backward(bad)
    with pytest.raises(ValueError, match="input contains NaN"):
        seq.forward(np.full((2, 6, 3), np.nan))


def test_seq2seq_scans_only_the_logits_gradient_and_a_state(scanned):
    model = Seq2Seq(7, 6, embedding_dim=3, hidden_size=4, seed=0)
    logits = model.forward(np.array([[1, 2, 3], [4, 5, 0]]), np.array([3, 2]),
                           np.array([[1, 2], [3, 4]]))
    assert scanned == ["h0"]  # the decoder's initial state: states are scanned as before
    dlogits = np.ones_like(logits)
    model.backward(dlogits)
    assert scanned == ["h0", "dlogits", "dh_n"]  # and the encoder's final-state gradient
    model.forward(np.array([[1, 2, 3]]), np.array([3]), np.array([[1, 2]]))
    dlogits = np.zeros((1, 2, 6))
    dlogits[0, 1, 5] = np.inf
    with pytest.raises(ValueError, match=r"dlogits contains inf at index \(0, 1, 5\)"):
        model.backward(dlogits)
