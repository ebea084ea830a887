"""ONNX export: onnxruntime runs every exported file with rnnkit's outputs (float32), onnx's
reference evaluator does in float64, and onnx's full checker accepts every file."""
import json
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx.reference import ReferenceEvaluator  # noqa: E402

import rnnkit  # noqa: E402
from helpers import rel_error  # noqa: E402
from rnnkit.cli import UsageError, main  # noqa: E402
from rnnkit.cli.common import save_run  # noqa: E402
from rnnkit.cli.export import export_run
from rnnkit.errors import OnnxExportError
from rnnkit.interop.onnx_export import export_onnx, to_onnx  # noqa: E402
from rnnkit.nn.models import SequenceModel  # noqa: E402
from rnnkit.nn.module import Module  # noqa: E402
from rnnkit.nn.seq2seq import Seq2Seq  # noqa: E402

CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("rnn", "sigmoid"), ("lstm", None), ("gru", None)]
LAYERS = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}
F32_TOL = 1e-5  # onnxruntime runs the recurrent operators in float32 only
F64_TOL = 1e-12


# --- helpers -------------------------------------------------------------------------------------
def export_checked(model, path, **options):
    """export_onnx, then onnx's full checker (with strict shape inference) on the file."""
    assert export_onnx(model, path, **options) == path
    onnx.checker.check_model(onnx.load(path), full_check=True)
    return path


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # the machine is shared
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def make_layer(kind, nonlinearity, input_size, hidden, layers, bidirectional, dtype, seed):
    kw = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
    return LAYERS[kind](input_size, hidden, num_layers=layers, bidirectional=bidirectional,
                        dtype=dtype, seed=seed, **kw)


def random_inputs(rng, B, T, F, *, lengths, dtype, ids=None):
    """x (B, T, F) floats or (B, T) ids below ``ids``, and lengths (B,) in 1..T or None."""
    x = rng.integers(0, ids, (B, T)) if ids else rng.standard_normal((B, T, F)).astype(dtype)
    lens = rng.integers(1, T + 1, size=B) if lengths else None
    return x, lens


def random_state(rng, rnn, B, dtype):
    """(h0, c0) for an LSTM, h0 otherwise, each (L*D, B, H); and the feeds naming them."""
    shape = (rnn.num_layers * rnn.num_directions, B, rnn.hidden_size)
    h0 = rng.standard_normal(shape).astype(dtype)
    if rnn.kind == "lstm":
        c0 = rng.standard_normal(shape).astype(dtype)
        return (h0, c0), {"h0": h0, "c0": c0}
    return h0, {"h0": h0}


def feeds_for(x, lens, state_feeds):
    feeds = {"x": x, **(state_feeds or {})}
    if lens is not None:
        feeds["lengths"] = lens.astype(np.int64)
    return feeds


def assert_close(got, want, tol):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and rel_error(g, w) <= tol, (g.shape, rel_error(g, w))


def layer_reference(layer, x, state, lens):
    y, s = layer.forward(x, state, lengths=lens)
    return [y, *s] if layer.kind == "lstm" else [y, s]


# --- recurrent layers ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind,nonlinearity", CELLS)
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_layer_matches_rnnkit_in_onnxruntime(tmp_path, kind, nonlinearity, layers,
                                             bidirectional):
    """Every kind x depth x direction, with and without lengths and initial state, each file
    run on two batch/time sizes (the axes are dynamic; one size has B = 1 or T = 1)."""
    rng = np.random.default_rng([layers, bidirectional, len(kind), len(nonlinearity or "")])
    F, H = rng.integers(1, 6, size=2)
    layer = make_layer(kind, nonlinearity, F, H, layers, bidirectional, np.float32,
                       seed=int(rng.integers(1000)))
    for lengths in (False, True):
        for with_state in (False, True):
            path = export_checked(layer, tmp_path / f"{lengths}{with_state}.onnx",
                                  lengths=lengths, state=with_state)
            sess = session(path)
            for B, T in [(rng.integers(2, 6), rng.integers(2, 9)),
                         [(1, rng.integers(1, 9)), (rng.integers(1, 6), 1)][rng.integers(2)]]:
                x, lens = random_inputs(rng, B, T, F, lengths=lengths, dtype=np.float32)
                state, sfeeds = (random_state(rng, layer, B, np.float32) if with_state
                                 else (None, None))
                got = sess.run(None, feeds_for(x, lens, sfeeds))
                assert_close(got, layer_reference(layer, x, state, lens), F32_TOL)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_float64_layer_is_exact_in_the_reference_evaluator(tmp_path, kind):
    """onnxruntime has no float64 RNN/LSTM/GRU kernels; onnx's own evaluator runs the float64
    file (it implements Tanh RNNs only and ignores sequence_lens, so no lengths here)."""
    rng = np.random.default_rng(len(kind))
    for layers, bidirectional in [(1, False), (2, True), (3, False)]:
        layer = make_layer(kind, "tanh", 3, 4, layers, bidirectional, np.float64, seed=layers)
        path = export_checked(layer, tmp_path / f"{layers}.onnx", state=True)
        model = onnx.load(path)
        assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
        x, _ = random_inputs(rng, 3, 5, 3, lengths=False, dtype=np.float64)
        state, sfeeds = random_state(rng, layer, 3, np.float64)
        got = ReferenceEvaluator(model).run(None, feeds_for(x, None, sfeeds))
        assert_close(got, layer_reference(layer, x, state, None), F64_TOL)


def test_float64_model_exports_as_float32_for_onnxruntime(tmp_path):
    rng = np.random.default_rng(5)
    model = SequenceModel("lstm", input_size=2, hidden_size=5, output_size=3, num_layers=2,
                          dtype="float64", seed=1)
    path = export_checked(model, tmp_path / "m.onnx", dtype="float32", lengths=True)
    x, lens = random_inputs(rng, 4, 6, 2, lengths=True, dtype=np.float64)
    got = session(path).run(None, feeds_for(x.astype(np.float32), lens, None))
    assert_close(got, [model.forward(x, lengths=lens)], F32_TOL)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_learned_initial_state_and_recurrent_dropout_export(tmp_path, kind):
    """A learned h0 (c0) is spread over the batch in the graph unless h0 (c0) is fed;
    recurrent dropout is the identity in inference."""
    rng = np.random.default_rng(3)
    layer = LAYERS[kind](3, 4, num_layers=2, bidirectional=True, seed=0,
                         learn_initial_state=True, recurrent_dropout=0.3).eval()
    for name in ("h0", "c0")[: 2 if kind == "lstm" else 1]:
        layer.params[name][...] = rng.standard_normal(layer.params[name].shape)
    for with_state, opset in ((False, 14), (True, 17)):
        path = export_checked(layer, tmp_path / f"{with_state}.onnx", lengths=True,
                              state=with_state, opset=opset)
        for B, T in [(3, 5), (1, 2)]:
            x, lens = random_inputs(rng, B, T, 3, lengths=True, dtype=np.float32)
            state, sfeeds = (random_state(rng, layer, B, np.float32) if with_state
                             else (None, None))
            got = session(path).run(None, feeds_for(x, lens, sfeeds))
            assert_close(got, layer_reference(layer, x, state, lens), F32_TOL)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_peepholes_are_the_operators_p(tmp_path, bidirectional):
    """onnxruntime (float32, with lengths and states) and onnx's reference evaluator
    (float64) run an LSTM with peepholes as rnnkit does."""
    rng = np.random.default_rng(4)
    layer = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=bidirectional, peephole=True, seed=0)
    layer.params["weight_peephole_l0"][...] = rng.standard_normal(12)  # far from zero
    path = export_checked(layer, tmp_path / "p.onnx", lengths=True, state=True)
    x, lens = random_inputs(rng, 3, 6, 3, lengths=True, dtype=np.float32)
    state, sfeeds = random_state(rng, layer, 3, np.float32)
    got = session(path).run(None, feeds_for(x, lens, sfeeds))
    assert_close(got, layer_reference(layer, x, state, lens), F32_TOL)
    wide = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=bidirectional, peephole=True,
                       dtype=np.float64, seed=0)
    path = export_checked(wide, tmp_path / "p64.onnx", state=True)
    x, _ = random_inputs(rng, 3, 5, 3, lengths=False, dtype=np.float64)
    state, sfeeds = random_state(rng, wide, 3, np.float64)
    got = ReferenceEvaluator(onnx.load(path)).run(None, feeds_for(x, None, sfeeds))
    assert_close(got, layer_reference(wide, x, state, None), F64_TOL)


# --- models --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,nonlinearity", CELLS)
@pytest.mark.parametrize("head", ["last", "all"])
@pytest.mark.parametrize("tokens", [False, True])
def test_sequence_model_matches_rnnkit(tmp_path, kind, nonlinearity, head, tokens):
    rng = np.random.default_rng([len(kind), len(head), tokens, len(nonlinearity or "")])
    layers, bidirectional = int(rng.integers(1, 3)), bool(rng.integers(2))
    inputs = dict(vocab_size=9, embedding_dim=4) if tokens else dict(input_size=3)
    model = SequenceModel(kind, hidden_size=5, output_size=2, num_layers=layers,
                          bidirectional=bidirectional, head=head,
                          dropout=0.3 if layers > 1 else 0.0,
                          nonlinearity=nonlinearity or "tanh", seed=int(rng.integers(1000)),
                          **inputs)  # left in training mode: the export is for inference
    for lengths, with_state in [(False, False), (True, False), (False, True), (True, True)]:
        path = export_checked(model, tmp_path / f"{lengths}{with_state}.onnx", lengths=lengths,
                              state=with_state)
        sess = session(path)
        for B, T in [(3, 7), (1, 2)]:
            x, lens = random_inputs(rng, B, T, 3, lengths=lengths, dtype=np.float32,
                                    ids=9 if tokens else None)
            state, sfeeds = (random_state(rng, model.rnn, B, np.float32) if with_state
                             else (None, None))
            got = sess.run(None, feeds_for(x, lens, sfeeds))
            model.eval()
            out, s = model.forward(x, lengths=lens, state=state, return_state=True)
            model.train()
            want = [out] + (([*s] if kind == "lstm" else [s]) if with_state else [])
            assert_close(got, want, F32_TOL)


def sequential_chains():
    return {
        "floats": lambda: rnnkit.Sequential(
            rnnkit.Linear(3, 5, seed=0), rnnkit.Dropout(0.5, seed=1),
            rnnkit.LSTM(5, 4, bidirectional=True, seed=2),
            rnnkit.RNN(8, 3, nonlinearity="relu", num_layers=2, seed=3),
            rnnkit.LastStep(), rnnkit.Linear(3, 2, seed=4)),
        "tokens": lambda: rnnkit.Sequential(
            emb=rnnkit.Embedding(7, 4, padding_idx=0, seed=0),
            body=rnnkit.Sequential(rnnkit.GRU(4, 6, num_layers=2, seed=1),
                                   rnnkit.Linear(6, 6, bias=False, seed=2)),
            rnn=rnnkit.RNN(6, 5, nonlinearity="sigmoid", bidirectional=True, seed=3),
            fc=rnnkit.Linear(10, 3, seed=4)),
        "nested_model": lambda: rnnkit.Sequential(
            SequenceModel("gru", input_size=2, hidden_size=4, output_size=3, head="all",
                          seed=0),
            rnnkit.LastStep(), rnnkit.Linear(3, 1, seed=1)),
    }


@pytest.mark.parametrize("chain", sorted(sequential_chains()))
def test_sequential_matches_rnnkit(tmp_path, chain):
    model = sequential_chains()[chain]().eval()
    rng = np.random.default_rng(len(chain))
    tokens = chain == "tokens"
    F = 3 if chain == "floats" else 2
    for lengths in (False, True):
        path = export_checked(model, tmp_path / f"{lengths}.onnx", lengths=lengths)
        sess = session(path)
        for B, T in [(4, 6), (2, 1)]:
            x, lens = random_inputs(rng, B, T, F, lengths=lengths, dtype=np.float32,
                                    ids=7 if tokens else None)
            got = sess.run(None, feeds_for(x, lens, None))
            assert_close(got, [model.forward(x, lengths=lens)], F32_TOL)


def test_float64_models_are_exact_in_the_reference_evaluator(tmp_path):
    rng = np.random.default_rng(11)
    models = [SequenceModel("gru", vocab_size=8, embedding_dim=3, hidden_size=4, output_size=2,
                            num_layers=2, bidirectional=True, head="last", dtype="float64",
                            seed=0),
              rnnkit.Sequential(rnnkit.Linear(2, 3, dtype=np.float64, seed=0),
                                rnnkit.LSTM(3, 4, bidirectional=True, dtype=np.float64, seed=1),
                                rnnkit.Linear(8, 2, dtype=np.float64, seed=2))]
    for i, model in enumerate(models):
        path = export_checked(model, tmp_path / f"{i}.onnx")
        x, _ = random_inputs(rng, 3, 5, 2, lengths=False, dtype=np.float64,
                             ids=8 if i == 0 else None)
        got = ReferenceEvaluator(str(path)).run(None, {"x": x})
        assert_close(got, [model.forward(x)], F64_TOL)


# --- the graph and the file ------------------------------------------------------------------
def test_graph_uses_onnx_recurrent_operators_and_dynamic_axes():
    model = SequenceModel("gru", input_size=3, hidden_size=4, output_size=2, num_layers=2,
                          bidirectional=True, seed=0)
    proto = to_onnx(model, lengths=True)
    grus = [n for n in proto.graph.node if n.op_type == "GRU"]
    assert len(grus) == 2  # one operator per layer
    for node in grus:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attrs["linear_before_reset"] == 1 and attrs["direction"] == b"bidirectional"
        assert "layout" not in attrs  # onnxruntime's kernels take time-major only
        assert node.input[4]  # sequence_lens
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "time", 3]
    assert [i.name for i in proto.graph.input] == ["x", "lengths"]
    assert [o.name for o in proto.graph.output] == ["out"]


def test_export_needs_no_torch(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now fails
    layer = rnnkit.LSTM(2, 3, seed=0)
    path = export_checked(layer, tmp_path / "m.onnx", lengths=True)
    x = np.ones((1, 4, 2), np.float32)
    assert_close(session(path).run(None, {"x": x, "lengths": np.array([3])}),
                 layer_reference(layer, x, None, np.array([3])), F32_TOL)


def test_without_onnx_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'rnnkit\[onnx\]'"):
        export_onnx(rnnkit.GRU(2, 3), tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_overwrites_atomically(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    export_checked(rnnkit.RNN(2, 3, seed=0), path)
    assert onnx.load(path).producer_name == "rnnkit"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary file left


class Doubler(Module):
    params, grads = {}, {}

    def forward(self, x):
        return 2 * x


@pytest.mark.parametrize("model,options,message", [
    (rnnkit.Sequential(rnnkit.LSTM(2, 3), Doubler()), {}, "Doubler, which has no ONNX export"),
    (rnnkit.Sequential(rnnkit.LSTM(2, 3)), {"state": True}, "state=True needs"),
    (rnnkit.Sequential(rnnkit.Linear(2, 3)), {"lengths": True}, "no part of the model takes"),
    (rnnkit.Sequential(rnnkit.LSTM(2, 3), rnnkit.Linear(4, 1)), {},
     r"receives shape \(batch, time, 3\)"),
    (rnnkit.Sequential(rnnkit.Dropout(), rnnkit.LastStep()), {}, "has no ONNX export"),
    (Seq2Seq(5, 5, 4, 4), {}, "Seq2Seq has no ONNX export"),
    (rnnkit.GRU(2, 3), {"dtype": "float16"}, "dtype must be float32 or float64"),
    (rnnkit.GRU(2, 3), {"opset": 7}, "opset must be"),
    (rnnkit.LSTM(2, 3, proj_size=2), {}, "proj_size has no ONNX export"),
    (SequenceModel("lstm", input_size=2, hidden_size=3, proj_size=2), {},
     "proj_size has no ONNX export"),
    (rnnkit.GRU(2, 3, layer_norm=True), {}, "layer_norm has no ONNX export"),
    (SequenceModel("lstm", input_size=2, hidden_size=3, layer_norm=True), {},
     "layer_norm has no ONNX export"),
    (SequenceModel("gru", input_size=2, hidden_size=3, conv_channels=4), {},
     r"has a Conv1d \(conv\), which has no ONNX export yet"),
    (SequenceModel("gru", input_size=2, hidden_size=3, patch_size=2), {},
     r"has a PatchEmbedding \(patch\), which has no ONNX export yet"),
    (SequenceModel("gru", input_size=2, hidden_size=3, diff_scale=1.0), {},
     r"has a Difference \(diff\), which has no ONNX export yet"),
])
def test_unsupported_models_and_options_are_refused(tmp_path, model, options, message):
    with pytest.raises(OnnxExportError, match=message):
        export_onnx(model, tmp_path / "m.onnx", **options)
    assert not list(tmp_path.iterdir())


# --- export_run and `rnnkit export` ------------------------------------------------------------
@pytest.fixture
def run_folder(tmp_path):
    model = SequenceModel("lstm", input_size=2, hidden_size=6, output_size=2, num_layers=2,
                          seed=3).eval()
    folder = tmp_path / "run"
    task = {"command": "classify", "mode": "series", "classes": ["a", "b"], "channels": 2,
            "mean": [0.0, 0.0], "std": [1.0, 1.0]}
    save_run(folder, model, task, {"val_loss": 0.5})
    return folder, model


def test_export_run_writes_next_to_the_model(run_folder):
    folder, model = run_folder
    path = export_run(folder, lengths=True)
    assert path == folder / "model.onnx"
    x, lens = np.random.default_rng(0).standard_normal((3, 5, 2)).astype(np.float32), [5, 2, 1]
    got = session(path).run(None, {"x": x, "lengths": np.array(lens, np.int64)})
    assert_close(got, [model.forward(x, lengths=np.array(lens))], F32_TOL)
    with pytest.raises(UsageError, match="not an rnnkit run folder"):
        export_run(folder / "nothing")


def test_cli_export_json_and_state(run_folder, tmp_path, capsys):
    folder, model = run_folder
    out = tmp_path / "exported" / "m.onnx"
    assert main(["export", "--model", str(folder), "--format", "onnx", "--out", str(out),
                 "--state", "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["path"] == str(out) and info["bytes"] == out.stat().st_size
    assert info["inputs"] == {"x": ["batch", "time", 2], "h0": [2, "batch", 6],
                              "c0": [2, "batch", 6]}
    assert list(info["outputs"]) == ["out", "h_n", "c_n"]
    onnx.checker.check_model(onnx.load(out), full_check=True)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 2)).astype(np.float32)
    (h0, c0), feeds = random_state(rng, model.rnn, 2, np.float32)
    out_, (h_n, c_n) = model.forward(x, state=(h0, c0), return_state=True)
    assert_close(session(out).run(None, {"x": x, **feeds}), [out_, h_n, c_n], F32_TOL)


def test_cli_bad_input_is_one_line_exit_2(run_folder, tmp_path, capsys, monkeypatch):
    folder, _ = run_folder
    before = sorted(p.name for p in folder.iterdir())
    cases = [(["--model", str(tmp_path / "missing")], "not an rnnkit run folder"),
             (["--model", str(folder), "--out", str(tmp_path)], "is a folder"),
             (["--model", str(folder), "--opset", "3"], "opset must be")]
    for args, message in cases:
        assert main(["export", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("rnnkit export: error:") and message in err and "\n" not in err
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", "--model", str(folder)]) == 2
    assert "pip install 'rnnkit[onnx]'" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written


def test_bidirectional_sequence_model_reads_both_ends(tmp_path):
    """A bidirectional many-to-one SequenceModel uses both directions' final states; the
    ONNX graph and the torch twin do the same."""
    ort = pytest.importorskip("onnxruntime")
    from rnnkit.nn.models import SequenceModel

    model = SequenceModel("lstm", input_size=2, hidden_size=3, output_size=2,
                          bidirectional=True, seed=0).eval()
    assert model.modules["last"].reverse_features == 3
    path = tmp_path / "m.onnx"
    rnnkit.export_onnx(model, path, lengths=True)
    x = np.random.default_rng(0).standard_normal((3, 4, 2)).astype(np.float32)
    lengths = np.array([4, 1, 2], np.int64)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x, "lengths": lengths})[0]
    np.testing.assert_allclose(got, model.forward(x, lengths=lengths), rtol=1e-5, atol=1e-6)
