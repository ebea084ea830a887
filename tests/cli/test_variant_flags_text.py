"""The recurrent-layer variants on ``rnnkit textgen`` and ``rnnkit translate``: each set of flags
trains a tiny run whose saved model holds the variant's parameters, reloads and gives the
trained model's outputs (``rnnkit predict``), samples step by step as the full forward pass
reads, and exports to ONNX or is refused naming the option."""
import ast
import re

import numpy as np
import pytest

from helpers import last_json, run_cli
from rnnkit.io.checkpoint import load
from rnnkit.nn.models import SequenceModel

SENTENCE = "the quick brown fox jumps over the lazy dog. "
TEXTGEN = ["--epochs", "1", "--hidden", "8", "--embedding-dim", "4", "--batch-size", "4",
           "--seq-len", "16", "--length", "30"]
TRANSLATE = ["--num-pairs", "60", "--epochs", "1", "--hidden", "8", "--embedding-dim", "4",
             "--batch-size", "16", "--beam", "1"]

# flags -> parameters the saved model must hold (and, for translate, must not)
TEXTGEN_CASES = {
    "lstm-ln-peephole-h0": (["--cell", "lstm", "--layer-norm", "--peephole",
                             "--learn-initial-state"],
                            ["rnn.ln_weight_ih_l0", "rnn.ln_bias_c_l0", "rnn.weight_peephole_l0",
                             "rnn.h0", "rnn.c0"]),
    "lstm-proj": (["--cell", "lstm", "--proj-size", "3", "--peephole"],
                  ["rnn.weight_hr_l0", "rnn.weight_peephole_l0"]),
    "gru-ln-dropout": (["--cell", "gru", "--layer-norm", "--recurrent-dropout", "0.2"],
                       ["rnn.ln_weight_hh_l0", "rnn.ln_bias_ih_l0"]),
}
TRANSLATE_CASES = {
    "lstm-ln-peephole-h0": (["--cell", "lstm", "--layer-norm", "--peephole",
                             "--learn-initial-state"],
                            ["encoder.ln_weight_ih_l0_reverse", "decoder.ln_weight_c_l0",
                             "encoder.weight_peephole_l0", "decoder.weight_peephole_l0",
                             "encoder.h0", "encoder.c0"]),
    "lstm-proj": (["--cell", "lstm", "--proj-size", "3"],
                  ["encoder.weight_hr_l0_reverse", "decoder.weight_hr_l0"]),
    "gru-h0-dropout": (["--cell", "gru", "--learn-initial-state",
                                      "--recurrent-dropout", "0.2"], ["encoder.h0"]),
}


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "sentence.txt"
    path.write_text(SENTENCE * 60, encoding="utf-8")
    return path


def train(capsys, tmp_path, command, flags, *extra):
    out = tmp_path / "run"
    base = TEXTGEN if command == "textgen" else TRANSLATE
    code, stdout, err = run_cli(capsys, command, *base, *extra, *flags, "--out", out, "--json")
    assert code == 0, err
    return out, last_json(stdout), err


def check_saved_variants(out, flags, names):
    """The run's model holds the variant's parameters and its config names the flags."""
    model = load(out / "model.safetensors")
    assert set(names) <= set(model.params), sorted(model.params)
    config = model.config()
    for flag, key in (("--layer-norm", "layer_norm"), ("--peephole", "peephole"),
                      ("--learn-initial-state", "learn_initial_state")):
        assert config.get(key, False) == (flag in flags), key
    if "--proj-size" in flags:
        assert config["proj_size"] == 3
    if "--recurrent-dropout" in flags:
        assert config["recurrent_dropout"] == 0.2
    return model


# --- textgen ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", TEXTGEN_CASES)
def test_textgen_trains_saves_and_samples_with_the_variants(case, text_file, tmp_path, capsys):
    flags, names = TEXTGEN_CASES[case]
    out, metrics, _ = train(capsys, tmp_path, "textgen", flags, "--text", text_file)
    model = check_saved_variants(out, flags, names)
    if "--proj-size" in flags:
        assert model.params["rnn.weight_hr_l0"].shape == (3, 8)
        assert model.params["fc.weight"].shape[1] == 3  # the head reads the projected h
    if "--learn-initial-state" in flags:
        assert np.abs(model.params["rnn.h0"]).max() > 0  # trained away from zeros
    # the reloaded model samples what the trained one sampled (same seed, prime and length)
    code, stdout, err = run_cli(capsys, "predict", "--model", out, "--length", 30, "--seed", 0,
                                "--json")
    assert code == 0, err
    assert last_json(stdout)["sample"] == metrics["sample"]


@pytest.mark.parametrize("variant", [
    dict(cell="lstm", layer_norm=True, peephole=True, learn_initial_state=True),
    dict(cell="lstm", proj_size=3, peephole=True, learn_initial_state=True, num_layers=2),
    dict(cell="gru", layer_norm=True, learn_initial_state=True),
    dict(cell="rnn", learn_initial_state=True, recurrent_dropout=0.3),
], ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()))
def test_sampling_steps_equal_the_full_forward_pass(variant):
    """What textgen's sampling runs (SequenceModel.step, from no state) gives, step by step,
    the logits of one forward pass over the same prefix, in float64."""
    options = {k: v for k, v in variant.items() if k != "cell"}
    model = SequenceModel(variant["cell"], vocab_size=11, embedding_dim=4, hidden_size=6,
                          output_size=11, head="all", dtype="float64", seed=3, **options)
    rng = np.random.default_rng(0)
    for name in ("rnn.h0", "rnn.c0")[:len(model.params.keys() & {"rnn.h0", "rnn.c0"})]:
        model.params[name][...] = rng.uniform(-1, 1, model.params[name].shape)  # away from 0
    model.eval()
    prefix = rng.integers(0, 11, (1, 9))  # (1, T)
    full = model.forward(prefix)[0]  # (T, V)
    state, steps = None, []
    for t in range(prefix.shape[1]):
        logits, state = model.step(prefix[:, t], state)  # (1, V)
        steps.append(logits[0])
    np.testing.assert_allclose(np.stack(steps), full, rtol=0, atol=1e-12)


def test_textgen_exports_peepholes_and_the_learned_state_to_onnx(text_file, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    flags = ["--cell", "lstm", "--peephole", "--learn-initial-state"]
    out, _, _ = train(capsys, tmp_path, "textgen", flags, "--text", text_file)
    code, _, err = run_cli(capsys, "export", "--model", out, "--json")
    assert code == 0, err
    model = load(out / "model.safetensors")
    ids = np.random.default_rng(0).integers(0, model.settings["vocab_size"], (2, 7))  # (B, T)
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(["out"], {"x": ids.astype(np.int64)})
    np.testing.assert_allclose(onnx_out, model.forward(ids), rtol=0, atol=1e-5)


@pytest.mark.parametrize("flags, option", [
    (["--cell", "lstm", "--layer-norm"], "layer_norm"),
    (["--cell", "lstm", "--proj-size", "3"], "proj_size"),
])
def test_textgen_export_refuses_what_onnx_lacks(flags, option, text_file, tmp_path, capsys):
    out, _, _ = train(capsys, tmp_path, "textgen", flags, "--text", text_file)
    code, _, err = run_cli(capsys, "export", "--model", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and option in err, err
    assert "Traceback" not in err and not (out / "model.onnx").exists()


# --- translate -------------------------------------------------------------------------------
def logged_translations(err: str) -> dict:
    """The first test translations the run logs: ``  'source' -> 'output'  (reference ...)``."""
    pairs = {}
    for line in err.splitlines():
        match = re.match(r"  (['\"].*?['\"]) -> (['\"].*?['\"])  \(reference ", line)
        if match:
            pairs[ast.literal_eval(match[1])] = ast.literal_eval(match[2])
    return pairs


def validation_loss(out, flags) -> float:
    """The saved model's loss, in eval mode, on the validation pairs of the run that trained
    it (the split rebuilt from the same options)."""
    from rnnkit.cli import build_parser
    from rnnkit.cli.translate import BOS, encode_sources, encode_targets, prepare
    from rnnkit.io.schema import load_json
    from rnnkit.nn.losses import CrossEntropyLoss
    from rnnkit.train.tasks import TeacherForcingTask

    pairs = prepare(build_parser().parse_args(["translate", *TRANSLATE, *flags])).parts["val"]
    task = load_json((out / "task.json").read_bytes(), "task.json")
    x, lengths = encode_sources([s for s, _ in pairs], task)  # (N, Ts), (N,)
    y = encode_targets([t for _, t in pairs], task)  # (N, Tt)
    model = load(out / "model.safetensors")
    model.eval()
    forcing = TeacherForcingTask(CrossEntropyLoss(ignore_index=0),
                                 task["target_vocabulary"].index(BOS))
    return float(forcing.forward(model, {"x": x, "y": y, "lengths": lengths})[0])


@pytest.mark.parametrize("case", TRANSLATE_CASES)
def test_translate_trains_saves_and_translates_with_the_variants(case, tmp_path, capsys):
    flags, names = TRANSLATE_CASES[case]
    out, metrics, err = train(capsys, tmp_path, "translate", flags)
    model = check_saved_variants(out, flags, names)
    assert not {"decoder.h0", "decoder.c0"} & set(model.params)  # it starts from the bridge
    if "--proj-size" in flags:
        assert model.params["decoder.weight_hr_l0"].shape == (3, 8)
        assert model.params["bridge.weight"].shape == (3, 6)  # both directions' P -> P
    if "--learn-initial-state" in flags:
        assert np.abs(model.params["encoder.h0"]).max() > 0  # trained away from zeros
    # the reloaded model reads the validation pairs as the trained one did, and translates
    # the test sources as it did (greedy)
    assert validation_loss(out, flags) == pytest.approx(metrics["val_loss"], rel=1e-6)
    logged = logged_translations(err)
    assert logged, err
    source_file = tmp_path / "sources.txt"
    source_file.write_text("\n".join(logged) + "\n", encoding="utf-8")
    code, stdout, err = run_cli(capsys, "predict", "--model", out, "--input", source_file,
                                "--json")
    assert code == 0, err
    assert last_json(stdout)["translations"] == list(logged.values())


def test_translate_exports_peepholes_and_the_learned_state_to_onnx(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from rnnkit.cli.translate import BOS, EOS, encode_sources
    from rnnkit.io.schema import load_json
    from rnnkit.nn.decoding import greedy_decode
    from rnnkit.interop.onnx_seq2seq import OnnxTranslator

    out, _, log = train(capsys, tmp_path, "translate",
                        ["--cell", "lstm", "--peephole", "--learn-initial-state"])
    code, _, err = run_cli(capsys, "export", "--model", out, "--json")
    assert code == 0, err
    model = load(out / "model.safetensors")
    task = load_json((out / "task.json").read_bytes(), "task.json")
    src, lengths = encode_sources(list(logged_translations(log)), task)  # the test sources
    vocab = task["target_vocabulary"]
    options = dict(bos=vocab.index(BOS), eos=vocab.index(EOS), max_len=task["max_len"])
    onnx = OnnxTranslator(out, threads=1)
    np.testing.assert_allclose(onnx.encode(src, lengths).memory,
                               model.encode(src, lengths).memory, rtol=0, atol=1e-5)
    assert greedy_decode(onnx, src, lengths, **options)[0] == \
        greedy_decode(model, src, lengths, **options)[0]


@pytest.mark.parametrize("flags, option", [
    (["--cell", "gru", "--layer-norm"], "layer_norm"),
    (["--cell", "lstm", "--proj-size", "3"], "proj_size"),
])
def test_translate_export_refuses_what_onnx_lacks(flags, option, tmp_path, capsys):
    out, _, _ = train(capsys, tmp_path, "translate", flags)
    code, _, err = run_cli(capsys, "export", "--model", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and option in err, err
    assert "Traceback" not in err and not (out / "encoder.onnx").exists()


def test_translate_help_says_the_decoder_starts_from_the_bridge(capsys):
    with pytest.raises(SystemExit):
        run_cli(capsys, "translate", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "--layer-norm" in text and "--proj-size" in text
    assert "learn the encoder's h0 (and c0)" in text and "starts from the bridge" in text
