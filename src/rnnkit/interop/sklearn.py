"""scikit-learn estimators around :class:`rnnkit.nn.models.SequenceModel`: ``RNNRegressor`` and
``RNNClassifier`` (needs the extra: ``pip install 'rnnkit[sklearn]'``).

    X (n, T)     n univariate sequences of T steps (read as (n, T, 1))
    X (n, T, F)  n sequences of T steps with F features each
    y (n,) or (n, k) real targets (regressor), or (n,) labels of any kind (classifier)

The network is ``SequenceModel(cell, input_size=F, head="last")``: a recurrent stack read at
the last step, then a linear head, trained by :class:`rnnkit.train.trainer.Trainer` with Adam on
the mean squared error (regressor) or softmax cross-entropy (classifier).

Scaling, fitted in ``fit`` and applied in every later call:
    x' = (x - x_mean_[f]) / x_scale_[f]   per feature f, pooled over samples AND time steps,
                                          so a sequence keeps its shape in time;
    y' = (y - y_mean_[j]) / y_scale_[j]   per output j (regressor); predictions are mapped
                                          back with y = y' * y_scale_ + y_mean_.
A scale below float64 precision (a constant feature) is replaced by 1.

As scikit-learn counts features, ``n_features_in_`` is ``X.shape[1]``, the number of time
steps T; ``input_size_`` is F. Later calls must give sequences of the same T and F.

Training holds out ``validation_fraction`` of the samples (a seeded random subset) and stops
when the validation loss has not improved for ``patience`` epochs, keeping the best epoch's
weights (Keras' EarlyStopping). The same ``random_state`` gives bit-identical predictions.
"""
from __future__ import annotations

import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # the optional extra is missing
    raise ImportError("rnnkit.interop.sklearn needs scikit-learn, which is not installed: "
                      "pip install 'rnnkit[sklearn]'") from exc
try:
    from sklearn.utils.validation import validate_data as _validate_data  # scikit-learn >= 1.6
except ImportError:  # scikit-learn 1.3 - 1.5
    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)

from rnnkit.nn.losses import CrossEntropyLoss, MSELoss, log_softmax
from rnnkit.nn.models import SequenceModel
from rnnkit.nn.recurrent import LAYERS
from rnnkit.train.batches import ArrayData
from rnnkit.train.callbacks import EarlyStopping
from rnnkit.train.optim import Adam
from rnnkit.train.trainer import Trainer
from rnnkit.validation import check_number

__all__ = ["RNNRegressor", "RNNClassifier"]

PREDICT_BATCH = 1024  # sequences per forward pass at prediction time (bounds the memory)


def _mean_scale(a: np.ndarray, axis) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over ``axis``; a scale of (numerically) zero becomes 1."""
    mean, scale = a.mean(axis=axis), a.std(axis=axis)
    tiny = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
    return mean, np.where(scale > tiny, scale, 1.0)


def _build_model(**config) -> SequenceModel:
    """``SequenceModel(**config)``, quietly: with one layer, ``dropout`` (which acts between
    layers) has no effect, and a parameter grid may well set it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "dropout acts between layers")
        return SequenceModel(**config)


class _RNNEstimator(BaseEstimator):
    """What the regressor and the classifier share: settings, input checks, scaling, fit loop.

    The constructor only stores its arguments (scikit-learn's convention); they are checked
    in ``fit``. Learned attributes end in ``_``: ``model_`` (the SequenceModel),
    ``history_`` ({"loss": [...], "val_loss": [...], ...} per epoch), ``n_iter_`` (epochs
    run), ``n_features_in_`` (T), ``input_size_`` (F), ``x_mean_`` and ``x_scale_`` (F,).
    """

    def __init__(self, cell="lstm", hidden_size=32, num_layers=1, bidirectional=False,
                 dropout=0.0, epochs=100, batch_size=32, lr=1e-2, validation_fraction=0.1,
                 patience=10, clip_norm=1.0, random_state=None, verbose=False,
                 dtype="float32"):
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.clip_norm = clip_norm
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    # --- tags: what the estimator accepts ------------------------------------------------
    def __sklearn_tags__(self):  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"X_types": ["2darray", "3darray"]}

    # --- settings and inputs -------------------------------------------------------------
    def _check_params(self) -> None:
        if self.cell not in LAYERS:
            raise ValueError(f"cell must be one of {sorted(LAYERS)}, got {self.cell!r}")
        check_number(self.hidden_size, "hidden_size", low=0, low_open=True, integer=True)
        check_number(self.num_layers, "num_layers", low=0, low_open=True, integer=True)
        check_number(self.epochs, "epochs", low=0, low_open=True, integer=True)
        check_number(self.batch_size, "batch_size", low=0, low_open=True, integer=True)
        check_number(self.lr, "lr", low=0, low_open=True)
        check_number(self.validation_fraction, "validation_fraction", low=0, low_open=True, high=1, allow_none=True)
        check_number(self.patience, "patience", low=0, low_open=True, integer=True, allow_none=True)
        check_number(self.clip_norm, "clip_norm", low=0, low_open=True, allow_none=True)
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def _validate(self, X, y="no_validation", *, reset: bool, **y_kwargs):
        """X as float64 (n, T, F) (a 2-D X is (n, T, 1)); with y: (X, y) checked together.
        ``reset`` records T as ``n_features_in_`` (fit); otherwise T and F must match."""
        kwargs = dict(reset=reset, allow_nd=True, dtype=np.float64)
        no_y = isinstance(y, str) and y == "no_validation"  # scikit-learn's marker
        if no_y:
            X = _validate_data(self, X, **kwargs)
        else:
            X, y = _validate_data(self, X, y, **kwargs, **y_kwargs)
        if X.ndim == 2:
            X = X[:, :, None]  # (n, T) -> (n, T, 1)
        if X.ndim != 3:
            raise ValueError(f"Expected X of shape (n, T) or (n, T, F), got {X.ndim}D with "
                             f"shape {X.shape}")
        if X.shape[1] == 0 or X.shape[2] == 0:
            what = "time steps" if X.shape[1] == 0 else "features per step"
            raise ValueError(f"X has 0 {what} (shape={X.shape}); at least 1 is required")
        if reset:
            self.input_size_ = X.shape[2]
        elif X.shape[2] != self.input_size_:
            raise ValueError(f"X has {X.shape[2]} features per step, but "
                             f"{type(self).__name__} is expecting {self.input_size_} "
                             "(the last axis of X in fit)")
        return X if no_y else (X, y)

    def _scale_x(self, X: np.ndarray) -> np.ndarray:
        """(n, T, F) float64 -> standardised (n, T, F) float64."""
        return (X - self.x_mean_) / self.x_scale_

    # --- fit and forward -----------------------------------------------------------------
    def _fit_network(self, X, target, loss, output_size, metrics=None) -> None:
        """Fit the scaling of X and a fresh network on (X (n, T, F), target (n, ...))."""
        self._check_params()
        seeds = check_random_state(self.random_state).randint(0, 2**31 - 1, size=3)
        self.x_mean_, self.x_scale_ = _mean_scale(X, axis=(0, 1))  # (F,), (F,)
        x = self._scale_x(X).astype(self.dtype)  # (n, T, F)
        model = _build_model(cell=self.cell, input_size=self.input_size_,
                             hidden_size=self.hidden_size, output_size=output_size,
                             num_layers=self.num_layers, bidirectional=self.bidirectional,
                             dropout=self.dropout, head="last", dtype=self.dtype,
                             seed=int(seeds[0]))
        train, val = ArrayData(x, target), None
        n_val = 0 if self.validation_fraction is None else \
            int(round(len(x) * self.validation_fraction))
        if 1 <= n_val < len(x):  # otherwise too few samples to hold some out
            order = np.random.default_rng(int(seeds[1])).permutation(len(x))
            train, val = train.subset(order[n_val:]), train.subset(order[:n_val])
        callbacks = [] if self.patience is None else [EarlyStopping(
            "val_loss" if val is not None else "loss", patience=self.patience)]
        progress = "auto" if self.verbose else False  # bars only on a terminal
        trainer = Trainer(model, loss, Adam(model, lr=float(self.lr)), clip_norm=self.clip_norm,
                          callbacks=callbacks, metrics=metrics, progress=progress,
                          seed=int(seeds[2]))
        self.history_ = trainer.fit(train, val, epochs=self.epochs, batch_size=self.batch_size,
                                    verbose=bool(self.verbose))
        self.n_iter_ = trainer.epoch
        self.model_ = model.eval()

    def _forward(self, X) -> np.ndarray:
        """The network's outputs (n, O) for new sequences X, computed in float64 from the
        learned weights whatever ``dtype`` trained them: in float32 a sequence's output
        would change in its last digits with the batch it is predicted in."""
        check_is_fitted(self)
        x = self._scale_x(self._validate(X, reset=False))  # (n, T, F) float64
        model = self.model_
        if model.config()["dtype"] != "float64":
            model = _build_model(**{**model.config(), "dtype": "float64"})
            model.load_state_dict(self.model_.params)  # upcast copies
        model.eval()
        out = [model.forward(x[i:i + PREDICT_BATCH]) for i in range(0, len(x), PREDICT_BATCH)]
        return np.concatenate(out)  # (n, O) float64


class RNNRegressor(RegressorMixin, _RNNEstimator):
    """Sequence regression: y (n,) or (n, k) from X (n, T) or (n, T, F); ``score`` is R^2.

    Parameters (stored as given, checked in ``fit``): ``cell`` ("rnn", "lstm", "gru"),
    ``hidden_size``, ``num_layers``, ``bidirectional``, ``dropout`` (between layers),
    ``epochs`` (at most), ``batch_size``, ``lr`` (Adam), ``validation_fraction`` (None: no
    hold-out, early stopping then watches the training loss), ``patience`` (None: no early
    stopping), ``clip_norm`` (global gradient norm, None: no clipping), ``random_state``,
    ``verbose`` (one line per epoch on stderr), ``dtype`` of the network.

    Learned: those of the base, plus ``n_outputs_`` (k) and ``y_mean_``, ``y_scale_`` (k,).

    >>> reg = RNNRegressor(hidden_size=16, epochs=30, random_state=0).fit(X, y)
    >>> reg.predict(X_new)  # (n,) like y, or (n, k)
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):
        return {**super()._more_tags(), "multioutput": True}

    def fit(self, X, y):
        X, y = self._validate(X, y, reset=True, multi_output=True, y_numeric=True)
        Y = y.reshape(len(y), -1).astype(np.float64)  # (n, k)
        self._y_1d = y.ndim == 1
        self.n_outputs_ = Y.shape[1]
        self.y_mean_, self.y_scale_ = _mean_scale(Y, axis=0)  # (k,), (k,)
        target = ((Y - self.y_mean_) / self.y_scale_).astype(self.dtype)  # (n, k)
        self._fit_network(X, target, MSELoss(), self.n_outputs_)
        return self

    def predict(self, X):
        """(n,) if y was 1-D in fit, else (n, k), in float64."""
        Y = self._forward(X) * self.y_scale_ + self.y_mean_  # (n, k)
        return Y[:, 0] if self._y_1d else Y


class RNNClassifier(ClassifierMixin, _RNNEstimator):
    """Sequence classification: labels y (n,) of any kind (ints, strings, ...) from X (n, T)
    or (n, T, F); ``score`` is the accuracy.

    Labels are mapped to 0..C-1 in the order of ``classes_`` (sorted, as LabelEncoder), the
    network outputs C logits and ``predict_proba`` their softmax (rows sum to 1).
    Parameters as :class:`RNNRegressor`; ``history_`` also has "accuracy" per epoch.

    >>> clf = RNNClassifier(hidden_size=16, epochs=30, random_state=0).fit(X, labels)
    >>> clf.predict(X_new), clf.predict_proba(X_new)  # (n,) labels, (n, C)
    """

    def fit(self, X, y):
        X, y = self._validate(X, y, reset=True)
        check_classification_targets(y)
        self.classes_, target = np.unique(y, return_inverse=True)  # (C,), (n,) in 0..C-1
        self._fit_network(X, target.astype(np.int64), CrossEntropyLoss(), len(self.classes_),
                          metrics={"accuracy": _accuracy})
        return self

    def predict_proba(self, X):
        """(n, C): the softmax of the logits, columns in the order of ``classes_``."""
        return np.exp(log_softmax(self._forward(X), axis=1))  # (n, C)

    def predict(self, X):
        """(n,) labels from ``classes_``: the most probable class of each sequence."""
        logits = self._forward(X)  # (n, C)
        return self.classes_[logits.argmax(axis=1)]


def _accuracy(logits, target) -> float:
    return float(np.mean(logits.argmax(axis=-1) == target))
