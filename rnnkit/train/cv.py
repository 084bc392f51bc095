"""Splits for evaluation (stratified, by group, or given), made once, seeded, and recorded as JSON.

A figure from cross-validation compares models only when every model (and every baseline) is
scored on the same folds. :func:`stratified_kfold` makes K folds (scikit-learn's
``StratifiedKFold``: each fold's test part holds each class in about its share of the whole);
:func:`stratified_holdout` one train/test split (``train_test_split`` with ``stratify``). In both,
each training part gives up a stratified ``validation_share`` for choosing the best epoch, so the
test part is never looked at before the final score. Where people are the unit (speakers,
subjects), :func:`leave_one_group_out` tests each group once and :func:`fixed_split` takes a
dataset's own test part; both draw validation from whole training groups. :meth:`Splits.save`
writes the indices (``splits.json`` in a run directory), :meth:`Splits.load` reads them back and
checks them; a baseline reads the same file and uses the same indices.

The format, one object::

    {"kind": "stratified-kfold", "seed": 0, "n": 3190, "source": "sha256:...",
     "splits": [{"train": [...], "validation": [...], "test": [...]}, ...],
     "names": ["speaker jackson", ...]}   (optional: what each split tests)

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
FIXED, LOGO = "fixed", "leave-one-group-out"  # a given test part; each group tested once


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
    names: list[str] | None = None  # what each split tests, e.g. "speaker jackson" (None: unnamed)

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
        if self.names is not None:
            record["names"] = list(self.names)
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
                None if record.get("names") is None else [str(name) for name in record["names"]],
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

    def name(self, fold: int) -> str:
        """What split ``fold`` (0-based) tests: its recorded name, else ``fold N`` (1-based)."""
        return self.names[fold] if self.names is not None else f"fold {fold + 1}"

    def only(self, fold: int) -> Splits:
        """The splits of one fold's own run: split ``fold`` (0-based) alone, the rest as recorded."""
        names = None if self.names is None else [self.names[fold]]
        return Splits(self.kind, self.seed, self.n, self.source, [self.splits[fold]], names)

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


def fixed_split(
    test: Sequence[int] | np.ndarray,
    n: int,
    labels: Sequence[int] | np.ndarray | None = None,
    groups: Sequence[object] | np.ndarray | None = None,
    seed: int = 0,
    validation_share: float = 0.1,
    source: str = "",
    name: str | None = None,
) -> Splits:
    """A split whose test part is given (a dataset's own split: FSDD's recordings 0-4, the even
    subjects of a cross-subject protocol): the other items train, less a ``validation_share`` for
    choosing the best epoch: whole groups (speakers, subjects) when ``groups`` is given, so that
    validation meets people training never saw as test does; else stratified by ``labels``; else at
    random."""
    test = np.unique(np.asarray(test, dtype=np.int64))
    if len(test) == 0 or len(test) >= n or test.min() < 0 or test.max() >= n:
        raise ConfigError(
            f"the test part must hold 1..{n - 1} distinct indices in 0..{n - 1}, got {len(test)}"
        )
    rest = np.setdiff1d(np.arange(n), test)
    split = _validation_part(rest, test, labels, groups, validation_share, seed)
    return Splits(FIXED, seed, n, source, [split], None if name is None else [name])


def leave_one_group_out(
    groups: Sequence[object] | np.ndarray,
    labels: Sequence[int] | np.ndarray | None = None,
    seed: int = 0,
    validation_share: float = 0.1,
    source: str = "",
) -> Splits:
    """One split per group (a speaker, a subject), in sorted order: it tests on that group's items
    and trains on every other group's, less a ``validation_share`` of them (whole groups when there
    are at least three others, else stratified by ``labels``) for choosing the best epoch. The
    speaker-independent figure: no test speaker is ever heard in training. ``names``: the groups."""
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise ConfigError(f"groups must be one per item (1-D), got shape {groups.shape}")
    distinct = np.unique(groups)
    if len(distinct) < 2:
        raise ConfigError(f"leave-one-group-out needs at least two groups, got {len(distinct)}")
    splits = []
    for fold, group in enumerate(distinct):
        test = np.flatnonzero(groups == group)
        rest = np.flatnonzero(groups != group)
        by_group = groups if len(distinct) > 3 else None
        splits.append(_validation_part(rest, test, labels, by_group, validation_share, seed + fold))
    return Splits(LOGO, seed, len(groups), source, splits, [str(group) for group in distinct])


def _validation_part(
    rest: np.ndarray,
    test: np.ndarray,
    labels: Sequence[int] | np.ndarray | None,
    groups: Sequence[object] | np.ndarray | None,
    share: float,
    seed: int,
) -> Split:
    """``rest`` less a validation part: whole groups (at least one, about ``share`` of the items),
    or stratified by labels, or at random."""
    if not 0 <= share < 1:
        raise ConfigError(f"validation_share must be in [0, 1), got {share}")
    test = np.sort(test)
    if share == 0:
        return Split(np.sort(rest), np.zeros(0, dtype=np.int64), test)
    if groups is not None:
        groups = np.asarray(groups)
        distinct = np.unique(groups[rest])
        if len(distinct) < 2:
            raise ConfigError("a validation part by group needs at least two training groups")
        order = np.random.default_rng(seed).permutation(distinct)
        chosen, size = [], 0
        for group in order[:-1]:  # at least one group always trains
            chosen.append(group)
            size += int((groups[rest] == group).sum())
            if size >= share * len(rest):
                break
        held = np.isin(groups[rest], chosen)
        return Split(np.sort(rest[~held]), np.sort(rest[held]), test)
    if labels is not None:
        return _with_validation(rest, test, np.asarray(labels), share, seed)
    size = max(1, math.ceil(share * len(rest)))
    shuffled = np.random.default_rng(seed).permutation(rest)
    return Split(np.sort(shuffled[size:]), np.sort(shuffled[:size]), test)


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


__all__ = [
    "FIXED",
    "HOLDOUT",
    "KFOLD",
    "LOGO",
    "Split",
    "Splits",
    "fixed_split",
    "leave_one_group_out",
    "mean_sd",
    "stratified_holdout",
    "stratified_kfold",
]
