"""Length-bucketed batches of variable-length token sequences.

Random batches of IMDB reviews are mostly padding: one long review sets the batch's length (the
shares of real tokens are in docs/RESULTS.md). Bucketing shuffles, then sorts by length within pools
of ``pool`` batches, cuts the pools into batches, and shuffles the batches: each batch holds reviews
of similar length, the order still changes every epoch, and exact masking makes the remaining
padding harmless.

For evaluation and prediction (``shuffle=False``) the whole set is sorted by length, and a
``token_budget`` caps each batch's padded size ``B * T`` as well as its count ``B``: long reviews
come in smaller batches, so memory stays bounded: no batch's padded size exceeds the budget. With
a fixed count the batches of the longest IMDB reviews were many times the size of the rest, and
growing the heap for them cost most of a prediction's page faults (docs/core.md).

Under ``torchrun`` (:mod:`rnnkit.train.distributed`) every process draws the same *global* batches,
in the same order, as a single process would, and collates only its :class:`Shard` of each: rows
dealt so that the processes hold about as many real tokens each. A dataset's ``batches(...,
shard=...)`` then yields a :class:`Share` per global batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

T = TypeVar("T")  # one answer of a predictor


@dataclass
class Batch:
    tokens: Tensor  # (B, T) int64, right-padded with 0
    lengths: Tensor  # (B,) int64
    labels: Tensor  # (B,) float32
    indices: np.ndarray  # (B,) positions in the dataset, for predictions in order

    def to(self, device: torch.device | str) -> Batch:
        """The batch on ``device``, but for ``lengths``, which stay on the CPU: the layers keep
        their bookkeeping there, and lengths on a GPU would cost a device-to-host sync per layer."""
        return Batch(self.tokens.to(device), self.lengths, self.labels.to(device), self.indices)


class Bucketed:
    """Batches for a dataset with ``lengths`` (one per item) and ``collate(indices)``: shuffled
    buckets of similar lengths for training, sorted (and within a ``token_budget``) for inference
    (:func:`bucket_indices`); under torchrun, each process's :class:`Share` of every batch, balanced
    by ``costs`` (the lengths unless a dataset says otherwise). ``pool``: batches mixed per bucket."""

    pool = 50
    lengths: np.ndarray

    @property
    def costs(self) -> np.ndarray:
        return self.lengths

    def collate(self, indices: np.ndarray) -> Any:
        raise TypeError(f"{type(self).__name__} must define collate(indices)")

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        token_budget: int | None = None,
        shard: Shard | None = None,
    ) -> Iterator[Any]:
        """Collated batches; with a ``shard``, this process's :class:`Share` of each instead."""
        for indices in bucket_indices(self.lengths, batch_size, shuffle, seed, self.pool, token_budget):
            yield self.collate(indices) if shard is None else shard.share(indices, self.costs, self.collate)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self.lengths) // batch_size)


class SequenceDataset(Bucketed):
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

    def real_tokens(self) -> int:
        return int(self.lengths.sum())


@dataclass
class Share:
    """One process's part of a global batch, collated.

    ``empty``: none of the global batch's rows fell to this process (the batch has fewer rows than
    there are processes, as the last batch of an epoch may). ``batch`` then holds one of the
    global batch's rows as a stand-in that the trainer weighs by zero: the process still runs the
    step, so every process takes part in every gradient all-reduce and none waits for the rest."""

    batch: Any
    empty: bool = False


@dataclass(frozen=True)
class Shard:
    """Rank ``rank`` of ``world`` processes: which rows of each global batch it trains on."""

    rank: int
    world: int

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world:
            raise ValueError(f"rank must be in [0, {self.world}), got {self.rank}")

    def rows(self, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """This rank's rows of the global batch ``indices`` (``lengths``: real tokens of each row
        of the dataset), in the global batch's order.

        The rows are dealt longest first, each to the process with the fewest tokens so far (ties:
        the lowest rank), so the processes hold about as many real tokens each, and each holds a row
        when there are at least ``world`` rows. Every process computes the same deal."""
        sizes = lengths[indices]  # (B,)
        owner = np.empty(len(indices), dtype=np.int64)
        held = np.zeros(self.world, dtype=np.int64)
        for row in np.argsort(-sizes, kind="stable"):
            owner[row] = int(np.argmin(held))  # argmin: the first of equals, the lowest rank
            held[owner[row]] += sizes[row]
        return indices[owner == self.rank]

    def block(self, rows: int) -> slice:
        """This rank's contiguous block of ``rows`` rows of equal length (the streams of a
        language model): ``rows // world`` each, one more for the first ``rows % world``."""
        size, extra = divmod(rows, self.world)
        start = self.rank * size + min(self.rank, extra)
        return slice(start, start + size + (self.rank < extra))

    def share(self, indices: np.ndarray, lengths: np.ndarray, collate: Callable[[np.ndarray], Any]) -> Share:
        """This rank's :meth:`rows` of a global batch, collated; an empty share holds a stand-in."""
        rows = self.rows(indices, lengths)
        if len(rows):
            return Share(collate(rows))
        return Share(collate(indices[:1]), empty=True)


def bucket_indices(
    lengths: np.ndarray,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    pool: int = 50,
    token_budget: int | None = None,
) -> list[np.ndarray]:
    """Batches of indices with similar lengths. ``shuffle=False``: sorted by length (evaluation),
    and with ``token_budget`` each batch also holds at most that many tokens padding included
    (``B * max length``; a sequence longer than the budget gets a batch of its own)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(lengths)
    if not shuffle:
        order = np.argsort(lengths, kind="stable")
        if token_budget is None:
            return [order[i : i + batch_size] for i in range(0, n, batch_size)]
        return _within_budget(order, lengths[order], batch_size, token_budget)
    if token_budget is not None:
        raise ValueError("token_budget applies to sorted batches (shuffle=False)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    span = batch_size * pool
    batches = []
    for start in range(0, n, span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _within_budget(order: np.ndarray, sorted_lengths: np.ndarray, batch_size: int, budget: int) -> list:
    """Cut ``order`` (sorted by length, ascending) into runs of at most ``batch_size`` indices
    whose count times their longest length stays within ``budget``."""
    if budget < 1:
        raise ValueError(f"token_budget must be >= 1, got {budget}")
    batches, start, n = [], 0, len(order)
    counts = np.arange(1, batch_size + 1)
    while start < n:
        run = sorted_lengths[start : start + batch_size]
        # k * (the k-th length) grows with k, so the runs that fit are a prefix: count them
        k = max(1, int(np.count_nonzero(counts[: len(run)] * run <= budget)))
        batches.append(order[start : start + k])
        start += k
    return batches


def planned_batches(
    lengths: np.ndarray, step_seconds: Sequence[float], call_seconds: float, token_budget: int | None = None
) -> list[np.ndarray]:
    """The cut of a few sequences into batches that a model runs fastest, by its measured costs.

    A padded batch of ``B`` rows whose longest row has ``T`` tokens costs ``call_seconds + T *
    step_seconds[B - 1]``: a recurrent layer runs ``T`` steps whatever the other rows' lengths, and
    a step over ``B`` rows costs less than ``B`` steps over one row (one pass over the weights).
    Sorted by length, the rows are cut where the cost of their padding would exceed the cost of
    one more call; dynamic programming over the cut points finds the cheapest cut exactly (``n *
    len(step_seconds)`` work). A server's gathered requests are a mix of lengths: one batch of all
    of them would run mostly padding, one call each would pay the whole step ``n`` times.
    ``token_budget`` caps ``B * T`` as in :func:`bucket_indices`. Returns index arrays, shortest
    rows first."""
    if not len(step_seconds):
        raise ValueError("step_seconds must hold the cost of at least one batch size")
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    n, widest = len(order), len(step_seconds)
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    start = np.zeros(n + 1, dtype=np.int64)
    for end in range(1, n + 1):
        longest = float(sorted_lengths[end - 1])  # the batch [first, end) pads to its last row
        for first in range(end - 1, max(0, end - widest) - 1, -1):
            rows = end - first
            if token_budget is not None and rows > 1 and rows * longest > token_budget:
                break
            cost = best[first] + call_seconds + longest * step_seconds[rows - 1]
            if cost < best[end]:
                best[end], start[end] = cost, first
    batches, end = [], n
    while end > 0:
        batches.append(order[start[end] : end])
        end = start[end]
    return batches[::-1]


def in_order(
    lengths: Sequence[int] | np.ndarray,
    run: Callable[[np.ndarray], Sequence[T]],
    batch_size: int,
    token_budget: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    batches: Iterable[np.ndarray] | None = None,
) -> list[T]:
    """The one inference loop every predictor uses: sort the inputs by length, cut batches of at
    most ``batch_size`` rows and ``token_budget`` tokens (padding included, :func:`bucket_indices`),
    ``run(indices)`` each batch (one answer per index, in that order), and return the answers in
    the inputs' order. ``progress(done, total)`` is called after each batch (a progress bar's
    ``update``); ``batches``, index arrays that cover every input once, replace the cut (a server's
    :func:`planned_batches`). Sorting keeps padding low; the order of the answers never depends
    on it."""
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    out: list[T | None] = [None] * n
    if batches is None:
        batches = bucket_indices(lengths, batch_size, shuffle=False, token_budget=token_budget) if n else []
    done, seen = 0, np.zeros(n, dtype=bool)
    for indices in batches:
        answers = run(indices)
        if len(answers) != len(indices):
            raise ValueError(f"run gave {len(answers)} answers for a batch of {len(indices)}")
        for i, answer in zip(indices, answers):
            out[i] = answer
        seen[indices] = True
        done += len(indices)
        if progress is not None:
            progress(done, n)
    if done != n or not seen.all():
        raise ValueError(f"the batches covered {int(seen.sum())} distinct inputs of {n} (in {done} rows)")
    return out  # type: ignore[return-value]
