"""Classification scores from integer labels: the confusion matrix, per-class and macro F1,
as scikit-learn's ``confusion_matrix`` and ``f1_score(average="macro")`` define them."""
from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes):
    """cm[i, j] = number of examples of class i predicted as class j; (K, K) int64."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def f1_scores(cm):
    """Per-class F1 = 2 TP / (2 TP + FP + FN), from a confusion matrix (K, K); 0 when a class
    is neither present nor predicted."""
    tp = np.diag(cm).astype(np.float64)  # (K,)
    denom = cm.sum(axis=0) + cm.sum(axis=1)  # (K,) = 2 TP + FP + FN
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def macro_f1(cm):
    """Mean F1 over the classes that occur among the labels or predictions."""
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    return float(f1_scores(cm)[present].mean())
