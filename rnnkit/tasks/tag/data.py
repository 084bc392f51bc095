"""CoNLL-2003 sentences to tensors: the vocabularies, the dataset (words, casings, characters, tags and
the frozen language model's features), its batches, and the words of a split as plain text."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ...data import DataError
from ...data.batching import Bucketed
from ...data.conll import CASINGS, Sentence, TagSet, Vocab, casing, normalize_digits, read_conll
from ...data.tokenizer import Tokenizer
from ...errors import InputError
from ...models.tagger import SequenceTagger, TagBatch
from ...train import checkpoint as ckpt
from .config import LM_TOKENIZER_FILE, SPLITS, TagConfig


@dataclass
class Vocabularies:
    words: Vocab
    chars: Vocab
    tags: TagSet
    pieces: Tokenizer | None = None  # the pretrained language model's, when the tagger reads one

    @classmethod
    def build(cls, sentences: list[Sentence], config: TagConfig) -> Vocabularies:
        words = Counter(_word_key(w, config) for s in sentences for w in s.tokens)
        chars = Counter(c for s in sentences for w in s.tokens for c in w)
        return cls(
            Vocab.build(words, config.min_count),
            Vocab.build(chars),
            TagSet.from_sentences(sentences, config.scheme),
        )

    def save(self, path: Path) -> None:
        data = {
            "words": self.words.items,
            "chars": self.chars.items,
            "types": self.tags.types,
            "scheme": self.tags.scheme,
        }
        if self.pieces is not None:
            ckpt.atomic_write(path.parent / LM_TOKENIZER_FILE, self.pieces.backend.to_str().encode())
        ckpt.atomic_write(path, json.dumps(data, ensure_ascii=False).encode())

    @classmethod
    def load(cls, path: Path) -> Vocabularies:
        if not path.is_file():
            raise ckpt.CheckpointError(f"no {path.name} in {path.parent}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            vocab = cls(Vocab(data["words"]), Vocab(data["chars"]), TagSet(data["types"], data["scheme"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ckpt.CheckpointError(f"{path} is damaged ({error})") from None
        if (path.parent / LM_TOKENIZER_FILE).is_file():
            vocab.pieces = Tokenizer.load(path.parent / LM_TOKENIZER_FILE)
        return vocab


def _word_key(word: str, config: TagConfig) -> str:
    word = normalize_digits(word) if config.digits else word
    return word.lower() if config.lowercase else word


class TagDataset(Bucketed):
    """Sentences as id arrays: words, casings, characters per word, and tags (when known)."""

    pool = 20  # batches mixed per bucket when shuffling

    def __init__(
        self,
        sentences: list[list[str]],
        vocab: Vocabularies,
        config: TagConfig,
        tags=None,
        documents: list[int] | None = None,
    ) -> None:
        """``documents``: each sentence's document (consecutive sentences of one document share
        it), read by a language model whose ``lm_context`` is "document"; None: each sentence alone."""
        limit = config.max_word_chars
        seen: dict[str, tuple[int, int, tuple[int, ...]]] = {}  # each distinct word encoded once

        def encode(word: str) -> tuple[int, int, tuple[int, ...]]:
            if word not in seen:
                chars = tuple(vocab.chars(c) for c in word[:limit])
                seen[word] = (vocab.words(_word_key(word, config)), casing(word), chars)
            return seen[word]

        encoded = [[encode(w) for w in s] for s in sentences]
        self.words = [np.array([e[0] for e in s], dtype=np.int64) for s in encoded]
        self.casings = [np.array([e[1] for e in s], dtype=np.int64) for s in encoded]
        self.chars = [[e[2] for e in s] for s in encoded]
        self.tags = (
            [np.array(vocab.tags.encode(t), dtype=np.int64) for t in tags] if tags is not None else None
        )
        self.lengths = np.array([len(s) for s in sentences], dtype=np.int64)
        self.sentences = sentences
        self.documents = documents if config.lm_context == "document" else None
        self.context: list[Tensor] | None = None

    def attach_context(self, model: SequenceTagger, pieces: Tokenizer | None) -> None:
        """Compute, once, the frozen language model's features of every word (a no-op for a tagger
        without one); batches then carry them. Each word is read as its pieces with a space before
        it, as the language model saw words in running text."""
        if model.context is None or self.context is not None:
            return
        if pieces is None:
            raise ckpt.CheckpointError("this tagger reads a language model, and its tokenizer is missing")
        spelled: dict[str, list[int]] = {}

        def encode(word: str) -> list[int]:
            if word not in spelled:
                spelled[word] = pieces.encode(" " + word)
            return spelled[word]

        texts = [[encode(w) for w in s] for s in self.sentences]
        if self.documents is None:
            self.context = [features.float().cpu() for features in model.context(texts)]
            return
        runs: list[list[int]] = []  # the sentences of each document, in order
        for i, document in enumerate(self.documents):
            if not runs or self.documents[runs[-1][-1]] != document:
                runs.append([])
            runs[-1].append(i)
        per_document = model.context([[w for i in run for w in texts[i]] for run in runs])
        self.context = [torch.empty(0)] * len(self)
        for run, features in zip(runs, per_document):
            for i, part in zip(run, features.float().cpu().split([len(texts[i]) for i in run])):
                self.context[i] = part

    def __len__(self) -> int:
        return len(self.words)

    def collate(self, indices: np.ndarray) -> TagBatch:
        lengths = self.lengths[indices]
        B, T = len(indices), int(lengths.max())
        words = np.zeros((B, T), dtype=np.int64)
        casings = np.full((B, T), CASINGS.index("pad"), dtype=np.int64)
        tags = np.zeros((B, T), dtype=np.int64)
        spellings: dict[tuple[int, ...], int] = {}  # each distinct word once: its row in chars
        spelling = []
        positions = np.concatenate([row * T + np.arange(n) for row, n in enumerate(lengths)])  # (N,)
        for row, i in enumerate(indices):
            n = lengths[row]
            words[row, :n] = self.words[i]
            casings[row, :n] = self.casings[i]
            if self.tags is not None:
                tags[row, :n] = self.tags[i]
            spelling += [spellings.setdefault(word, len(spellings)) for word in self.chars[i]]
        char_lengths = np.array([max(len(c), 1) for c in spellings], dtype=np.int64)
        chars = np.zeros((len(spellings), int(char_lengths.max())), dtype=np.int64)  # (U, W)
        for row, c in enumerate(spellings):
            chars[row, : len(c)] = c
        context = None
        if self.context is not None:
            context = torch.zeros(B, T, self.context[0].shape[1])  # (B, T, 2H_lm)
            for row, i in enumerate(indices):
                context[row, : lengths[row]] = self.context[i]
        return TagBatch(
            torch.from_numpy(words),
            torch.from_numpy(casings),
            torch.from_numpy(chars),
            torch.from_numpy(char_lengths),
            torch.tensor(spelling, dtype=torch.long),
            torch.from_numpy(positions),
            torch.from_numpy(lengths),
            torch.from_numpy(tags),
            [int(i) for i in indices],
            context,
        )


@dataclass
class PreparedData:
    vocab: Vocabularies
    sentences: dict[str, list[Sentence]]
    datasets: dict[str, TagDataset]


def data_dir(data: str | Path | None) -> Path:
    """The folder of ``eng.train``/``eng.testa``/``eng.testb``: ``data`` (the folder, or one holding
    ``conll2003/``), else ``$RNNKIT_DATA/conll2003``."""
    roots = [Path(data)] if data is not None else []
    if data is None and os.environ.get("RNNKIT_DATA"):
        roots.append(Path(os.environ["RNNKIT_DATA"]))
    for root in roots:
        for folder in (root, root / "conll2003"):
            if (folder / SPLITS["train"]).is_file():
                return folder
    where = ", ".join(str(r) for r in roots) or "nowhere (no --data, no $RNNKIT_DATA)"
    raise DataError(
        f"no CoNLL-2003 files (eng.train, eng.testa, eng.testb) found in {where}; pass --data FOLDER"
    )


def prepare(config: TagConfig, data: str | Path | None, vocab: Vocabularies | None = None) -> PreparedData:
    folder = data_dir(data)
    sentences = {split: read_conll(folder / name) for split, name in SPLITS.items()}
    vocab = vocab or Vocabularies.build(sentences["train"], config)
    datasets = {
        split: TagDataset(
            [s.tokens for s in sents], vocab, config, [s.tags for s in sents], [s.document for s in sents]
        )
        for split, sents in sentences.items()
    }
    return PreparedData(vocab, sentences, datasets)


def write_text(data: str | Path | None, out: str | Path, split: str = "train") -> dict[str, int]:
    """The words of a split's documents as plain text, one ``.txt`` file per document (its words
    joined by spaces, as :class:`~rnnkit.models.wordlm.ContextualWords` reads them), for adapting a
    language model to the text it will tag (``rnnkit sentiment pretrain --init RUN --text-dir OUT``).
    Only the words: no tags. Returns the counts of documents and words. A folder it wrote before
    is written again; a folder that holds anything else is refused."""
    out = Path(out)
    held = sorted(out.iterdir()) if out.is_dir() else []
    others = [p.name for p in held if not (p.is_file() and re.fullmatch(r"\d+\.txt", p.name))]
    if others:
        raise InputError(
            f"{out} holds files that 'rnnkit tag text' does not write ({', '.join(others[:3])}"
            f"{', ...' if len(others) > 3 else ''}); give a new folder"
        )
    for path in held:
        path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    documents: dict[int, list[str]] = {}
    for sentence in read_conll(data_dir(data) / SPLITS[split]):
        documents.setdefault(sentence.document, []).extend(sentence.tokens)
    width = len(str(len(documents)))
    for number, words in documents.items():
        ckpt.atomic_write(out / f"{number:0{width}d}.txt", (" ".join(words) + "\n").encode())
    return {"documents": len(documents), "words": sum(len(w) for w in documents.values())}
