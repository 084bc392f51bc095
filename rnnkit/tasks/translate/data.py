"""Sentence pairs as token ids: the tokenizers, the datasets and their batches.

Tokenizers: one byte-level BPE per language (Hugging Face ``tokenizers``), trained on the training
split only. Byte-level, so every character encodes (one never seen in training becomes its bytes)
and ``decode(encode(text)) == text``: the translation comes back detokenized, as sacrebleu wants
it. Separate vocabularies rather than a joint one: French and English share little at this size,
and the target side is what the tied output layer needs. Ids 0, 1, 2 are ``<pad>``, ``<s>``, ``</s>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ...data.batching import Bucketed
from ...data.locate import DataError
from ...data.tokenizer import Tokenizer
from ...data.translation import Pair, Splits, read_pairs, split_by_component

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
SOURCE_TOKENIZER, TARGET_TOKENIZER = "source_tokenizer.json", "target_tokenizer.json"


def train_tokenizer(texts: list[str], vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer.train(texts, "subword", vocab_size, specials=(BOS, EOS))
    ids = (tokenizer.token_id(PAD), tokenizer.token_id(BOS), tokenizer.token_id(EOS))
    assert ids == (0, 1, 2), ids
    return tokenizer


@dataclass
class Tokenizers:
    source: Tokenizer
    target: Tokenizer

    @classmethod
    def train(cls, pairs: list[Pair], source_vocab: int, target_vocab: int) -> Tokenizers:
        return cls(
            train_tokenizer([p.source for p in pairs], source_vocab),
            train_tokenizer([p.target for p in pairs], target_vocab),
        )

    def save(self, run_dir: Path) -> None:
        self.source.save(run_dir / SOURCE_TOKENIZER)
        self.target.save(run_dir / TARGET_TOKENIZER)

    @classmethod
    def load(cls, run_dir: Path) -> Tokenizers:
        from ...train.checkpoint import CheckpointError

        paths = (run_dir / SOURCE_TOKENIZER, run_dir / TARGET_TOKENIZER)
        for path in paths:
            if not path.is_file():
                raise CheckpointError(f"no {path.name} in {run_dir}")
        try:
            return cls(Tokenizer.load(paths[0]), Tokenizer.load(paths[1]))
        except Exception as error:  # the tokenizers library raises its own Exception subclasses
            raise CheckpointError(f"{run_dir}: a tokenizer file is damaged ({error})") from None


@dataclass
class PairBatch:
    source: Tensor  # (B, S) ids, 0-padded
    source_lengths: Tensor  # (B,) on the CPU
    target_in: Tensor  # (B, T): <s> y_1 .. y_n, 0-padded
    target_out: Tensor  # (B, T): y_1 .. y_n </s>, 0-padded
    indices: list[int]  # the pairs' positions in their dataset

    def to(self, device: torch.device | str) -> PairBatch:
        return PairBatch(
            self.source.to(device),
            self.source_lengths,
            self.target_in.to(device),
            self.target_out.to(device),
            self.indices,
        )


class PairDataset(Bucketed):
    """Source (and, for training and scoring, target) token ids. ``max_tokens`` cuts both sides."""

    pool = 20  # batches mixed per bucket when shuffling

    def __init__(
        self, sources: list[list[int]], targets: list[list[int]] | None = None, max_tokens: int = 10_000
    ) -> None:
        self.sources = [np.asarray(s[:max_tokens], dtype=np.int64) for s in sources]
        self.targets = (
            [np.asarray(t[: max_tokens - 1], dtype=np.int64) for t in targets]
            if targets is not None
            else None
        )
        self.lengths = np.array([len(s) for s in self.sources], dtype=np.int64)
        # the tokens a pair costs in training (source, target and </s>): what a Shard balances
        targets = [len(t) + 1 for t in self.targets] if self.targets is not None else 0
        self.tokens = self.lengths + np.asarray(targets, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def costs(self) -> np.ndarray:  # what a torchrun Shard balances: a pair's tokens in training
        return self.tokens

    def collate(self, indices: np.ndarray) -> PairBatch:
        B, S = len(indices), int(self.lengths[indices].max())
        source = np.zeros((B, S), dtype=np.int64)
        for row, i in enumerate(indices):
            source[row, : self.lengths[i]] = self.sources[i]
        T = max((len(self.targets[i]) for i in indices), default=0) + 1 if self.targets is not None else 1
        target_in = np.zeros((B, T), dtype=np.int64)
        target_out = np.zeros((B, T), dtype=np.int64)
        if self.targets is not None:
            for row, i in enumerate(indices):
                y = self.targets[i]
                target_in[row, 0], target_in[row, 1 : len(y) + 1] = 1, y
                target_out[row, : len(y)], target_out[row, len(y)] = y, 2
        return PairBatch(
            torch.from_numpy(source),
            torch.from_numpy(self.lengths[indices]),
            torch.from_numpy(target_in),
            torch.from_numpy(target_out),
            [int(i) for i in indices],
        )


def encode_pairs(pairs: list[Pair], tokenizers: Tokenizers, max_tokens: int) -> PairDataset:
    return PairDataset(
        tokenizers.source.encode_batch([p.source for p in pairs]),
        tokenizers.target.encode_batch([p.target for p in pairs]),
        max_tokens,
    )


def data_dir(data: str | Path | None) -> Path:
    """The folder holding the Tatoeba zips (or a ``tatoeba/`` folder with them): ``data``, else
    ``$RNNKIT_DATA``."""
    roots = [Path(data)] if data is not None else []
    if data is None and os.environ.get("RNNKIT_DATA"):
        roots.append(Path(os.environ["RNNKIT_DATA"]))
    for root in roots:
        for folder in (root, root / "tatoeba"):
            if any(folder.glob("*-eng.zip")):
                return folder
    where = ", ".join(str(r) for r in roots) or "nowhere (no --data, no $RNNKIT_DATA)"
    raise DataError(f"no Tatoeba zip (fra-eng.zip, kor-eng.zip) found in {where}; pass --data FOLDER")


def load_splits(data: str | Path | None, pair: str, test: int, validation: int, seed: int) -> Splits:
    return split_by_component(read_pairs(data_dir(data), pair), test, validation, seed)


__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SOURCE_TOKENIZER",
    "TARGET_TOKENIZER",
    "PairBatch",
    "PairDataset",
    "Tokenizers",
    "data_dir",
    "encode_pairs",
    "load_splits",
    "train_tokenizer",
]
