"""The logistic baseline on clip statistics, kept as numbers (issue 28): fitted with scikit-learn,
saved as JSON (no pickle) and answered with NumPy, so that a run can fuse it with its RNN.

A clip x (T, E) becomes s = :func:`statistics` (x), (F,) with F = 7E; the model answers

    z = (s - mean) / scale                      (StandardScaler)
    p = softmax(W z + b)                        (LogisticRegression, multinomial; C = 0.1)

with W (K, F) and b (K,) over the K classes the fitted clips had, placed at their indices among
the run's ``num_classes`` (a class no fitted clip had gets 0). With two classes scikit-learn keeps
one row w and p = (1 - sigmoid(w z + b), sigmoid(w z + b)). Late fusion of the clip answers:

    p_fused = (1 - fusion) * p_RNN + fusion * p_logistic
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...train import checkpoint as ckpt

LOGISTIC_FILE = "logistic.json"


def statistics(x: np.ndarray) -> np.ndarray:
    """(T, E) -> (7E,): each feature's mean, standard deviation, minimum and maximum over the clip,
    and its mean over each third of it (the order of the movement, coarsely)."""
    thirds = [part.mean(axis=0) for part in np.array_split(x, 3) if len(part)]
    while len(thirds) < 3:
        thirds.append(thirds[-1])
    return np.concatenate([x.mean(axis=0), x.std(axis=0), x.min(axis=0), x.max(axis=0), *thirds])


@dataclass
class Logistic:
    """The fitted baseline: ``mean``, ``scale`` (F,), ``coef`` (K, F) or (1, F), ``intercept``,
    ``classes`` (K,): the fitted classes' indices, of ``num_classes``."""

    mean: list[float]
    scale: list[float]
    coef: list[list[float]]
    intercept: list[float]
    classes: list[int]
    num_classes: int

    @classmethod
    def fit(cls, clips: list[np.ndarray], labels: np.ndarray, num_classes: int) -> Logistic:
        """Statistics of ``clips`` (each (T, E)), standardised, and a logistic regression on them."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        S = np.stack([statistics(x) for x in clips]).astype(np.float64)  # (N, F)
        scaler = StandardScaler().fit(S)
        model = LogisticRegression(C=0.1, max_iter=5000).fit(scaler.transform(S), labels)
        return cls(
            scaler.mean_.tolist(), scaler.scale_.tolist(), model.coef_.tolist(), model.intercept_.tolist(),
            [int(k) for k in model.classes_], num_classes,
        )  # fmt: skip

    def probs(self, clips: list[np.ndarray]) -> np.ndarray:
        """(N, num_classes) float64: the clip probabilities of ``clips``, each (T, E)."""
        S = np.stack([statistics(x) for x in clips]).astype(np.float64)  # (N, F)
        z = (S - np.asarray(self.mean)) / np.asarray(self.scale)  # (N, F)
        logits = z @ np.asarray(self.coef).T + np.asarray(self.intercept)  # (N, K) or (N, 1)
        if logits.shape[1] == 1:  # two classes: one sigmoid
            logits = np.concatenate([np.zeros_like(logits), logits], axis=1)  # (N, 2)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        out = np.zeros((len(clips), self.num_classes))
        out[:, self.classes] = p / p.sum(axis=1, keepdims=True)
        return out

    def save(self, path: Path) -> None:
        ckpt.save_json(dataclasses.asdict(self), path)

    @classmethod
    def load(cls, path: Path) -> Logistic:
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ckpt.CheckpointError(f"no {path.name} in {path.parent}") from None
        except (ValueError, TypeError) as error:  # not JSON, or not the fields of a Logistic
            raise ckpt.CheckpointError(f"{path} is not a saved logistic baseline ({error})") from None


def logistic_probs(
    fit: list[np.ndarray], labels: np.ndarray, clips: list[np.ndarray], num_classes: int
) -> np.ndarray:
    """The baseline fitted on ``fit`` with ``labels``; its probabilities for ``clips``, (N, num_classes)."""
    return Logistic.fit(fit, labels, num_classes).probs(clips)


__all__ = ["LOGISTIC_FILE", "Logistic", "logistic_probs", "statistics"]
