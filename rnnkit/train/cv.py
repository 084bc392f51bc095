"""Stratified splits for evaluation, made once, seeded, and recorded as JSON.

A figure from cross-validation compares models only when every model (and every baseline) is
scored on the same folds. :func:`stratified_kfold` makes K folds (scikit-learn's
``StratifiedKFold``: each fold's test part holds each class in about its share of the whole);
:func:`stratified_holdout` one train/test split (``train_test_split`` with ``stratify``). In both,
each training part gives up a stratified ``validation_share`` for choosing the best epoch, so the
test part is never looked at before the final score. :meth:`Splits.save` writes the indices
(``splits.json`` in a run directory), :meth:`Splits.load` reads them back and checks them; a
baseline reads the same file and uses the same indices.

The format, one object::

    {"kind": "stratified-kfold", "seed": 0, "n": 3190, "source": "sha256:...",
     "splits": [{"train": [...], "validation": [...], "test": [...]}, ...]}

``source`` identifies the data the indices point into (a task gives a hash of its file), so that a
split is never applied to other data by mistake.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from . import checkpoint as ckpt
from .checkpoint import CheckpointError

HOLDOUT, KFOLD = "holdout", "stratified-kfold"


@dataclass(frozen=True)
class Split:
    """Indices into the data: what trains, what chooses the best epoch, what scores. Disjoint, sorted."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


@dataclass
class Splits:
    kind: str  # HOLDOUT or KFOLD
    seed: int
    n: int  # the number of items the indices point into
    source: str  # what the data was (a hash of its file)
    splits: list[Split]

    def __len__(self) -> int:
        return len(self.splits)

    def __getitem__(self, fold: int) -> Split:
        return self.splits[fold]

    def save(self, path: str | Path) -> None:
        record = {
            "kind": self.kind,
            "seed": self.seed,
            "n": self.n,
            "source": self.source,
            "splits": [
                {name: getattr(s, name).tolist() for name in ("train", "validation", "test")}
                for s in self.splits
            ],
        }
        ckpt.atomic_write(Path(path), json.dumps(record).encode())

    @classmethod
    def load(cls, path: str | Path) -> Splits:
        """The splits saved at ``path``, checked (disjoint parts, indices within ``n``); a damaged
        file is a :class:`~rnnkit.train.CheckpointError` naming it."""
        path = Path(path)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            splits = cls(
                record["kind"],
                int(record["seed"]),
                int(record["n"]),
                str(record["source"]),
                [
                    Split(*(np.asarray(s[name], dtype=np.int64) for name in ("train", "validation", "test")))
                    for s in record["splits"]
                ],
            )
        except FileNotFoundError:
            raise CheckpointError(f"no {path.name} in {path.parent}") from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"{path} is damaged ({type(error).__name__}: {error})") from None
        for fold, split in enumerate(splits.splits, 1):
            parts = np.concatenate([split.train, split.validation, split.test])
            if len(np.unique(parts)) != len(parts) or (
                len(parts) and not 0 <= parts.min() <= parts.max() < splits.n
            ):
                raise CheckpointError(
                    f"{path}: split {fold} has overlapping parts or indices outside 0..{splits.n - 1}"
                )
        return splits

    def check_source(self, n: int, source: str, where: str | Path) -> None:
        """Refuse data other than the data these splits were made on (their indices would point
        into other items)."""
        if (self.n, self.source) != (n, source):
            raise CheckpointError(
                f"{where} was made on other data ({self.n} items, {self.source}) than the data given "
                f"now ({n} items, {source}); pass the data the run was trained on"
            )


def stratified_kfold(
    labels: Sequence[int] | np.ndarray, k: int, seed: int = 0, validation_share: float = 0.1, source: str = ""
) -> Splits:
    """``k`` folds: fold i tests on its part (each item is tested exactly once) and trains on the
    others, less a stratified ``validation_share`` of them for choosing the best epoch."""
    from sklearn.model_selection import StratifiedKFold

    labels = _check(labels, k, validation_share)
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    splits = [
        _with_validation(rest, np.sort(test), labels, validation_share, seed + fold)
        for fold, (rest, test) in enumerate(folds.split(np.zeros(len(labels)), labels))
    ]
    return Splits(KFOLD, seed, len(labels), source, splits)


def stratified_holdout(
    labels: Sequence[int] | np.ndarray,
    test_size: int,
    seed: int = 0,
    validation_share: float = 0.1,
    source: str = "",
) -> Splits:
    """One split: ``test_size`` items to test on, stratified; the rest trains, less a stratified
    ``validation_share`` for choosing the best epoch."""
    from sklearn.model_selection import train_test_split

    labels = _check(labels, 2, validation_share)
    if not 0 < test_size < len(labels):
        raise ConfigError(
            f"test_size must be in 1..{len(labels) - 1} for {len(labels)} items, got {test_size}"
        )
    everything = np.arange(len(labels))
    rest, test = train_test_split(everything, test_size=test_size, stratify=labels, random_state=seed)
    return Splits(
        HOLDOUT,
        seed,
        len(labels),
        source,
        [_with_validation(rest, np.sort(test), labels, validation_share, seed)],
    )


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (n - 1 in the denominator; 0 for one value)."""
    values = np.asarray(values, dtype=np.float64)
    sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return float(values.mean()), sd


def _with_validation(
    rest: np.ndarray, test: np.ndarray, labels: np.ndarray, share: float, seed: int
) -> Split:
    from sklearn.model_selection import train_test_split

    if share == 0:
        return Split(np.sort(rest), np.zeros(0, dtype=np.int64), test)
    size = max(math.ceil(share * len(rest)), len(np.unique(labels[rest])))  # at least one of each class
    train, validation = train_test_split(rest, test_size=size, stratify=labels[rest], random_state=seed)
    return Split(np.sort(train), np.sort(validation), test)


def _check(labels: Sequence[int] | np.ndarray, k: int, validation_share: float) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ConfigError(f"labels must be one per item (1-D), got shape {labels.shape}")
    if not isinstance(k, int) or k < 2:
        raise ConfigError(f"the number of folds must be an int >= 2, got {k!r}")
    if not 0 <= validation_share < 1:
        raise ConfigError(f"validation_share must be in [0, 1), got {validation_share}")
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ConfigError(f"stratified splits need at least two classes, got {len(classes)}")
    fewest = int(counts.min())
    if fewest < k:
        raise ConfigError(
            f"class {classes[counts.argmin()].item()!r} has {fewest} items, fewer than the {k} folds; "
            "every fold must hold each class: use fewer folds or more data"
        )
    return labels


__all__ = ["HOLDOUT", "KFOLD", "Split", "Splits", "mean_sd", "stratified_holdout", "stratified_kfold"]
