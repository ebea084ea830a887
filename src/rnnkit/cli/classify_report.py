"""What ``rnnkit classify`` writes beside its metrics: the warnings a reader must see, the
per-epoch history and the confusion-matrix picture."""
from __future__ import annotations

import csv
import io

import numpy as np

from rnnkit.cli.common import save_figure


def honesty(train_acc, test_acc, pred, y_train, y_test, K) -> list[str]:
    """Warnings a reader must see: a model at chance, or one that predicts a single class."""
    warnings = []
    majority = np.bincount(y_test, minlength=K).max() / len(y_test)
    noise = 2 * np.sqrt(majority * (1 - majority) / len(y_test))  # two binomial std errors
    if test_acc <= majority + noise:
        warnings.append(f"test accuracy {test_acc:.3f} is within noise of always predicting "
                        f"the majority class ({majority:.3f} +- {noise:.3f}): the model is at "
                        "chance on this test set")
    if len(np.unique(pred)) == 1:
        warnings.append(f"the model predicts one class for every test example "
                        f"(class {int(pred[0])})")
    train_majority = np.bincount(y_train, minlength=K).max() / len(y_train)
    if train_acc <= train_majority + 1e-9:
        warnings.append(f"training accuracy {train_acc:.3f} is no better than the majority "
                        f"class ({train_majority:.3f}): the networks did not fit the data")
    return warnings


def history_csv(report) -> str:
    """One row per network and epoch: network, epoch, loss, accuracy (on augmented batches)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["network", "epoch", "loss", "accuracy"])
    for i, member in enumerate(report["members"]):
        h = member["history"]
        for epoch, (loss, acc) in enumerate(zip(h["loss"], h["accuracy"])):
            w.writerow([i + 1, epoch + 1, f"{loss:.6g}", f"{acc:.6g}"])
    return buf.getvalue()


def plot_confusion(cm, classes, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    K = len(classes)
    size = min(3.0 + 0.45 * K, 14.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if K <= 40:
        names = [c if len(c) <= 12 else c[:11] + "~" for c in classes]
        ax.set_xticks(range(K), names, rotation=90 if K > 6 else 0)
        ax.set_yticks(range(K), names)
    if K <= 20:
        for i, j in np.ndindex(cm.shape):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    save_figure(fig, path)
    plt.close(fig)
