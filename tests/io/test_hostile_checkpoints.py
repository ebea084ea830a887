"""Hostile checkpoint files (issue 11): each is refused with a CheckpointError, quickly and
without allocating what its metadata asks for; resuming from one leaves the model and the
optimizer as they were; an SGD checkpoint does not resume into Adam."""
import json
import struct
import time
import tracemalloc

import numpy as np
import pytest

import rnnkit
from rnnkit.io.checkpoint import restore_checkpoint, save_checkpoint
from rnnkit.io.files import CheckpointError
from rnnkit.nn.models import SequenceModel
from rnnkit.train.optim import SGD, Adam

REFUSE_SECONDS = 2.0  # the worst refusal takes milliseconds; a build of 10**9 takes minutes
REFUSE_BYTES = 64 * 2**20  # ... and a few MB (the file itself), never what it asks for


def model():
    return SequenceModel("gru", input_size=2, hidden_size=4, output_size=3, seed=0)


def raw(header: dict, body: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def parts(tmp_path, with_optimizer=False):
    """(header dict, body bytes) of a genuine checkpoint."""
    path = tmp_path / "good.safetensors"
    m = model()
    opt = Adam(m, lr=1e-3) if with_optimizer else None
    if opt is not None:  # one step, so that the optimizer has buffers
        for g in m.grads.values():
            g[...] = 1.0
        opt.step()
    save_checkpoint(path, m, opt, {"epoch": 1, "step": 2, "history": {"loss": [1.0]}})
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def with_meta(key, value):
    """A change of one metadata entry (JSON-encoded unless already a string)."""
    def change(header, body):
        header["__metadata__"][key] = value if isinstance(value, str) else json.dumps(value)
        return raw(header, body)
    return change


def with_model(edit):
    def change(header, body):
        desc = json.loads(header["__metadata__"]["model"])
        header["__metadata__"]["model"] = json.dumps(edit(desc))
        return raw(header, body)
    return change


def config(**kw):
    return lambda d: {**d, "config": {**d["config"], **kw}}


def entry(name, **kw):
    def change(header, body):
        header[name] = {**header[name], **kw}
        return raw(header, body)
    return change


DEEP = "[" * 100_000 + "]" * 100_000
HOSTILE = [
    ("meta-nested-1e5", with_meta("model", DEEP)),
    ("training-nested-1e5", with_meta("training", DEEP)),
    ("header-nested-1e5", lambda h, b: struct.pack("<Q", len(DEEP) + 8)
     + b'{"a": ' + DEEP.encode() + b"}" + b" " + b),
    ("offsets-strings", entry("fc.bias", data_offsets=["0", "12"])),
    ("offsets-floats", entry("fc.bias", data_offsets=[0.0, 12.0])),
    ("offsets-one", entry("fc.bias", data_offsets=[0])),
    ("offsets-negative", entry("fc.bias", data_offsets=[-12, 0])),
    ("offsets-huge", entry("fc.bias", data_offsets=[0, 2**70])),
    ("shape-negative", entry("fc.bias", shape=[-3])),
    ("shape-string", entry("fc.bias", shape="3")),
    ("shape-nested", entry("fc.bias", shape=[[3]])),
    ("dtype-unknown", entry("fc.bias", dtype="F128")),
    ("dtype-missing", lambda h, b: raw({**h, "fc.bias": {"shape": [3],
                                                         "data_offsets": [0, 12]}}, b)),
    ("entry-list", lambda h, b: raw({**h, "fc.bias": [1, 2]}, b)),
    ("meta-not-strings", lambda h, b: raw({**h, "__metadata__": {"model": 1}}, b)),
    ("meta-list", lambda h, b: raw({**h, "__metadata__": []}, b)),
    ("model-missing", lambda h, b: raw({**h, "__metadata__": {"format": "rnnkit"}}, b)),
    ("model-not-json", with_meta("model", "{nope")),
    ("model-nan", with_meta("model", '{"class": "SequenceModel", "config": {"a": NaN}}')),
    ("model-list", with_model(lambda d: [d])),
    ("model-string", with_model(lambda d: "SequenceModel")),
    ("model-unknown-class", with_model(lambda d: {**d, "class": "os.system"})),
    ("model-no-config", with_model(lambda d: {"class": d["class"]})),
    ("model-config-list", with_model(lambda d: {**d, "config": [1, 2]})),
    ("model-config-object", with_model(config(hidden_size={"a": 1}))),
    ("hidden-1e9", with_model(config(hidden_size=10**9))),
    ("hidden-1e4", with_model(config(hidden_size=10**4))),
    ("hidden-2e1", with_model(config(hidden_size=20))),
    ("layers-1e6", with_model(config(num_layers=10**6))),
    ("layers-1e6-hidden-1", with_model(config(num_layers=10**6, hidden_size=1))),
    ("output-1e9", with_model(config(output_size=10**9))),
    ("input-1e9", with_model(config(input_size=10**9))),
    ("patch-1e9", with_model(config(patch_size=10**9))),
    ("patch-embedding-1e9", with_model(lambda d: {"class": "PatchEmbedding", "config": {
        "in_channels": 10**9, "out_features": 10**3, "patch_size": 10**3}})),
    ("vocab-1e9", with_model(config(input_size=None, vocab_size=10**9, embedding_dim=10**3))),
    ("hidden-negative", with_model(config(hidden_size=-4))),
    ("hidden-float", with_model(config(hidden_size=4.5))),
    ("hidden-bool", with_model(config(hidden_size=True))),
    ("hidden-huge-int", with_model(config(hidden_size=10**400))),
    ("cell-unknown", with_model(config(cell="transformer"))),
    ("dtype-config", with_model(config(dtype="complex128"))),
    ("seed-string", with_model(config(seed="zero"))),
    ("unexpected-argument", with_model(config(evil=1))),
    ("sequential-modules-list", with_model(lambda d: {"class": "Sequential",
                                                      "modules": [d]})),
    ("sequential-nested-deep", with_model(lambda d: json.loads(
        '{"class": "Sequential", "modules": {"a": ' * 60 + json.dumps(d) + "}}" * 60))),
    ("ensemble-1e4-members", with_model(lambda d: {"class": "Ensemble",
                                                   "modules": {str(i): d
                                                               for i in range(10**4)}})),
    ("training-list", with_meta("training", [])),
    ("training-epoch-negative", with_meta("training", {"epoch": -1})),
    ("training-epoch-string", with_meta("training", {"epoch": "1"})),
    ("training-history-strings", with_meta("training", {"history": {"loss": ["a"]}})),
    ("training-rng-junk", with_meta("training", {"rng_states": {"": {"bit_generator": "PCG64",
                                                                      "state": 5}}})),
    ("training-shuffle-junk", with_meta("training", {"shuffle_rng": {"bit_generator": "MT",
                                                                     "state": {}}})),
    ("training-optimizer-list", with_meta("training", {"optimizer": []})),
    ("training-optimizer-no-class", with_meta("training", {"optimizer": {
        "hyperparams": {}, "scalars": {}}})),
    ("weights-nan", lambda h, b: raw(h, b[:-4] + np.float32(np.nan).tobytes())),
    ("header-length-huge", lambda h, b: struct.pack("<Q", 2**63) + raw(h, b)[8:]),
    ("header-length-past-end", lambda h, b: struct.pack("<Q", len(raw(h, b))) + raw(h, b)[8:]),
    ("truncated-body", lambda h, b: raw(h, b[: len(b) // 2])),
]


@pytest.mark.parametrize("name,make", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_checkpoint_is_refused_quickly_without_allocating(name, make, tmp_path):
    header, body = parts(tmp_path)
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(make(header, body))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(CheckpointError):
            rnnkit.load(path)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seconds < REFUSE_SECONDS, f"{name}: {seconds:.2f} s to refuse"
    assert peak < REFUSE_BYTES, f"{name}: {peak / 2**20:.0f} MB to refuse"


def test_resuming_from_a_tampered_checkpoint_leaves_the_model_alone(tmp_path):
    header, body = parts(tmp_path, with_optimizer=True)
    bad = dict(header)
    bad["__metadata__"] = dict(header["__metadata__"])
    training = json.loads(bad["__metadata__"]["training"])
    training["optimizer"]["scalars"] = {"no_such_param": {"step": 1}}
    bad["__metadata__"]["training"] = json.dumps(training)
    path = tmp_path / "tampered.safetensors"
    path.write_bytes(raw(bad, body))
    m = SequenceModel("gru", input_size=2, hidden_size=4, output_size=3, seed=7)
    opt = Adam(m, lr=1e-3)
    before = {k: v.copy() for k, v in m.params.items()}
    with pytest.raises(CheckpointError, match="optimizer"):
        restore_checkpoint(path, m, opt)
    assert all(np.array_equal(before[k], m.params[k]) for k in before)
    assert opt.state == {} or all(not s for s in opt.state.values())


def test_an_sgd_checkpoint_does_not_resume_into_adam(tmp_path):
    m = model()
    sgd = SGD(m, lr=0.1, momentum=0.9)
    for g in m.grads.values():
        g[...] = 1.0
    sgd.step()
    path = tmp_path / "sgd.safetensors"
    save_checkpoint(path, m, sgd, {"epoch": 1, "step": 1})
    other = SequenceModel("gru", input_size=2, hidden_size=4, output_size=3, seed=7)
    before = {k: v.copy() for k, v in other.params.items()}
    with pytest.raises(CheckpointError, match="SGD optimizer; this run uses Adam"):
        restore_checkpoint(path, other, Adam(other, lr=1e-3))
    assert all(np.array_equal(before[k], other.params[k]) for k in before)
    restore_checkpoint(path, other, SGD(other, lr=0.1, momentum=0.9))  # the same kind: fine
    assert all(np.array_equal(m.params[k], other.params[k]) for k in before)


def test_a_trainer_refuses_a_tampered_state_before_touching_anything(tmp_path):
    from rnnkit.nn.losses import MSELoss
    from rnnkit.train.callbacks import EarlyStopping
    from rnnkit.train.trainer import Trainer

    def trainer(seed):
        m = SequenceModel("gru", input_size=2, hidden_size=4, output_size=3, seed=seed)
        return Trainer(m, MSELoss(), Adam(m, lr=1e-2), callbacks=[EarlyStopping(monitor="loss", patience=2)],
                       progress=False)

    x = np.random.default_rng(0).normal(size=(8, 5, 2)).astype(np.float32)  # (B, T, F)
    first = trainer(0)
    first.fit((x, x[:, -1, :1].repeat(3, 1)), epochs=2, batch_size=4, verbose=False)
    path = tmp_path / "run.safetensors"
    first.save_checkpoint(path)
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    training = json.loads(header["__metadata__"]["training"])
    for damage in ({"callbacks": [{"wrong": 1}]}, {"epoch": "two"}, {"history": 5}):
        header["__metadata__"]["training"] = json.dumps({**training, **damage})
        path.write_bytes(raw(header, data[8 + n:]))
        second = trainer(7)
        before = {k: v.copy() for k, v in second.model.params.items()}
        with pytest.raises(rnnkit.io.checkpoint.CheckpointError):
            second.restore(path)
        assert all(np.array_equal(before[k], second.model.params[k]) for k in before), damage
        assert second.epoch == 0 and second.optimizer.state == {} or \
            all(not s for s in second.optimizer.state.values())
