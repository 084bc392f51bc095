"""The logistic baseline on clip statistics, kept as numbers (issue 28): fitted with scikit-learn,
saved as JSON (no pickle) and answered with NumPy, so that a run can fuse it with its RNN.

A clip x (T, E) becomes s = :func:`statistics` (x), (F,) with F = 7E; with a
:class:`StatisticsConfig` that reads more of a skeleton, each frame first gains the cosines of the
18 joint angles and/or the 190 distances between two joints (from the normalised joints, the first
60 columns of a skeleton run's features; no turn or move of the body changes either), and the
means over thirds become means over halves, thirds and quarters (``pyramid``). The model answers

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...train import checkpoint as ckpt
from .data import JOINTS
from .skeleton import joint_angles, joint_distances

LOGISTIC_FILE = "logistic.json"


@dataclass
class StatisticsConfig:
    """What the logistic reads of a clip besides its features (all off: the features alone). The
    extras are the logistic's only: the RNN and DTW read the run's features unchanged."""

    angles: bool = False  # each frame's 18 joint-angle cosines (skeleton runs)
    distances: bool = False  # each frame's 190 distances between two joints (skeleton runs)
    pyramid: bool = False  # means over halves, thirds and quarters (9 windows), not thirds alone

    @property
    def reads_joints(self) -> bool:
        return self.angles or self.distances


def statistics(x: np.ndarray, config: StatisticsConfig | None = None) -> np.ndarray:
    """(T, E) -> (F,): each feature's mean, standard deviation, minimum and maximum over the clip,
    and its mean over each third of it (the order of the movement, coarsely): F = 7E. With
    ``config``: the features first extended by :func:`frame_extras` to E' columns, and with
    ``pyramid`` the means over each half, third and quarter: F = 13E'."""
    config = config or StatisticsConfig()
    x = frame_extras(x, config)  # (T, E')
    windows = [part for n in ((2, 3, 4) if config.pyramid else (3,)) for part in _windows(x, n)]
    return np.concatenate([x.mean(axis=0), x.std(axis=0), x.min(axis=0), x.max(axis=0), *windows])


def frame_extras(x: np.ndarray, config: StatisticsConfig) -> np.ndarray:
    """(T, E) skeleton features -> (T, E + 18 angles + 190 distances, as ``config`` asks), read
    from the normalised joints, the first 3J = 60 columns (as :func:`.skeleton.features` puts them)."""
    if not config.reads_joints:
        return x
    J = len(JOINTS)
    if x.shape[1] < 3 * J:
        raise ValueError(
            f"statistics: angles and distances read a skeleton's {3 * J} joint columns, got a clip of "
            f"{x.shape[1]} features; use them on skeleton runs only (statistics.angles/distances=false)"
        )
    P = x[:, : 3 * J].reshape(len(x), J, 3).astype(np.float64)  # (T, J, 3)
    parts = [x, joint_angles(P) if config.angles else None, joint_distances(P) if config.distances else None]
    return np.concatenate([p for p in parts if p is not None], axis=1)  # (T, E')


def _windows(x: np.ndarray, n: int) -> list[np.ndarray]:
    """The means of ``x`` (T, E) over n consecutive near-equal parts, (E,) each; a clip of fewer
    than n frames repeats its last part's mean."""
    means = [part.mean(axis=0) for part in np.array_split(x, n) if len(part)]
    while len(means) < n:
        means.append(means[-1])
    return means


@dataclass
class Logistic:
    """The fitted baseline: ``mean``, ``scale`` (F,), ``coef`` (K, F) or (1, F), ``intercept``,
    ``classes`` (K,): the fitted classes' indices, of ``num_classes``; ``statistics``: what it
    reads of a clip (saved with it, so that a saved run answers as at training)."""

    mean: list[float]
    scale: list[float]
    coef: list[list[float]]
    intercept: list[float]
    classes: list[int]
    num_classes: int
    statistics: StatisticsConfig = field(default_factory=StatisticsConfig)  # older files: none

    def __post_init__(self) -> None:
        if isinstance(self.statistics, dict):  # read back from JSON
            self.statistics = StatisticsConfig(**self.statistics)

    @classmethod
    def fit(
        cls,
        clips: list[np.ndarray],
        labels: np.ndarray,
        num_classes: int,
        config: StatisticsConfig | None = None,
    ) -> Logistic:
        """Statistics of ``clips`` (each (T, E)), standardised, and a logistic regression on them."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        config = config or StatisticsConfig()
        S = np.stack([statistics(x, config) for x in clips]).astype(np.float64)  # (N, F)
        scaler = StandardScaler().fit(S)
        model = LogisticRegression(C=0.1, max_iter=5000).fit(scaler.transform(S), labels)
        return cls(
            scaler.mean_.tolist(), scaler.scale_.tolist(), model.coef_.tolist(), model.intercept_.tolist(),
            [int(k) for k in model.classes_], num_classes, config,
        )  # fmt: skip

    def probs(self, clips: list[np.ndarray]) -> np.ndarray:
        """(N, num_classes) float64: the clip probabilities of ``clips``, each (T, E)."""
        S = np.stack([statistics(x, self.statistics) for x in clips]).astype(np.float64)  # (N, F)
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
    fit: list[np.ndarray],
    labels: np.ndarray,
    clips: list[np.ndarray],
    num_classes: int,
    config: StatisticsConfig | None = None,
) -> np.ndarray:
    """The baseline fitted on ``fit`` with ``labels``; its probabilities for ``clips``, (N, num_classes)."""
    return Logistic.fit(fit, labels, num_classes, config).probs(clips)


__all__ = ["LOGISTIC_FILE", "Logistic", "StatisticsConfig", "frame_extras", "logistic_probs", "statistics"]
