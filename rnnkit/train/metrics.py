"""Classification scores from predicted probabilities: what every classifying task reports.

For N items, C classes, ``probs`` (N, C) (each row a distribution) and true ``labels`` (N,)::

    accuracy    = (1/N) sum_i [argmax_c probs[i, c] == labels[i]]
    loss        = -(1/N) sum_i log probs[i, labels[i]]        (the mean cross-entropy)
    confusion   [a, b] = #{i : labels[i] = a, argmax probs[i] = b}   (rows: truth, columns: said)
    precision_c = confusion[c, c] / sum_a confusion[a, c],  recall_c = confusion[c, c] / sum_b confusion[c, b]
    F1_c        = 2 precision_c recall_c / (precision_c + recall_c)   (0 where undefined)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def classification_scores(probs: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, the mean cross-entropy, the confusion matrix (in ``classes``' order) and each
    class's precision, recall, F1 and support."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    C = len(classes)
    if probs.ndim != 2 or probs.shape[1] != C or len(labels) != len(probs):
        raise ValueError(
            f"probs must be (N, {C}) beside N labels, got probs {probs.shape} and {len(labels)} labels"
        )
    predicted = probs.argmax(axis=1)  # (N,)
    confusion = np.zeros((C, C), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = {}
    for c, name in enumerate(classes):
        hits, said, real = confusion[c, c], confusion[:, c].sum(), confusion[c].sum()
        precision = hits / said if said else 0.0
        recall = hits / real if real else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(real),
        }
    chosen = probs[np.arange(len(labels)), labels]  # (N,)
    return {
        "accuracy": float((predicted == labels).mean()) if len(labels) else 0.0,
        "loss": float(-np.log(np.clip(chosen, 1e-12, None)).mean()) if len(labels) else 0.0,
        "confusion": confusion.tolist(),
        "per_class": per_class,
    }


__all__ = ["classification_scores"]
