"""The encoder-decoder: finite differences through the whole model (bridge and attention
included) and the same model written in PyTorch, step-by-step decoding equal to teacher
forcing, saving and loading."""
import numpy as np
import pytest
import torch

import rnnkit
from helpers import numerical_grad, rel_error, torch_layer
from rnnkit.nn.losses import CrossEntropyLoss
from rnnkit.nn.seq2seq import Seq2Seq, shift_right
from rnnkit.train.tasks import TeacherForcingTask

BOS = 2


def make_batch(seed, B=3, Ts=5, Tt=4, V_src=7, V_tgt=6):
    """Sources right-padded with 0 (lengths include 1 and Ts) and labels padded with 0."""
    rng = np.random.default_rng(seed)
    lengths = np.concatenate([[Ts, 1], rng.integers(1, Ts + 1, max(B - 2, 0))])[:B]  # (B,)
    src = rng.integers(1, V_src, (B, Ts))  # (B, Ts)
    src[np.arange(Ts)[None, :] >= lengths[:, None]] = 0
    label_lengths = np.concatenate([[Tt], rng.integers(1, Tt + 1, B - 1)])[:B]
    y = rng.integers(1, V_tgt, (B, Tt))  # (B, Tt)
    y[np.arange(Tt)[None, :] >= label_lengths[:, None]] = 0
    return {"x": src, "y": y, "lengths": lengths}


CONFIGS = [dict(cell="gru"), dict(cell="lstm"), dict(cell="rnn", bidirectional=False),
           dict(cell="gru", num_layers=2), dict(cell="lstm", num_layers=2)]
# the recurrent variants (issue 13), on the encoder and the decoder (learn_initial_state: the
# encoder only)
VARIANT_CONFIGS = [
    dict(cell="lstm", layer_norm=True, peephole=True, learn_initial_state=True),
    dict(cell="gru", num_layers=2, layer_norm=True, learn_initial_state=True),
    dict(cell="lstm", proj_size=3, peephole=True, learn_initial_state=True),
    dict(cell="lstm", num_layers=2, proj_size=2),
    dict(cell="rnn", recurrent_dropout=0.3, learn_initial_state=True),
    dict(cell="gru", recurrent_dropout=0.3, layer_norm=True),
]


def same_masks(model):
    """Reseed the encoder's and decoder's dropout generators: every forward then draws the
    same recurrent-dropout masks, as finite differences need."""
    for name in ("encoder", "decoder"):
        model.modules[name].rng = np.random.default_rng(11)


def config_id(c):
    return "-".join(map(str, c.values()))


FD_CASES = [(c, B) for c in CONFIGS for B in (1, 3)] + [(c, 3) for c in VARIANT_CONFIGS]


@pytest.mark.parametrize("config, B", FD_CASES,
                         ids=[f"{config_id(c)}-B{B}" for c, B in FD_CASES])
def test_seq2seq_finite_differences(config, B):
    model = Seq2Seq(7, 6, embedding_dim=3, hidden_size=4, dtype="float64", seed=1, **config)
    for p in model.params.values():
        p *= 3.0  # activations of order 1, so that no gradient is lost in round-off
    for name in ("encoder.h0", "encoder.c0"):
        if name in model.params:  # a learned initial state away from zero
            model.params[name][...] = np.random.default_rng(0).uniform(
                -1, 1, model.params[name].shape)
    batch = make_batch(seed=B, B=B)
    task = TeacherForcingTask(CrossEntropyLoss(ignore_index=0), bos=BOS)

    def loss(_):
        same_masks(model)
        return task.forward(model, batch)[0]

    model.zero_grad()
    loss(None)
    task.backward(model)
    # layer norm is strongly curved at these scales: the central difference's truncation
    # error (~ eps^2) needs the smaller step for some parameters, while for others the
    # round-off of the losses (~ 1e-16 / eps) is then the larger error: the better of the two
    steps = (1e-5, 1e-6) if config.get("layer_norm") else (1e-5,)
    for name, p in model.params.items():
        err = min(rel_error(model.grads[name], numerical_grad(loss, p, eps=eps))
                  for eps in steps)
        assert err < 1e-7, f"gradient of {name}: relative error {err:.2e}"
    assert np.abs(model.grads["bridge.weight"]).max() > 0  # the bridge carries gradient


def torch_seq2seq(model, src, lengths, tgt_in):
    """The same model in torch on the same weights: returns logits and the parameters."""
    m = model.modules
    emb_src = torch.nn.Embedding.from_pretrained(
        torch.tensor(m["src_embedding"].params["weight"]), freeze=False, padding_idx=0)
    emb_tgt = torch.nn.Embedding.from_pretrained(
        torch.tensor(m["tgt_embedding"].params["weight"]), freeze=False, padding_idx=0)
    enc, dec = torch_layer(m["encoder"]), torch_layer(m["decoder"])
    named = {"src_embedding.weight": emb_src.weight, "tgt_embedding.weight": emb_tgt.weight}
    named.update({f"encoder.{k}": p for k, p in enc.named_parameters()})
    named.update({f"decoder.{k}": p for k, p in dec.named_parameters()})
    for mod in ("bridge", "attention", "out"):
        named.update({f"{mod}.{k}": torch.tensor(v, requires_grad=True)
                      for k, v in m[mod].params.items()})
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        emb_src(torch.tensor(src)), torch.tensor(lengths), batch_first=True,
        enforce_sorted=False)
    memory, state = enc(packed)
    memory, _ = torch.nn.utils.rnn.pad_packed_sequence(memory, batch_first=True,
                                                       total_length=src.shape[1])
    h_n = state[0] if model.cell == "lstm" else state  # (L*D, B, H)
    L, D, H = model.num_layers, model.num_directions, model.hidden_size
    h_cat = h_n.reshape(L, D, -1, H).permute(0, 2, 1, 3).reshape(L, -1, D * H)
    h0 = torch.tanh(h_cat @ named["bridge.weight"].T + named["bridge.bias"])
    dec_state = (h0, torch.zeros_like(h0)) if model.cell == "lstm" else h0
    states, _ = dec(emb_tgt(torch.tensor(tgt_in)), dec_state)  # (B, Tt, H)
    scores = states @ (memory @ named["attention.weight_a"].T).transpose(1, 2)
    pad = torch.arange(src.shape[1])[None, :] >= torch.tensor(lengths)[:, None]
    weights = torch.softmax(scores.masked_fill(pad[:, None, :], float("-inf")), dim=-1)
    att = torch.tanh(torch.cat([weights @ memory, states], dim=-1)
                     @ named["attention.weight_c"].T + named["attention.bias_c"])
    return att @ named["out.weight"].T + named["out.bias"], named


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_seq2seq_matches_torch(config):
    model = Seq2Seq(9, 8, embedding_dim=5, hidden_size=6, dtype="float64", seed=2, **config)
    batch = make_batch(seed=3, B=4, Ts=6, Tt=5, V_src=9, V_tgt=8)
    tgt_in = shift_right(batch["y"], BOS)
    logits_t, named = torch_seq2seq(model, batch["x"], batch["lengths"], tgt_in)
    torch.nn.functional.cross_entropy(logits_t.reshape(-1, 8), torch.tensor(batch["y"]).ravel(),
                                      ignore_index=0).backward()
    task = TeacherForcingTask(CrossEntropyLoss(ignore_index=0), bos=BOS)
    model.zero_grad()
    _, logits, _ = task.forward(model, batch)
    task.backward(model)
    Tt = logits.shape[1]  # the task trims the batch to its longest label sequence
    assert rel_error(logits, logits_t[:, :Tt].detach().numpy()) < 1e-10
    assert set(named) == set(model.params)
    for name, p in named.items():
        assert rel_error(model.grads[name], p.grad.numpy()) < 1e-10, name


@pytest.mark.parametrize("config", CONFIGS + VARIANT_CONFIGS, ids=config_id)
def test_step_by_step_decoding_reproduces_teacher_forcing(config):
    model = Seq2Seq(7, 6, embedding_dim=3, hidden_size=5, dtype="float64", seed=4, **config)
    model.eval()
    batch = make_batch(seed=5, B=4, Ts=6, Tt=5)
    tgt_in = shift_right(batch["y"], BOS)
    logits = model.forward(batch["x"], batch["lengths"], tgt_in)  # (B, Tt, V)
    enc = model.encode(batch["x"], batch["lengths"])
    state = enc.state
    for t in range(tgt_in.shape[1]):
        logits_t, state, weights = model.decode_step(tgt_in[:, t], state, enc)
        np.testing.assert_allclose(logits_t, logits[:, t], rtol=0, atol=1e-12)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_save_and_load_rebuild_the_model(tmp_path):
    model = Seq2Seq(7, 6, embedding_dim=3, hidden_size=4, cell="lstm", seed=0)
    rnnkit.save(model, tmp_path / "m.safetensors")
    loaded = rnnkit.load(tmp_path / "m.safetensors")
    assert isinstance(loaded, Seq2Seq) and loaded.config() == model.config()
    batch = make_batch(seed=0)
    tgt_in = shift_right(batch["y"], BOS)
    assert np.array_equal(model.forward(batch["x"], batch["lengths"], tgt_in),
                          loaded.forward(batch["x"], batch["lengths"], tgt_in))
    assert "bridge.weight" in model.params and "attention.weight_a" in model.params
    assert model.params["encoder.weight_ih_l0_reverse"].shape == (16, 3)  # bidirectional


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="Unknown cell 'tcn'"):
        Seq2Seq(5, 5, cell="tcn")
    model = Seq2Seq(5, 4, embedding_dim=2, hidden_size=3, seed=0)
    with pytest.raises(RuntimeError, match="needs a forward"):
        model.backward(np.zeros((1, 1, 4)))
    enc = model.encode(np.array([[1, 2]]), np.array([2]))
    with pytest.raises(IndexError, match="tokens must lie in 0..3"):
        model.decode_step(np.array([4]), enc.state, enc)


def test_variants_reach_both_recurrent_layers_and_the_saved_config(tmp_path):
    """layer_norm, peephole and proj_size on the encoder and the decoder, the learned initial
    state on the encoder alone; the config names them and loading rebuilds them."""
    model = Seq2Seq(7, 6, embedding_dim=3, hidden_size=5, cell="lstm", seed=0, proj_size=2,
                    peephole=True, learn_initial_state=True)
    p = model.params
    assert p["encoder.weight_hr_l0"].shape == (2, 5) == p["decoder.weight_hr_l0"].shape
    assert p["encoder.weight_peephole_l0_reverse"].shape == (15,)
    assert "decoder.weight_peephole_l0" in p
    assert p["encoder.h0"].shape == (2, 2) and p["encoder.c0"].shape == (2, 5)
    assert "decoder.h0" not in p and "decoder.c0" not in p  # its state comes from the bridge
    assert p["bridge.weight"].shape == (2, 4) and p["attention.weight_a"].shape == (2, 4)
    rnnkit.save(model, tmp_path / "m.safetensors")
    loaded = rnnkit.load(tmp_path / "m.safetensors")
    assert loaded.config() == model.config()
    assert {k: model.config()[k] for k in ("proj_size", "peephole", "learn_initial_state")} \
        == {"proj_size": 2, "peephole": True, "learn_initial_state": True}
    assert "layer_norm" not in model.config()  # only the variants that are on
    normed = Seq2Seq(7, 6, embedding_dim=3, hidden_size=5, seed=0, layer_norm=True)
    assert {"encoder.ln_weight_ih_l0", "decoder.ln_bias_hh_l0"} <= set(normed.params)


def test_projected_seq2seq_matches_its_torch_twin():
    """torch.nn.LSTM has proj_size: the twin gives the same logits, whose decoder cell
    state starts at zeros (L, B, H) while h0 is (L, B, P)."""
    model = Seq2Seq(9, 8, embedding_dim=5, hidden_size=6, cell="lstm", num_layers=2,
                    proj_size=3, dtype="float64", seed=2)
    model.eval()
    batch = make_batch(seed=3, B=4, Ts=6, Tt=5, V_src=9, V_tgt=8)
    tgt_in = shift_right(batch["y"], BOS)
    twin = rnnkit.to_torch(model)
    with torch.no_grad():
        logits_t = twin(torch.tensor(batch["x"]), torch.tensor(batch["lengths"]),
                        torch.tensor(tgt_in)).numpy()
    logits = model.forward(batch["x"], batch["lengths"], tgt_in)
    assert rel_error(logits, logits_t) < 1e-12
