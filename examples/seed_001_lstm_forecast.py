"""Seed 001: a two-layer LSTM forecasts the next value of a series from the last 10; and the
shape of its LSTM text classifier.

The seed trains ``LSTMModel(input_size=1, hidden_size=64, num_layers=2, output_size=1)``
(``dropout=0.2`` between the layers, a Linear head on the last step) with MSE and Adam
(lr 1e-3) on windows from its ``create_sequences(data, seq_length=10)`` of a stock price
series it never defines. Here the series is the bundled airline one (monthly passengers,
thousands), min-max scaled with the minimum and maximum of the training part only (scaling
with the whole series would leak the test period into training); the last 20% of the months
are the test set, the last 10% of the training windows the validation set.

Where rnnkit differs: the seed takes 100 full-batch steps, which at lr 1e-3 barely move the
weights; here the fit loop takes mini-batches of 16 (``--epochs``, default 100). The test
RMSE is printed in passengers next to the naive forecast "next month = this month". Expect
the LSTM to be no better than that: the series grows, so the test months lie above the
training range (scaled values > 1) and the model must extrapolate, which saturating gates do
poorly. That is a limit of the seed's recipe (no differencing or detrending), not of the LSTM.
"""
import argparse

import numpy as np

import rnnkit
from rnnkit.data.datasets import load_series
from rnnkit.nn import LastStep, Linear, Sequential
from rnnkit.train.callbacks import Callback
from rnnkit.train.trainer import Trainer


def create_sequences(data, seq_length=10):
    """The seed's windows: X[i] = data[i:i+seq_length], y[i] = data[i+seq_length]."""
    X, y = [], []
    for i in range(len(data) - seq_length):
        X.append(data[i:i + seq_length])
        y.append(data[i + seq_length])
    return np.array(X), np.array(y)


def lstm_model(input_size, hidden_size, num_layers, output_size, seed=0):
    """The seed's LSTMModel: LSTM (dropout 0.2 between layers) -> last step -> Linear."""
    return Sequential(lstm=rnnkit.LSTM(input_size, hidden_size, num_layers, dropout=0.2,
                                       seed=seed),
                      last=LastStep(),
                      fc=Linear(hidden_size, output_size, seed=seed))


class PrintEvery(Callback):
    """Print the epoch's losses every ``n`` epochs (and after the first)."""

    def __init__(self, n):
        self.n = n

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == 0 or (epoch + 1) % self.n == 0:
            print(f"epoch {epoch + 1:4d}  loss {logs['loss']:.5f}  "
                  f"val_loss {logs['val_loss']:.5f}")


def main(epochs):
    seq_length = 10
    series = load_series("airline")  # (144,)
    n_train = int(len(series) * 0.8)
    lo, hi = series[:n_train].min(), series[:n_train].max()  # training part only
    scaled = (series - lo) / (hi - lo)  # (N,)

    X_train, y_train = create_sequences(scaled[:n_train], seq_length)
    X_test, y_test = create_sequences(scaled[n_train - seq_length:], seq_length)
    X_train, X_test = X_train[..., None], X_test[..., None]  # (N, T, 1), the seed's unsqueeze
    y_train, y_test = y_train[:, None], y_test[:, None]  # (N, 1), like the head's output

    model = lstm_model(input_size=1, hidden_size=64, num_layers=2, output_size=1)
    trainer = Trainer(model, rnnkit.MSELoss(), rnnkit.Adam(model, lr=1e-3), progress=False,
                      callbacks=[PrintEvery(max(1, epochs // 10))])
    history = trainer.fit((X_train, y_train), validation_split=0.1, epochs=epochs,
                          batch_size=16, verbose=False)
    print(f"training loss: {history['loss'][0]:.5f} (epoch 1) -> "
          f"{history['loss'][-1]:.5f} (epoch {epochs})")

    model.eval()  # no dropout
    pred = model.forward(X_test) * (hi - lo) + lo  # (N_test, 1) in passengers
    truth = y_test * (hi - lo) + lo
    rmse = np.sqrt(np.mean((pred - truth) ** 2))
    naive = X_test[:, -1] * (hi - lo) + lo  # the last month of each window
    naive_rmse = np.sqrt(np.mean((naive - truth) ** 2))
    print(f"test RMSE over the last {len(truth)} months: {rmse:.1f} thousand passengers "
          f"(naive 'same as last month': {naive_rmse:.1f})")

    # The seed's text classifier: 100-dim word vectors in, 2 classes out.
    clf = lstm_model(input_size=100, hidden_size=128, num_layers=2, output_size=2)
    clf.eval()
    x = np.random.default_rng(0).standard_normal((4, 25, 100))  # (B, T, F): 4 texts, 25 words
    print(f"text classifier: input {x.shape} -> logits {clf.forward(x).shape}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    main(parser.parse_args().epochs)
