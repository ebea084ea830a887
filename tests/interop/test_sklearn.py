"""scikit-learn estimators: sklearn's estimator checks, 2-D and 3-D sequences, Pipeline,
GridSearchCV, clone, pickling, reproducibility, scaling, and models that learn something real."""
import importlib
import pickle
import re
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from rnnkit.interop.sklearn import RNNClassifier, RNNRegressor  # noqa: E402

SMALL = dict(hidden_size=16, epochs=30, lr=0.01)  # seconds per fit, not minutes


def sequences(n, T=10, F=None, seed=0):
    """Standard normal sequences: (n, T), or (n, T, F) when F is given."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, T) if F is None else (n, T, F))


# --- scikit-learn's own estimator checks ---------------------------------------------------
# Small networks so the ~110 checks run in seconds. The regressor's checks run without early
# stopping: check_regressors_train asks for a training R^2 > 0.5 on 180 noisy samples whose
# 10 "steps" hold one informative value, and there the validation loss first rises, so
# patience=10 stops at about epoch 11, before the network has fitted anything.
@parametrize_with_checks([
    RNNClassifier(**SMALL, random_state=0),
    RNNRegressor(hidden_size=16, epochs=50, lr=0.01, patience=None, random_state=0),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --- the optional extra --------------------------------------------------------------------
def test_missing_sklearn_names_the_install_command(monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)  # None: "import sklearn..." fails
    monkeypatch.delitem(sys.modules, "rnnkit.interop.sklearn")
    with pytest.raises(ImportError, match=re.escape("pip install 'rnnkit[sklearn]'")):
        importlib.import_module("rnnkit.interop.sklearn")


# --- learning something real ---------------------------------------------------------------
def test_classifier_learns_the_sign_of_the_mean_with_string_labels():
    X, X_test = sequences(400, seed=0), sequences(200, seed=1)  # (n, T) univariate
    label = lambda x: np.where(x.mean(axis=1) > 0, "up", "down")  # noqa: E731
    clf = RNNClassifier(**SMALL, random_state=0).fit(X, label(X))
    assert list(clf.classes_) == ["down", "up"]
    assert clf.score(X_test, label(X_test)) > 0.9
    proba = clf.predict_proba(X_test)  # (n, 2)
    assert proba.shape == (200, 2) and np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X_test), clf.classes_[proba.argmax(axis=1)])
    assert clf.n_iter_ == len(clf.history_["loss"]) <= clf.epochs
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(clf.history_)


def test_regressor_learns_the_sum_of_a_sequence():
    X, X_test = sequences(400, seed=0), sequences(200, seed=1)
    reg = RNNRegressor(**SMALL, random_state=0).fit(X, X.sum(axis=1))
    pred = reg.predict(X_test)
    assert pred.shape == (200,) and pred.dtype == np.float64
    assert reg.score(X_test, X_test.sum(axis=1)) > 0.9


def test_multivariate_sequences_and_multi_output_targets():
    """X (n, T, F=2), y (n, 2): the sum of each feature over time."""
    X, X_test = sequences(400, F=2, seed=0), sequences(200, F=2, seed=1)
    reg = RNNRegressor(**SMALL, random_state=0).fit(X, X.sum(axis=1))
    assert (reg.n_features_in_, reg.input_size_, reg.n_outputs_) == (10, 2, 2)
    pred = reg.predict(X_test)  # (n, 2)
    assert pred.shape == (200, 2)
    assert r2_score(X_test.sum(axis=1), pred, multioutput="raw_values").min() > 0.9


def test_classifier_with_integer_labels_on_3d_input():
    X, X_test = sequences(300, T=8, F=3, seed=0), sequences(100, T=8, F=3, seed=1)
    label = lambda x: np.where(x[:, :, 0].mean(axis=1) > x[:, :, 1].mean(axis=1), 7, 3)  # noqa
    clf = RNNClassifier(**SMALL, random_state=0).fit(X, label(X))
    np.testing.assert_array_equal(clf.classes_, [3, 7])
    assert clf.predict(X_test).dtype == clf.classes_.dtype
    assert clf.score(X_test, label(X_test)) > 0.9


# --- inputs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make_bad, message", [
    (lambda X: X[:, :5], "X has 5 features, but RNNRegressor is expecting 6"),  # other T
    (lambda X: X[:, :, :1], "X has 1 features per step, but RNNRegressor is expecting 2"),
    (lambda X: X[..., None], "Expected X of shape \\(n, T\\) or \\(n, T, F\\), got 4D"),
    (lambda X: X[:, :, :0], "0 features per step"),
])
def test_predict_rejects_sequences_of_another_shape(make_bad, message):
    X = sequences(20, T=6, F=2)
    reg = RNNRegressor(hidden_size=4, epochs=2, random_state=0).fit(X, X[:, -1, 0])
    with pytest.raises(ValueError, match=message):
        reg.predict(make_bad(X))


def test_fit_rejects_4d_or_empty_sequences_and_unfitted_predict_raises():
    X, y = sequences(20, T=6, F=2), np.arange(20) % 2
    with pytest.raises(ValueError, match="got 4D"):
        RNNClassifier(epochs=1).fit(X[..., None], y)
    with pytest.raises(ValueError, match="0 time steps"):
        RNNClassifier(epochs=1).fit(X[:, :0], y)
    with pytest.raises(NotFittedError):
        RNNClassifier().predict_proba(X)


@pytest.mark.parametrize("param, value", [
    ("cell", "transformer"), ("hidden_size", 0), ("epochs", 2.5), ("batch_size", -1),
    ("lr", 0), ("validation_fraction", 1.0), ("patience", 0), ("clip_norm", -1.0),
    ("dtype", "float16"),
])
def test_bad_settings_are_reported_by_fit(param, value):
    X = sequences(20, T=4)
    est = RNNRegressor(**{param: value})  # the constructor only stores
    assert est.get_params()[param] == value
    with pytest.raises(ValueError, match=param):
        est.fit(X, X.sum(axis=1))


# --- scaling --------------------------------------------------------------------------------
def test_standardisation_makes_fits_invariant_to_units():
    """Features standardised over samples and steps, targets per output: refitting on
    x * a_f + b_f and y * c + d gives the same network, predictions mapped to the new y."""
    X = sequences(60, T=5, F=2)
    y = X.sum(axis=(1, 2))
    a, b, c, d = np.array([100.0, 0.01]), np.array([-3.0, 7.0]), 1e3, 5.0
    kw = dict(hidden_size=8, epochs=5, dtype="float64", random_state=0)
    reg = RNNRegressor(**kw).fit(X, y)
    reg_units = RNNRegressor(**kw).fit(X * a + b, y * c + d)
    np.testing.assert_allclose(reg.x_mean_, X.mean(axis=(0, 1)))
    np.testing.assert_allclose(reg_units.x_scale_, X.std(axis=(0, 1)) * a)
    np.testing.assert_allclose(reg_units.predict(X * a + b), reg.predict(X) * c + d, rtol=1e-6)


def test_constant_feature_and_constant_target():
    """A zero scale becomes 1 (no division by zero); the network then learns to output the
    scaled target 0, so the predictions approach the constant."""
    X = sequences(30, T=4, F=2)
    X[:, :, 1] = 5.0
    y = np.full(30, 2.0)
    fit = lambda epochs: RNNRegressor(  # noqa: E731
        hidden_size=4, epochs=epochs, batch_size=8, lr=0.05, patience=None,
        validation_fraction=None, random_state=0).fit(X, y)
    short, long = fit(3), fit(30)
    assert long.x_scale_[1] == 1.0 and long.y_scale_[0] == 1.0
    assert long.history_["loss"][-1] < short.history_["loss"][-1]
    assert np.abs(long.predict(X) - y).max() < np.abs(short.predict(X) - y).max() / 10


# --- the scikit-learn API -------------------------------------------------------------------
def test_same_random_state_gives_identical_predictions():
    X = sequences(80, T=6)
    y = X.mean(axis=1) > 0
    fit = lambda seed: RNNClassifier(hidden_size=8, epochs=5, dropout=0.0,  # noqa: E731
                                     random_state=seed).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(fit(3), fit(3))
    assert not np.array_equal(fit(3), fit(4))


def test_clone_and_get_set_params_round_trip():
    est = RNNRegressor(cell="gru", hidden_size=12, bidirectional=True, validation_fraction=None,
                       random_state=5)
    params = est.get_params()
    assert params["cell"] == "gru" and params["validation_fraction"] is None
    assert RNNRegressor().set_params(**params).get_params() == params
    X = sequences(20, T=4)
    est.set_params(epochs=2).fit(X, X.sum(axis=1))
    copy = clone(est)
    assert copy.get_params() == est.get_params() and not hasattr(copy, "model_")
    assert "val_loss" not in est.history_  # validation_fraction=None: no hold-out


def test_pipeline_with_a_function_transformer():
    """The cumulative sum over time turns "sum of the sequence" into "last step"."""
    X, X_test = sequences(300, seed=0), sequences(100, seed=1)
    cumsum = FunctionTransformer(np.cumsum, kw_args={"axis": 1})
    pipe = make_pipeline(cumsum, RNNRegressor(**SMALL, random_state=0))
    pipe.fit(X, X.sum(axis=1))
    assert pipe.score(X_test, X_test.sum(axis=1)) > 0.9
    pipe.set_params(rnnregressor__hidden_size=4)
    assert clone(pipe).get_params()["rnnregressor__hidden_size"] == 4


def test_grid_search_over_hidden_size():
    X = sequences(120, T=6, F=2)
    y = np.where(X[:, :, 0].sum(axis=1) > 0, "a", "b")
    grid = GridSearchCV(RNNClassifier(epochs=10, lr=0.02, random_state=0),
                        {"hidden_size": [2, 8]}, cv=2)
    grid.fit(X, y)
    assert grid.best_params_["hidden_size"] in (2, 8)
    assert len(grid.cv_results_["mean_test_score"]) == 2
    assert grid.best_estimator_.model_.rnn.hidden_size == grid.best_params_["hidden_size"]
    assert grid.score(X, y) == grid.best_estimator_.score(X, y)


def test_pickle_round_trip_of_a_fitted_3d_estimator():
    X = sequences(40, T=5, F=3)
    clf = RNNClassifier(cell="rnn", num_layers=2, dropout=0.2, hidden_size=6, epochs=3,
                        random_state=0).fit(X, X[:, -1, 0] > 0)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert back.get_params() == clf.get_params()
    assert hasattr(clf.model_, "forward")  # pickling left the original intact
