"""Files written by rnnkit 0.1.0 (the flat layout, before the floors) still load and compute
the same outputs; a training checkpoint of that version resumes."""
from pathlib import Path

import numpy as np

import rnnkit
from rnnkit.nn import no_grad

DATA = Path(__file__).resolve().parents[1] / "data" / "legacy_0_1_0"


def expected():
    return np.load(DATA / "expected.npz", allow_pickle=False)


def test_saved_models_load_and_give_the_same_outputs():
    e = expected()
    cases = {"sequence_model": lambda m: m.forward(e["x"]),
             "token_model": lambda m: m.forward(e["ids"]),
             "seq2seq": lambda m: m.forward(e["src"], e["lens"], e["tgt"]),
             "sequential": lambda m: m.forward(e["x"])}
    for name, run in cases.items():
        model = rnnkit.load(DATA / f"{name}.safetensors").eval()
        with no_grad():
            # float32: equal to rounding, not to the bit, since the kernels add the biases
            # and sum the recurrent product in their own order (issue 12), not 0.1.0's
            np.testing.assert_allclose(run(model), e[name], rtol=0, atol=1e-6, err_msg=name)


def test_training_checkpoint_resumes(tmp_path):
    e = expected()
    model, extra = rnnkit.load_checkpoint(DATA / "checkpoint.safetensors")
    # float32: equal to rounding, not to the bit, since the recurrent product's summation
    # order is rnnkit.core.gemm's (issue 12), not 0.1.0's
    np.testing.assert_allclose(model.forward(e["train_x"]), e["checkpoint_model"], rtol=0,
                               atol=1e-6)
    assert extra["optimizer"]["class"] == "Adam" and extra["training"]["step"] == \
        int(e["checkpoint_step"])
    trainer = rnnkit.Trainer(model, rnnkit.CrossEntropyLoss(), rnnkit.Adam(model, lr=1e-2),
                             callbacks=[rnnkit.EarlyStopping(patience=3)], progress=False)
    history = trainer.fit((e["train_x"], e["train_y"]), validation_split=0.25, epochs=4,
                          batch_size=8, resume=DATA / "checkpoint.safetensors", verbose=False)
    assert len(history["loss"]) == 4 and trainer.epoch == 4  # 2 saved + 2 more
