"""Checkpoints: round trips, PyTorch loading, atomic writes, and refusal of bad files."""
import json
import os
import struct

import numpy as np
import pytest

import rnnkit
from rnnkit.io import files as fileio
from rnnkit.io.checkpoint import restore_checkpoint
from rnnkit.io.files import CheckpointError
from rnnkit.nn.models import SequenceModel


def models():
    return [
        rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True, seed=0),
        rnnkit.Sequential(rnn=rnnkit.GRU(3, 5, seed=1), last=rnnkit.LastStep(),
                          fc=rnnkit.Linear(5, 2, seed=2)),
        SequenceModel("rnn", input_size=3, hidden_size=6, output_size=2, nonlinearity="relu",
                      dtype="float64", seed=3),
        SequenceModel("lstm", vocab_size=11, embedding_dim=4, hidden_size=5, output_size=11,
                      head="all", seed=4),
    ]


def output(model, x):
    model.eval()
    out = model.forward(x)
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("model", models(), ids=lambda m: type(m).__name__)
def test_save_load_round_trip(model, tmp_path):
    path = tmp_path / "m.safetensors"
    rnnkit.save(model, path)
    again = rnnkit.load(path)
    assert type(again) is type(model) and repr(again) == repr(model)
    for k, v in model.params.items():
        assert np.array_equal(again.params[k], v) and again.params[k].dtype == v.dtype
    x = np.random.default_rng(0).integers(0, 11, (2, 5)) if "embedding.weight" in model.params \
        else np.random.default_rng(0).standard_normal((2, 5, 3))
    np.testing.assert_array_equal(output(again, x), output(model, x))


def test_metadata_names_version_and_model(tmp_path):
    path = tmp_path / "m.safetensors"
    rnnkit.save(rnnkit.GRU(2, 3), path)
    _, meta = fileio.read_safetensors(path)
    assert meta["rnnkit_version"] == rnnkit.__version__
    assert json.loads(meta["model"])["class"] == "GRU"


def test_file_loads_into_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    model = SequenceModel("lstm", input_size=3, hidden_size=4, output_size=2, num_layers=2,
                          dtype="float64", seed=0)
    path = tmp_path / "m.safetensors"
    rnnkit.save(model, path)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True, dtype=torch.float64)
            self.fc = torch.nn.Linear(4, 2, dtype=torch.float64)

        def forward(self, x):
            return self.fc(self.rnn(x)[0][:, -1])

    net = Net()
    net.load_state_dict(load_file(path))  # strict: every name and shape must match
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    with torch.no_grad():
        expected = net(torch.tensor(x)).numpy()
    np.testing.assert_allclose(output(model, x), expected, rtol=1e-12)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    good = rnnkit.GRU(2, 3, seed=0)
    rnnkit.save(good, path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        rnnkit.save(rnnkit.GRU(2, 3, seed=1), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]  # no temporary file left behind


def write_bytes(tmp_path, data):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    return path


def good_bytes(tmp_path):
    path = tmp_path / "good.safetensors"
    rnnkit.save(rnnkit.LSTM(2, 3, seed=0), path)
    return path.read_bytes()


@pytest.mark.parametrize("make,match", [
    (lambda good: b"", "empty"),
    (lambda good: b"abc", "truncated"),
    (lambda good: good[: len(good) // 2], "truncated"),
    (lambda good: struct.pack("<Q", 2**40) + good[8:], "header length .* exceeds"),
    (lambda good: struct.pack("<Q", 5) + b"{not json" + good[13:], "corrupt header"),
    (lambda good: struct.pack("<Q", 2) + b"[]", "corrupt header"),
    (lambda good: os.urandom(64), "header length|truncated|corrupt"),
])
def test_refuses_bad_files(tmp_path, make, match):
    path = write_bytes(tmp_path, make(good_bytes(tmp_path)))
    with pytest.raises(CheckpointError, match=match):
        rnnkit.load(path)


def test_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        rnnkit.load(tmp_path / "nope.safetensors")
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(3, np.float32)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="not an rnnkit file"):
        rnnkit.load(tmp_path / "plain.safetensors")


def _rewrite(path, tensors_change):
    tensors, meta = fileio.read_safetensors(path)
    tensors_change(tensors)
    fileio.write_safetensors(path, tensors, meta)


def test_refuses_wrong_shape_dtype_names_and_nan(tmp_path):
    path = tmp_path / "m.safetensors"
    for change, match in [
        (lambda t: t.update(weight_hh_l0=np.zeros((12, 4), np.float32)), "shape"),
        (lambda t: t.update(weight_hh_l0=t["weight_hh_l0"].astype(np.float64)), "dtype"),
        (lambda t: t.pop("bias_ih_l0"), "missing \\['bias_ih_l0'\\]"),
        (lambda t: t.update(extra=np.zeros(2, np.float32)), "unexpected \\['extra'\\]"),
        (lambda t: t["weight_ih_l0"].__setitem__((0, 0), np.nan), "NaN"),
    ]:
        rnnkit.save(rnnkit.LSTM(2, 3, seed=0), path)
        _rewrite(path, change)
        with pytest.raises(CheckpointError, match=match):
            rnnkit.load(path)


def test_restore_into_a_model_of_another_shape_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    rnnkit.save_checkpoint(path, rnnkit.GRU(2, 3, seed=0))
    with pytest.raises(CheckpointError, match="shape"):
        restore_checkpoint(path, rnnkit.GRU(2, 4, seed=0))


def test_no_pickle_anywhere_in_the_package():
    import pathlib

    src = pathlib.Path(rnnkit.__file__).parent
    for f in src.rglob("*.py"):
        text = f.read_text()
        assert "import pickle" not in text and "allow_pickle=True" not in text, f


def test_load_checkpoint_rebuilds_model_and_optimizer_state(tmp_path):
    model = rnnkit.Sequential(rnn=rnnkit.LSTM(2, 3, seed=0), last=rnnkit.LastStep(),
                              fc=rnnkit.Linear(3, 1, seed=1))
    opt = rnnkit.Adam(model, lr=0.05)
    x, y = np.random.default_rng(0).standard_normal((4, 5, 2)), np.ones((4, 1))
    loss = rnnkit.MSELoss()
    for _ in range(3):
        model.zero_grad()
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        opt.step()
    path = tmp_path / "ckpt.safetensors"
    rnnkit.save_checkpoint(path, model, opt, training={"epoch": 3})
    again, extra = rnnkit.load_checkpoint(path)
    assert extra["training"]["epoch"] == 3 and extra["rnnkit_version"] == rnnkit.__version__
    opt2 = rnnkit.Adam(again, lr=0.0)
    opt2.load_state_dict(extra["optimizer"])
    assert opt2.lr == 0.05
    for name, state in opt.state.items():
        for key, value in state.items():
            np.testing.assert_array_equal(opt2.state[name][key], value)


def test_registered_custom_modules_save_and_load(tmp_path):
    @rnnkit.register_module
    class Scale(rnnkit.Module):
        def __init__(self, size):
            self.size = size
            self.params = {"weight": np.full(size, 2.0, np.float32)}
            self.grads = {"weight": np.zeros(size, np.float32)}

        def config(self):
            return {"size": self.size}

        def forward(self, x):
            return x * self.params["weight"]

    model = rnnkit.Sequential(rnn=rnnkit.GRU(2, 3, seed=0), scale=Scale(3))
    model.modules["scale"].params["weight"][:] = [1.0, -1.0, 0.5]
    rnnkit.save(model, tmp_path / "m.safetensors")
    again = rnnkit.load(tmp_path / "m.safetensors")
    assert isinstance(again.modules["scale"], Scale)
    np.testing.assert_array_equal(again.params["scale.weight"], [1.0, -1.0, 0.5])
