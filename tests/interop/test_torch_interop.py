"""to_torch / from_torch: same weights, same outputs, names that load both ways."""
import numpy as np
import pytest

import rnnkit
from helpers import rel_error
from rnnkit.nn.models import SequenceModel
from rnnkit.nn.recurrent import Recurrent

torch = pytest.importorskip("torch")
TOL = {np.float64: 1e-10, np.float32: 1e-5}


def build_models(dtype):
    d = np.dtype(dtype).name
    return {
        "rnn-relu-bi": rnnkit.RNN(3, 4, num_layers=2, nonlinearity="relu", bidirectional=True,
                                  dtype=dtype, seed=0),
        "lstm": rnnkit.LSTM(3, 5, num_layers=2, dtype=dtype, seed=1),
        "gru-bi": rnnkit.GRU(3, 4, bidirectional=True, dtype=dtype, seed=2),
        "sequential": rnnkit.Sequential(rnn=rnnkit.GRU(3, 6, dtype=dtype, seed=3),
                                        last=rnnkit.LastStep(),
                                        fc=rnnkit.Linear(6, 2, dtype=dtype, seed=4)),
        "forecaster": SequenceModel("lstm", input_size=3, hidden_size=5, output_size=4,
                                    num_layers=2, bidirectional=True, dtype=d, seed=5),
        "tokens": SequenceModel("gru", vocab_size=9, embedding_dim=4, hidden_size=5,
                                output_size=9, head="all", dtype=d, seed=6),
    }


def run_rnnkit(model, x, lengths):
    model.eval()
    if isinstance(model, Recurrent):
        return model.forward(x, lengths=lengths)[0]
    return model.forward(x, lengths=lengths)


def run_torch(module, x, lengths):
    from rnnkit.interop.torch_twins import run_recurrent

    module.eval()
    with torch.no_grad():
        xt = torch.tensor(x)
        if isinstance(module, (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU)):
            return run_recurrent(module, xt, None, lengths)[0].numpy()
        return module(xt, lengths=lengths).numpy()


def inputs(name, dtype, rng):
    lengths = np.array([5, 2, 4])
    if name == "tokens":
        return rng.integers(0, 9, (3, 5)), lengths
    return rng.standard_normal((3, 5, 3)).astype(dtype), lengths


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(build_models(np.float64)))
def test_to_torch_gives_equal_outputs(name, dtype):
    model = build_models(dtype)[name]
    module = rnnkit.to_torch(model)
    assert set(module.state_dict()) == set(model.params)
    x, lengths = inputs(name, dtype, np.random.default_rng(0))
    for lens in (None, lengths):
        assert rel_error(run_rnnkit(model, x, lens), run_torch(module, x, lens)) <= TOL[dtype]


@pytest.mark.parametrize("name", list(build_models(np.float64)))
def test_from_torch_round_trip(name):
    model = build_models(np.float64)[name]
    module = rnnkit.to_torch(model)
    with torch.no_grad():  # change the torch weights, then bring them back
        for p in module.parameters():
            p.mul_(0.5)
    back = rnnkit.from_torch(module)
    assert type(back) is type(model)
    for k, v in module.state_dict().items():
        np.testing.assert_array_equal(back.params[k], v.numpy())
    x, lengths = inputs(name, np.float64, np.random.default_rng(1))
    assert rel_error(run_rnnkit(back, x, lengths), run_torch(module, x, lengths)) <= 1e-10


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_seq2seq_twin_gives_equal_logits(cell):
    from rnnkit.nn.seq2seq import Seq2Seq

    model = Seq2Seq(11, 7, embedding_dim=4, hidden_size=5, cell=cell, num_layers=2,
                    dtype="float64", seed=0)
    module = rnnkit.to_torch(model)
    assert set(module.state_dict()) == set(model.params)
    r = np.random.default_rng(0)
    src, lengths, tgt = r.integers(1, 11, (3, 6)), np.array([6, 2, 4]), r.integers(1, 7, (3, 5))
    with torch.no_grad():
        expected = module(torch.tensor(src), torch.tensor(lengths), torch.tensor(tgt)).numpy()
    assert rel_error(model.forward(src, lengths, tgt), expected) <= 1e-10
    back = rnnkit.from_torch(module)
    assert type(back) is Seq2Seq and rel_error(back.forward(src, lengths, tgt), expected) <= 1e-10


def test_from_plain_torch_layers():
    lstm = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True, dtype=torch.float64)
    layer = rnnkit.from_torch(lstm)  # batch_first=False in torch: weights are the same
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    with torch.no_grad():
        expected = lstm(torch.tensor(x).transpose(0, 1))[0].transpose(0, 1).numpy()
    assert rel_error(layer.forward(x)[0], expected) <= 1e-10
    lin = rnnkit.from_torch(torch.nn.Linear(3, 2))
    assert lin.params["weight"].dtype == np.float32


def test_safetensors_file_loads_into_the_torch_twin(tmp_path):
    from safetensors.torch import load_file

    model = build_models(np.float32)["forecaster"]
    rnnkit.save(model, tmp_path / "m.safetensors")
    module = rnnkit.to_torch(build_models(np.float32)["forecaster"])
    module.load_state_dict(load_file(tmp_path / "m.safetensors"))
    x, lengths = inputs("forecaster", np.float32, np.random.default_rng(2))
    assert rel_error(run_rnnkit(model, x, lengths), run_torch(module, x, lengths)) <= 1e-5


def test_unsupported_conversions_say_why():
    with pytest.raises(ValueError, match="sigmoid"):
        rnnkit.to_torch(rnnkit.RNN(2, 3, nonlinearity="sigmoid"))
    with pytest.raises(TypeError, match="does not know"):
        rnnkit.from_torch(torch.nn.Conv1d(2, 3, 1))
    with pytest.raises(ValueError, match="learn_initial_state"):
        rnnkit.to_torch(rnnkit.GRU(2, 3, learn_initial_state=True))
    with pytest.raises(ValueError, match="recurrent_dropout"):
        rnnkit.to_torch(rnnkit.LSTM(2, 3, recurrent_dropout=0.2))
    with pytest.raises(ValueError, match="peephole"):
        rnnkit.to_torch(rnnkit.LSTM(2, 3, peephole=True))
    with pytest.raises(ValueError, match="layer_norm"):
        rnnkit.to_torch(rnnkit.GRU(2, 3, layer_norm=True))


def test_lstm_with_projection_moves_both_ways():
    lstm = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2,
                         dtype=torch.float64)
    layer = rnnkit.from_torch(lstm)
    assert layer.proj_size == 2 and list(layer.params) == list(lstm.state_dict())
    x, lengths = inputs("lstm", np.float64, np.random.default_rng(0))
    assert rel_error(run_rnnkit(layer, x, lengths), run_torch(lstm, x, lengths)) <= 1e-10
    back = rnnkit.to_torch(layer)
    assert back.proj_size == 2
    assert rel_error(run_torch(back, x, lengths), run_torch(lstm, x, lengths)) <= 1e-12


def test_missing_torch_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'rnnkit\[torch\]'"):
        rnnkit.to_torch(rnnkit.GRU(2, 3))
