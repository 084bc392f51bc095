"""Length-bucketed batches of variable-length token sequences.

Random batches of IMDB reviews are ~80% padding (one long review sets the batch's length).
Bucketing shuffles, then sorts by length within pools of ``pool`` batches, cuts the pools into
batches, and shuffles the batches: each batch holds reviews of similar length, the order still
changes every epoch, and exact masking makes the remaining padding harmless.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass
class Batch:
    tokens: Tensor  # (B, T) int64, right-padded with 0
    lengths: Tensor  # (B,) int64
    labels: Tensor  # (B,) float32
    indices: np.ndarray  # (B,) positions in the dataset, for predictions in order

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.tokens.to(device), self.lengths.to(device), self.labels.to(device), self.indices)


class SequenceDataset:
    """Token id sequences with one label each; ``max_len`` truncates (keeping the first tokens)."""

    def __init__(self, sequences: Sequence[Sequence[int]], labels: Sequence[float], max_len: int) -> None:
        if len(sequences) != len(labels):
            raise ValueError(f"got {len(sequences)} sequences but {len(labels)} labels")
        self.sequences = [np.asarray(s[:max_len] if len(s) else [0], dtype=np.int64) for s in sequences]
        self.labels = np.asarray(labels, dtype=np.float32)
        self.lengths = np.array([len(s) for s in self.sequences], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.sequences)

    def collate(self, indices: np.ndarray) -> Batch:
        lengths = self.lengths[indices]
        tokens = np.zeros((len(indices), int(lengths.max())), dtype=np.int64)  # (B, T)
        for row, i in enumerate(indices):
            tokens[row, : lengths[row]] = self.sequences[i]
        return Batch(
            torch.from_numpy(tokens),
            torch.from_numpy(lengths),
            torch.from_numpy(self.labels[indices]),
            indices,
        )

    def batches(
        self, batch_size: int, shuffle: bool = False, seed: int = 0, pool: int = 50
    ) -> Iterator[Batch]:
        for indices in bucket_indices(self.lengths, batch_size, shuffle, seed, pool):
            yield self.collate(indices)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def real_tokens(self) -> int:
        return int(self.lengths.sum())


def bucket_indices(
    lengths: np.ndarray, batch_size: int, shuffle: bool, seed: int = 0, pool: int = 50
) -> list[np.ndarray]:
    """Batches of indices with similar lengths. ``shuffle=False``: sorted by length (evaluation)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(lengths)
    if not shuffle:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    span = batch_size * pool
    batches = []
    for start in range(0, n, span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
