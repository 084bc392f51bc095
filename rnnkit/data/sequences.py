"""Float feature sequences ``(T, E)`` with a label per sequence, per step, a target sequence, or none.

The one dataset of the sequence-classification core (:mod:`rnnkit.models.sequence`): DNA bases
(one-hot, with IUPAC codes as mixtures), skeleton joints per frame and audio frames are all ``(T,
E)`` arrays once a task's adapter has read them. What a sequence is labelled with decides the head
that reads it:

- ``labels``: one class per sequence (the ``clip`` head, many-to-one): a splice junction's class,
  a clip's action, an isolated word;
- ``step_labels``: one class per step (the ``frame`` head, synced many-to-many): each frame's action;
- ``targets``: a sequence of symbols of its own length (the ``ctc`` head): a transcript;
- none of them: sequences to predict.

:meth:`FeatureSequences.collate` pads a batch to ``(B, T, E)`` with zeros and gives the lengths,
which the recurrent layers read for exact masking; per-step labels are padded with ``-100``
(:data:`IGNORE`, ``torch.nn.functional.cross_entropy``'s ``ignore_index``), targets with 0 beside
their lengths (``torch.nn.CTCLoss`` reads only the first ``target_lengths[b]`` of row b).
The batches come from :class:`~rnnkit.data.batching.Bucketed`: shuffled buckets of similar
lengths for training, sorted within a token budget for inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .batching import Bucketed

IGNORE = -100  # per-step labels at padded steps: cross_entropy's default ignore_index


@dataclass
class SequenceBatch:
    features: Tensor  # (B, T, E) float, right-padded with zeros
    lengths: Tensor  # (B,) int64, on the CPU (the layers' bookkeeping stays there)
    indices: np.ndarray  # (B,) positions in the dataset, for answers in order
    labels: Tensor | None = None  # (B,) int64 per sequence, or (B, T) int64 per step padded with IGNORE
    targets: Tensor | None = None  # (B, S) int64 symbol ids, right-padded with 0 (CTC)
    target_lengths: Tensor | None = None  # (B,) int64

    def to(self, device: torch.device | str) -> SequenceBatch:
        """The batch on ``device``, but for ``lengths`` (and ``target_lengths``), kept on the CPU."""

        def move(tensor: Tensor | None) -> Tensor | None:
            return None if tensor is None else tensor.to(device)

        return SequenceBatch(
            self.features.to(device),
            self.lengths,
            self.indices,
            move(self.labels),
            move(self.targets),
            self.target_lengths,
        )


class FeatureSequences(Bucketed):
    """Sequences of feature vectors, each ``(T_i, E)`` with ``T_i >= 1`` and one ``E`` for all.

    At most one of ``labels`` (an int per sequence), ``step_labels`` (an int array of ``T_i`` per
    sequence) and ``targets`` (an int array per sequence, of any length) may be given; none for
    prediction. ``dtype``: the features' float type (float64 for the tests that compare numbers)."""

    def __init__(
        self,
        features: Sequence[np.ndarray],
        labels: Sequence[int] | np.ndarray | None = None,
        step_labels: Sequence[np.ndarray] | None = None,
        targets: Sequence[np.ndarray] | None = None,
        dtype: type = np.float32,
    ) -> None:
        kinds = {"labels": labels, "step_labels": step_labels, "targets": targets}
        given = [name for name, value in kinds.items() if value is not None]
        if len(given) > 1:
            raise ValueError(
                f"give at most one of labels, step_labels and targets, got {' and '.join(given)}"
            )
        self.features = [np.asarray(x, dtype=dtype) for x in features]
        self.feature_size = _check_features(self.features)
        self.lengths = np.array([len(x) for x in self.features], dtype=np.int64)
        n = len(self.features)
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        if self.labels is not None and self.labels.shape != (n,):
            raise ValueError(f"labels must hold one int per sequence ({n}), got shape {self.labels.shape}")
        self.step_labels = None if step_labels is None else [np.asarray(y, np.int64) for y in step_labels]
        if self.step_labels is not None:
            _check_same_count(self.step_labels, n, "step_labels")
            for i, (x, y) in enumerate(zip(self.features, self.step_labels)):
                if y.shape != (len(x),):
                    raise ValueError(f"step_labels[{i}] must hold one int per step ({len(x)}), got {y.shape}")
        self.targets = None if targets is None else [np.asarray(y, np.int64) for y in targets]
        if self.targets is not None:
            _check_same_count(self.targets, n, "targets")
            for i, y in enumerate(self.targets):
                if y.ndim != 1 or len(y) < 1:
                    raise ValueError(f"targets[{i}] must be a non-empty 1-D int array, got shape {y.shape}")

    def __len__(self) -> int:
        return len(self.features)

    def subset(self, indices: Sequence[int] | np.ndarray) -> FeatureSequences:
        """The sequences at ``indices``, with their labels (a fold's training part, say)."""
        indices = np.asarray(indices, dtype=np.int64)
        subset = object.__new__(FeatureSequences)
        subset.features = [self.features[i] for i in indices]
        subset.feature_size = self.feature_size
        subset.lengths = self.lengths[indices]
        subset.labels = None if self.labels is None else self.labels[indices]
        subset.step_labels = None if self.step_labels is None else [self.step_labels[i] for i in indices]
        subset.targets = None if self.targets is None else [self.targets[i] for i in indices]
        return subset

    def collate(self, indices: np.ndarray) -> SequenceBatch:
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.lengths[indices]  # (B,)
        B, T, E = len(indices), int(lengths.max()), self.feature_size
        dtype = self.features[0].dtype
        features = np.zeros((B, T, E), dtype=dtype)  # (B, T, E)
        for row, i in enumerate(indices):
            features[row, : lengths[row]] = self.features[i]
        batch = SequenceBatch(torch.from_numpy(features), torch.from_numpy(lengths), indices)
        if self.labels is not None:
            batch.labels = torch.from_numpy(self.labels[indices])  # (B,)
        elif self.step_labels is not None:
            labels = np.full((B, T), IGNORE, dtype=np.int64)  # (B, T)
            for row, i in enumerate(indices):
                labels[row, : lengths[row]] = self.step_labels[i]
            batch.labels = torch.from_numpy(labels)
        elif self.targets is not None:
            target_lengths = np.array([len(self.targets[i]) for i in indices], dtype=np.int64)  # (B,)
            targets = np.zeros((B, int(target_lengths.max())), dtype=np.int64)  # (B, S)
            for row, i in enumerate(indices):
                targets[row, : target_lengths[row]] = self.targets[i]
            batch.targets, batch.target_lengths = torch.from_numpy(targets), torch.from_numpy(target_lengths)
        return batch


def _check_features(features: list[np.ndarray]) -> int:
    """The feature size E shared by every ``(T, E)`` array, after refusing any other shape."""
    if not features:
        raise ValueError("got no sequences; give at least one (T, E) array")
    size = features[0].shape[-1] if features[0].ndim == 2 else None
    for i, x in enumerate(features):
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != size:
            expected = f"(T, {size})" if size is not None else "(T, E)"
            raise ValueError(f"features[{i}] must be a {expected} array with T >= 1, got shape {x.shape}")
    return int(size)


def _check_same_count(items: list, n: int, name: str) -> None:
    if len(items) != n:
        raise ValueError(f"got {n} sequences but {len(items)} {name}")


__all__ = ["IGNORE", "FeatureSequences", "SequenceBatch"]
