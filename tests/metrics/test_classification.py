"""The confusion matrix and F1 scores against their definitions."""
import numpy as np
import pytest

from rnnkit.metrics.classification import confusion_matrix, f1_scores, macro_f1


def test_confusion_matrix_and_f1_match_their_definitions():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    y_pred[y_pred == 2] = 1  # class 2 never predicted
    cm = confusion_matrix(y_true, y_pred, 4)  # class 3 never occurs
    assert cm.sum() == 50 and cm[:, 2].sum() == 0
    f1 = []
    for k in range(4):
        tp = np.sum((y_true == k) & (y_pred == k))
        precision = tp / max(np.sum(y_pred == k), 1)
        recall = tp / max(np.sum(y_true == k), 1)
        f1.append(0.0 if tp == 0 else 2 * precision * recall / (precision + recall))
        assert cm[k].sum() == np.sum(y_true == k)
    np.testing.assert_allclose(f1_scores(cm), f1)
    assert macro_f1(cm) == pytest.approx(np.mean(f1[:3]))  # class 3 is absent
