"""The recurrent-layer variants from the command line: forecast and classify build their
networks with them (the saved configs say so, and predict rebuilds them); bad combinations,
on every training command (textgen and translate: test_variant_flags_text.py), are refused in
one line before anything is written."""

import pytest

from helpers import last_json
from rnnkit.cli import main
from rnnkit.io.checkpoint import load


def member_configs(folder):
    model = load(folder / "model.safetensors")
    return [m.config() for m in model.modules.values()]


def test_forecast_builds_its_networks_with_the_variants(tmp_path, capsys):
    out = tmp_path / "f"
    code = main(["forecast", "--members", "1", "--updates", "20", "--hidden", "8",
                 "--cell", "lstm", "--layer-norm", "--learn-initial-state", "--peephole",
                 "--out", str(out), "--json"])
    assert code == 0, capsys.readouterr().err
    config = member_configs(out)[0]
    assert config["layer_norm"] and config["learn_initial_state"] and config["peephole"]
    capsys.readouterr()
    assert main(["predict", "--model", str(out), "--json"]) == 0
    assert len(last_json(capsys.readouterr().out)["forecast"]) == 12


def test_classify_builds_its_networks_with_the_variants(tmp_path, capsys):
    out = tmp_path / "c"
    code = main(["classify", "--members", "1", "--updates", "10", "--hidden", "8",
                 "--cell", "lstm", "--proj-size", "4", "--learn-initial-state",
                 "--out", str(out), "--json"])
    assert code == 0, capsys.readouterr().err
    model = load(out / "model.safetensors")
    assert model.config()["proj_size"] == 4 and model.config()["learn_initial_state"]
    capsys.readouterr()
    code = main(["classify", "--members", "1", "--updates", "10", "--hidden", "8",
                 "--recurrent-dropout", "0.1", "--out", str(tmp_path / "d"), "--json"])
    assert code == 0 and load(tmp_path / "d" / "model.safetensors").config()[
        "recurrent_dropout"] == 0.1


@pytest.mark.parametrize("argv, message", [
    (["--cell", "gru", "--proj-size", "4"], "--proj-size applies to the LSTM only"),
    (["--cell", "gru", "--peephole"], "--peephole applies to the LSTM only"),
    (["--cell", "rnn", "--layer-norm"], "--layer-norm applies to the LSTM and GRU"),
    (["--recurrent-dropout", "1.5"], "--recurrent-dropout must be in [0, 1)"),
    (["--cell", "lstm", "--proj-size", "64"], "must be smaller than --hidden"),
    (["--cell", "lstm", "--proj-size", "4", "--recurrent-dropout", "0.2"],
     "--recurrent-dropout cannot be combined with --proj-size"),
    # torch.nn's layers lack these: --engine torch would fail converting the model
    (["--engine", "torch", "--cell", "lstm", "--layer-norm"],
     "--layer-norm needs --engine numpy: torch.nn.LSTM has no layer_norm"),
    (["--engine", "torch", "--cell", "lstm", "--peephole"], "--peephole needs --engine numpy"),
    (["--engine", "torch", "--learn-initial-state"], "--learn-initial-state needs --engine"),
    (["--engine", "torch", "--recurrent-dropout", "0.1"], "--recurrent-dropout needs --engine"),
])
@pytest.mark.parametrize("command", ["forecast", "classify", "textgen", "translate"])
def test_bad_variant_options_are_refused(command, argv, message, tmp_path, capsys):
    out = tmp_path / "x"
    code = main([command, *argv, "--hidden", "32", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not out.exists()
