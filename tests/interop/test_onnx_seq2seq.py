"""Seq2Seq as two ONNX graphs: onnxruntime's encoder and decoder step equal Seq2Seq.encode and
decode_step (float32), greedy and beam decoding through OnnxTranslator give rnnkit's tokens,
onnx's full checker accepts both files, and ``rnnkit export`` writes them for a translate run."""
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from helpers import rel_error  # noqa: E402
from rnnkit.cli import UsageError, main  # noqa: E402
from rnnkit.cli.export import export_run
from rnnkit.errors import OnnxExportError
from rnnkit.interop.onnx_export import export_onnx  # noqa: E402
from rnnkit.interop.onnx_seq2seq import OnnxTranslator, export_seq2seq_onnx, seq2seq_paths  # noqa: E402
from rnnkit.nn.decoding import beam_search, greedy_decode  # noqa: E402
from rnnkit.nn.seq2seq import Seq2Seq  # noqa: E402

F32_TOL = 1e-5  # onnxruntime runs the recurrent operators in float32 only
SRC_VOCAB, TGT_VOCAB, BOS, EOS = 11, 13, 2, 3


# --- helpers -------------------------------------------------------------------------------------
def exported(tmp_path, cell, layers, seed=0):
    """A random float32 Seq2Seq, its two files (checked by onnx's full checker) and the
    OnnxTranslator over them."""
    model = Seq2Seq(SRC_VOCAB, TGT_VOCAB, embedding_dim=6, hidden_size=5, cell=cell,
                    num_layers=layers, seed=seed)
    paths = export_seq2seq_onnx(model, tmp_path / "onnx")
    assert paths == (tmp_path / "onnx" / "encoder.onnx", tmp_path / "onnx" / "decoder_step.onnx")
    for path in paths:
        onnx.checker.check_model(onnx.load(path), full_check=True)
    return model, OnnxTranslator(tmp_path / "onnx", threads=1)


def random_sources(rng, B, Ts, vocab=SRC_VOCAB):
    """src (B, Ts) ids in 1..vocab-1, right-padded with 0 after lengths (B,) in 1..Ts, one of
    them Ts."""
    lengths = rng.integers(1, Ts + 1, size=B)
    lengths[rng.integers(B)] = Ts
    src = rng.integers(1, vocab, (B, Ts))
    src[np.arange(Ts)[None, :] >= lengths[:, None]] = 0
    return src, lengths


def states(state):
    return list(state) if isinstance(state, tuple) else [state]


def assert_close(got, want):
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and rel_error(g, w) <= F32_TOL, (g.shape, rel_error(g, w))


# --- parity with rnnkit --------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
def test_encoder_and_step_match_rnnkit(tmp_path, cell, layers):
    model, translator = exported(tmp_path, cell, layers)
    rng = np.random.default_rng(layers)
    for B, Ts in [(3, 6), (1, 1), (5, 4)]:  # export has no fixed batch or source length
        src, lengths = random_sources(rng, B, Ts)
        want, got = model.encode(src, lengths), translator.encode(src, lengths)
        assert_close([got.memory, got.keys, *states(got.state)],
                     [want.memory, want.keys, *states(want.state)])
        state = want.state
        for _ in range(3):  # a few steps, each from rnnkit's state
            tokens = rng.integers(0, TGT_VOCAB, B)
            got_logits, got_state, got_a = translator.decode_step(tokens, state, want)
            logits, state, a = model.decode_step(tokens, state, want)
            assert_close([got_logits, *states(got_state), got_a], [logits, *states(state), a])


@pytest.mark.parametrize("cell,layers", [("gru", 1), ("lstm", 2)])
def test_greedy_and_beam_decoding_give_rnnkits_tokens(tmp_path, cell, layers):
    model, translator = exported(tmp_path, cell, layers, seed=4)
    src, lengths = random_sources(np.random.default_rng(5), 7, 8)
    options = dict(bos=BOS, eos=EOS, max_len=12)
    want, want_att = greedy_decode(model, src, lengths, **options)
    got, got_att = greedy_decode(translator, src, lengths, **options)
    assert got == want
    assert_close(got_att, want_att)
    assert beam_search(translator, src, lengths, beam=3, **options) == \
        beam_search(model, src, lengths, beam=3, **options)


def test_prefix_paths_and_refusals(tmp_path):
    assert seq2seq_paths(tmp_path / "m.onnx") == (tmp_path / "m.encoder.onnx",
                                                  tmp_path / "m.decoder_step.onnx")
    model = Seq2Seq(5, 5, 4, 4)
    with pytest.raises(OnnxExportError, match="no ONNX export as one file"):
        export_onnx(model, tmp_path / "m.onnx")
    with pytest.raises(OnnxExportError, match="lengths and state do not apply"):
        export_onnx(model, tmp_path / "x", lengths=True)
    assert not list(tmp_path.iterdir())
    assert export_onnx(model, tmp_path / "x") == tmp_path / "x"
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["decoder_step.onnx",
                                                                  "encoder.onnx"]


# --- export_run and `rnnkit export` on a translate run -------------------------------------------
def test_cli_exports_a_translate_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["translate", "--num-pairs", "200", "--epochs", "1", "--hidden", "16",
                 "--embedding-dim", "8", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["export", "--model", str(run), "--json"]) == 0
    out, err = capsys.readouterr()
    encoder, step = run / "encoder.onnx", run / "decoder_step.onnx"
    assert str(encoder) in err and str(step) in err
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"{encoder}: ONNX opset") and lines[1].startswith(f"{step}:")
    info = json.loads(lines[-1])
    assert info["files"]["encoder"]["path"] == str(encoder)
    assert list(info["files"]["decoder_step"]["outputs"]) == ["logits", "h_n", "attention"]

    task = json.loads((run / "task.json").read_text())
    vocab = task["target_vocabulary"]
    from rnnkit.cli.common import load_run

    model, _ = load_run(run)
    src, lengths = random_sources(np.random.default_rng(0), 4, 10,
                                  len(task["source_vocabulary"]))
    options = dict(bos=vocab.index("<bos>"), eos=vocab.index("<eos>"), max_len=task["max_len"])
    assert greedy_decode(OnnxTranslator(run), src, lengths, **options)[0] == \
        greedy_decode(model, src, lengths, **options)[0]

    with pytest.raises(UsageError, match="no ONNX export as one file"):
        export_run(run, tmp_path / "m.onnx")
    assert export_run(run, tmp_path / "elsewhere") == tmp_path / "elsewhere"
    assert (tmp_path / "elsewhere" / "decoder_step.onnx").is_file()
