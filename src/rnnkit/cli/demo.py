"""``rnnkit demo``: train a small LSTM on the bundled airline series and print the loss falling.

Sliding windows of 12 monthly log-changes predict the next month's change; the changes are
standardised on the training part only; the last 24 months are held out and compared with
the naive (last value) forecast.
"""
from __future__ import annotations

import time

import numpy as np

from rnnkit.train.callbacks import Callback

HELP = "train a small LSTM on a bundled series and show the loss fall"
MAX_EPOCHS = 100_000  # about an hour


class PrintEvery(Callback):
    """Print the training loss after the first epoch and every ``n`` epochs."""

    def __init__(self, n):
        self.n = n

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == 0 or (epoch + 1) % self.n == 0:
            print(f"epoch {epoch + 1:3d}  training loss {logs['loss']:.4f}", flush=True)


def add_arguments(parser) -> None:
    parser.add_argument("--epochs", type=int, default=60, help="training epochs (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run(args) -> int:
    from rnnkit.cli.common import check_seed
    from rnnkit.data.datasets import load_series
    from rnnkit.data.timeseries import create_sequences
    from rnnkit.errors import UsageError
    from rnnkit.nn.losses import MSELoss
    from rnnkit.nn.models import SequenceModel
    from rnnkit.train.optim import Adam
    from rnnkit.train.trainer import Trainer

    if args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {args.epochs}")
    if args.epochs > MAX_EPOCHS:
        raise UsageError(f"--epochs must be at most {MAX_EPOCHS}, got {args.epochs}")
    check_seed(args.seed)
    series = load_series("airline")  # (144,)
    diff = np.diff(np.log(series))  # (143,) monthly log-changes
    window, test = 12, 24
    mu, sd = diff[:-test].mean(), diff[:-test].std()
    z = (diff - mu) / sd
    x, y = create_sequences(z, window)  # (N, W), (N, 1): seed 001's sliding windows
    x = x[..., None]  # (N, W, 1)
    n_train = len(x) - test
    model = SequenceModel("lstm", input_size=1, hidden_size=32, output_size=1, seed=args.seed)
    trainer = Trainer(model, MSELoss(), Adam(model, lr=1e-2), clip_norm=1.0, seed=args.seed,
                      callbacks=[PrintEvery(10)])
    print(f"LSTM(1, 32) on {len(series)} months of airline passengers; "
          f"{n_train} training windows, {test} held out")
    start = time.perf_counter()
    trainer.fit((x[:n_train], y[:n_train]), epochs=args.epochs, batch_size=16, verbose=False)
    model.eval()
    change = model.forward(x[n_train:])[:, 0] * sd + mu  # (test,) predicted log-changes
    previous, actual = series[-test - 1 : -1], series[-test:]
    rmse = float(np.sqrt(np.mean((previous * np.exp(change) - actual) ** 2)))
    naive = float(np.sqrt(np.mean((previous - actual) ** 2)))
    print(f"held-out one-step RMSE {rmse:.1f} thousand passengers "
          f"(naive last-value forecast: {naive:.1f}); {time.perf_counter() - start:.1f} s")
    return 0
