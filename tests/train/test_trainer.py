"""The fit loop: learning, seeded reproducibility, bit-identical resume, early stopping,
NaN guard, time limit, and truncated BPTT."""
import numpy as np
import pytest

import rnnkit
from rnnkit.errors import TrainingError
from rnnkit.nn.models import SequenceModel
from rnnkit.train.batches import ArrayData, StreamData
from rnnkit.train.callbacks import Callback, EarlyStopping, ModelCheckpoint
from rnnkit.train.tasks import SupervisedTask, TBPTTTask
from rnnkit.train.trainer import Trainer


def sine_windows(n=120, window=8):
    t = np.arange(n + window) * 0.3
    s = np.sin(t) + 0.1 * np.cos(3.1 * t)
    x = np.stack([s[i:i + window] for i in range(n)])[..., None]  # (N, W, 1)
    return x, s[window:window + n][:, None]  # (N, 1)


def make_run(seed=0, dropout=0.3, patience=100, lr=1e-2):
    model = rnnkit.Sequential(
        rnn=rnnkit.LSTM(1, 12, num_layers=2, dropout=dropout, seed=seed),
        last=rnnkit.LastStep(), drop=rnnkit.Dropout(0.1, seed=seed), fc=rnnkit.Linear(12, 1, seed=seed))
    opt = rnnkit.Adam(model, lr=lr)
    trainer = Trainer(model, rnnkit.MSELoss(), opt, clip_norm=1.0, seed=seed,
                      schedule=rnnkit.StepLR(opt, step_size=2, gamma=0.7),
                      callbacks=[EarlyStopping(patience=patience)], progress=False)
    return model, trainer


def weights(model):
    return {k: v.copy() for k, v in model.params.items()}


@pytest.mark.slow
def test_learns_a_series():
    model, trainer = make_run(dropout=0.0)
    hist = trainer.fit(sine_windows(), validation_split=0.2, epochs=12, batch_size=16,
                       verbose=False)
    assert hist["loss"][-1] < 0.2 * hist["loss"][0]
    assert hist["val_loss"][-1] < 0.05


def test_same_seed_gives_bit_identical_runs():
    runs = []
    for _ in range(2):
        model, trainer = make_run(seed=3)
        hist = trainer.fit(sine_windows(), validation_split=0.2, epochs=3, batch_size=16,
                           verbose=False)
        runs.append((weights(model), hist))
    assert runs[0][1] == runs[1][1]
    for k in runs[0][0]:
        assert np.array_equal(runs[0][0][k], runs[1][0][k])
    model, trainer = make_run(seed=4)
    hist = trainer.fit(sine_windows(), validation_split=0.2, epochs=3, batch_size=16,
                       verbose=False)
    assert hist != runs[0][1]


def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path):
    data = sine_windows()
    model, trainer = make_run(seed=1)
    full = trainer.fit(data, validation_split=0.2, epochs=6, batch_size=16, verbose=False)
    full_weights = weights(model)

    ckpt = tmp_path / "run.safetensors"
    model, trainer = make_run(seed=1)
    trainer.callbacks.append(ModelCheckpoint(ckpt))
    trainer.fit(data, validation_split=0.2, epochs=3, batch_size=16, verbose=False)

    model, trainer = make_run(seed=99)  # fresh objects, other seed: all must come from the file
    resumed = trainer.fit(data, validation_split=0.2, epochs=6, batch_size=16, resume=ckpt,
                          verbose=False)
    assert resumed == full
    for k, v in full_weights.items():
        assert np.array_equal(model.params[k], v), k


def test_early_stopping_restores_the_best_weights():
    class Record(Callback):
        def __init__(self):
            self.snapshots = []

        def on_epoch_end(self, trainer, epoch, logs):
            self.snapshots.append(weights(trainer.model))

    model, trainer = make_run(patience=2, lr=0.3)  # a large step size makes val_loss bounce
    record = Record()
    trainer.callbacks.insert(0, record)
    hist = trainer.fit(sine_windows(), validation_split=0.2, epochs=40, batch_size=16,
                       verbose=False)
    best = int(np.argmin(hist["val_loss"]))
    assert trainer.stop_reason and "early stopping" in trainer.stop_reason
    assert len(hist["val_loss"]) == best + 3  # stopped `patience` epochs after the best
    for k, v in record.snapshots[best].items():
        assert np.array_equal(model.params[k], v)


class NaNAfter(rnnkit.MSELoss):
    """MSE that turns NaN after ``n`` calls: a run that diverges."""

    def __init__(self, n):
        super().__init__()
        self.calls, self.n = 0, n

    def forward(self, pred, target, mask=None):
        self.calls += 1
        value = super().forward(pred, target, mask)
        return float("nan") if self.calls > self.n else value


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    model = SequenceModel("gru", input_size=1, hidden_size=4, output_size=1, seed=0)
    ckpt = tmp_path / "run.safetensors"
    x, y = sine_windows(n=32)
    trainer = Trainer(model, None, rnnkit.SGD(model, lr=0.01), progress=False,
                      task=None, callbacks=[ModelCheckpoint(ckpt)])
    trainer.task.loss_fn = NaNAfter(5)  # 2 batches an epoch: NaN in epoch 3
    with pytest.raises(TrainingError, match="loss became nan at epoch 3"):
        trainer.fit((x, y), epochs=5, batch_size=16, verbose=False)
    good = Trainer(SequenceModel("gru", input_size=1, hidden_size=4, output_size=1, seed=5),
                   rnnkit.MSELoss(), rnnkit.SGD(model, lr=0.01))
    good.restore(ckpt)
    assert good.epoch == 2  # the file holds the end of epoch 2, the last good one


class InfGradientAfter(SupervisedTask):
    """A task whose backward overflows after ``n`` calls (the loss itself stays finite), as
    a float32 BPTT can."""

    def __init__(self, loss_fn, n):
        super().__init__(loss_fn)
        self.calls, self.n = 0, n

    def backward(self, model):
        super().backward(model)
        self.calls += 1
        if self.calls > self.n:
            self.weights_before = model.state_dict()
            next(iter(model.grads.values()))[...] = np.inf


def test_inf_gradient_stops_before_the_weights_take_it():
    model = SequenceModel("gru", input_size=1, hidden_size=4, output_size=1, seed=0)
    x, y = sine_windows(n=32)
    loss = rnnkit.MSELoss()
    trainer = Trainer(model, loss, rnnkit.Adam(model, lr=0.01), progress=False,
                      task=InfGradientAfter(loss, 3))
    with pytest.raises(TrainingError, match="gradient norm became (inf|nan) at epoch 2, step 4"):
        trainer.fit((x, y), epochs=5, batch_size=16, verbose=False)
    before = trainer.task.weights_before
    assert all(np.array_equal(model.params[k], v) for k, v in before.items())  # not updated


def test_time_limit_stops_cleanly():
    model, trainer = make_run()
    trainer.max_minutes = 0.0
    hist = trainer.fit(sine_windows(), validation_split=0.2, epochs=50, batch_size=16,
                       verbose=False)
    assert len(hist["loss"]) == 1 and "time limit" in trainer.stop_reason


@pytest.mark.slow
def test_truncated_bptt_learns_a_repeating_text():
    text = "hello world. " * 60
    vocab = sorted(set(text))
    tokens = np.array([vocab.index(c) for c in text])
    model = SequenceModel("lstm", vocab_size=len(vocab), embedding_dim=8, hidden_size=32,
                          output_size=len(vocab), head="all", seed=0)
    loss = rnnkit.CrossEntropyLoss()
    trainer = Trainer(model, loss, rnnkit.Adam(model, lr=2e-2), task=TBPTTTask(loss),
                      clip_norm=5.0, progress=False)
    hist = trainer.fit(StreamData(tokens, batch_size=4, seq_len=10), epochs=15, verbose=False)
    assert hist["loss"][-1] < 0.1  # the pattern is deterministic after a few characters

    # the window boundary is crossed with the state carried over: predictions right after a
    # boundary are as good as inside a window, which needs the carried state
    state, correct = None, 0
    prev = tokens[0]
    model.eval()
    for t in range(1, 200):
        out, state = model.step(np.array([prev]), state)
        correct += int(np.argmax(out[0]) == tokens[t])
        prev = tokens[t]
    assert correct / 199 > 0.9


def test_array_data_errors():
    with pytest.raises(ValueError, match="no samples"):
        ArrayData(np.zeros((0, 3, 1)), np.zeros((0, 1)))
    with pytest.raises(ValueError, match="3 samples but y has 2"):
        ArrayData(np.zeros((3, 3, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="empty part"):
        ArrayData(np.zeros((3, 3, 1)), np.zeros((3, 1))).split(0.1)


def test_as_data_accepts_tuples_and_data_objects():
    from rnnkit.train.batches import as_data

    data = as_data((np.zeros((3, 2, 1)), np.zeros((3, 1)), np.array([2, 1, 2])))
    assert isinstance(data, ArrayData) and data.lengths.tolist() == [2, 1, 2]
    assert as_data(data) is data
    with pytest.raises(TypeError, match="ArrayData, a StreamData or a tuple"):
        as_data([1, 2, 3])
