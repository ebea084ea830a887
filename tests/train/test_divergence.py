"""Training that diverges stops with the TrainingError, whatever overflows first: the loss,
a weight (a finite gradient times a huge learning rate), or a value inside the network,
never with a ValueError from a layer's input validation."""
import numpy as np
import pytest

from rnnkit.errors import TrainingError
from rnnkit.nn.losses import MSELoss
from rnnkit.nn.models import SequenceModel
from rnnkit.train.optim import SGD
from rnnkit.train.trainer import Trainer


@pytest.mark.parametrize("lr,scale", [(1e30, 1.0), (1e38, 1e-3), (1e15, 1e10)])
def test_divergence_is_a_training_error(lr, scale):
    model = SequenceModel("gru", input_size=1, hidden_size=4, output_size=1, num_layers=2,
                          seed=0)
    x = np.random.default_rng(0).normal(size=(32, 5, 1)).astype(np.float32)  # (B, T, 1)
    y = scale * x[:, -1]  # (B, 1)
    trainer = Trainer(model, MSELoss(), SGD(model, lr=lr), progress=False)
    with np.errstate(all="ignore"), pytest.raises(TrainingError, match="became"):
        trainer.fit((x, y), epochs=20, batch_size=8, verbose=False)


def make_run(optimizer_class):
    model = SequenceModel("gru", input_size=1, hidden_size=4, output_size=1, seed=0)
    x = np.random.default_rng(0).normal(size=(32, 5, 1)).astype(np.float32)  # (B, T, 1)
    return Trainer(model, MSELoss(), optimizer_class(model), progress=False), (x, x[:, -1])


def test_a_weight_that_overflows_stops_training_at_once():
    class Overflowing(SGD):  # an update that overflows one weight of the recurrent layer
        def __init__(self, model):
            super().__init__(model, lr=0.1)
            self.weight = model.params["rnn.weight_hh_l0"]

        def step(self):
            super().step()
            self.weight[0, 0] = np.inf

    trainer, data = make_run(Overflowing)
    with pytest.raises(TrainingError, match="the sum of the weights became inf at epoch 1, "
                       "step 1; .* no longer usable"):
        trainer.fit(data, epochs=2, batch_size=8, verbose=False)


def test_nan_inside_the_network_is_a_training_error():
    trainer, data = make_run(lambda model: SGD(model, lr=0.1))
    forward = trainer.engine.forward

    def poisoned(batch, carry, train):
        if trainer.step == 1:
            raise ValueError("input contains NaN at index (0, 0, 0)")  # as a layer says it
        return forward(batch, carry, train)

    trainer.engine.forward = poisoned
    with pytest.raises(TrainingError, match="a value inside the network"):
        trainer.fit(data, epochs=2, batch_size=8, verbose=False)
