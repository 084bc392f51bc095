"""Tagging with a trained run: words from raw text, batched prediction, entities and marked-up text."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch

from ...data.batching import in_order
from ...data.conll import TagSet, entity_spans
from ...errors import InputError
from ...models.tagger import SequenceTagger
from ...runtime import bf16_autocast
from .config import TagConfig
from .data import TagDataset, Vocabularies
from .model import load_run

MAX_WORDS = 512  # a longer sentence is tagged in pieces of this many words (see Tagger)
# Prediction: sentences sorted by length, at most 1,024 and 16,384 words (padding included) a batch.
EVAL_BATCH, EVAL_TOKENS = 1024, 16_384


def predict_tags(
    model: SequenceTagger, dataset: TagDataset, tags: TagSet, device: torch.device, bf16: bool = False
) -> list[list[str]]:
    """IOB2 tags of every sentence of ``dataset``, in order (batched, sorted by length); ``bf16``
    runs the model under bfloat16 autocast (:func:`rnnkit.runtime.bf16_autocast`)."""
    model.eval()

    def run(indices) -> list[list[str]]:
        return [tags.decode(ids) for ids in model.decode(dataset.collate(indices).to(device))]

    with torch.inference_mode(), bf16_autocast(bf16, device):
        return in_order(dataset.lengths, run, EVAL_BATCH, EVAL_TOKENS)


_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|\d+(?:[.,:/-]\d+)*|\w+(?:[-'\u2019]\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Words and punctuation, as CoNLL splits them: "Granger." -> "Granger", "."; "U.S." and
    "1996-08-22" stay whole."""
    return _TOKEN.findall(text)


class Tagger:
    """IOB2 tags for sentences (lists of tokens or raw text), batched, sorted by length.

    A sentence longer than ``MAX_WORDS`` words is tagged in consecutive pieces of that many words
    (memory stays bounded; an entity cut at a piece boundary is split in two). ``bf16`` runs the
    model under bfloat16 autocast: faster where the CPU has native bfloat16, at the F1 measured in
    docs/tag.md."""

    def __init__(
        self, model: SequenceTagger, vocab: Vocabularies, config: TagConfig, bf16: bool = False
    ) -> None:
        self.model, self.vocab, self.config, self.bf16 = model.eval(), vocab, config, bf16
        self.device = next(model.parameters()).device

    @classmethod
    def from_run(cls, run_dir: str | Path, bf16: bool = False) -> Tagger:
        model, config, vocab = load_run(run_dir)
        return cls(model, vocab, config, bf16)

    def __call__(
        self,
        sentences: list[list[str]],
        progress: Callable[[int, int], None] | None = None,
        documents: list[int] | None = None,
    ) -> list[list[str]]:
        """``documents``: each sentence's document, for a tagger whose language model reads whole
        documents (``lm_context`` "document"); None: every sentence is a document of its own."""
        if documents is not None and len(documents) != len(sentences):
            raise InputError(f"{len(documents)} document ids for {len(sentences)} sentences")
        pieces, owners = [], []
        for index, tokens in enumerate(sentences):
            if not tokens:
                raise InputError(f"sentence {index + 1} has no words; nothing to tag")
            for start in range(0, len(tokens), MAX_WORDS):
                pieces.append(tokens[start : start + MAX_WORDS])
                owners.append(index)
        in_documents = None if documents is None else [documents[owner] for owner in owners]
        dataset = TagDataset(pieces, self.vocab, self.config, documents=in_documents)

        def run(indices) -> list[list[str]]:
            batch = dataset.collate(indices).to(self.device)
            return [self.vocab.tags.decode(ids) for ids in self.model.decode(batch)]

        with torch.inference_mode(), bf16_autocast(self.bf16, self.device):
            dataset.attach_context(self.model, self.vocab.pieces)
            tagged = in_order(dataset.lengths, run, EVAL_BATCH, EVAL_TOKENS, progress)
        out: list[list[str]] = [[] for _ in sentences]
        for owner, tags in zip(owners, tagged):
            out[owner] += tags
        return out


def entities(tokens: list[str], tags: list[str]) -> list[dict]:
    """The entities of a tagged sentence: text, type, first token and the token after the last."""
    return [
        {"text": " ".join(tokens[a:b]), "type": kind, "start": a, "end": b}
        for kind, a, b in entity_spans(tags)
    ]


def marked(tokens: list[str], tags: list[str]) -> str:
    """The sentence with its entities in brackets: "[Harry Potter]PER met [Hermione Granger]PER"."""
    words = list(tokens)
    for kind, a, b in reversed(entity_spans(tags)):
        words[a:b] = [f"[{' '.join(words[a:b])}]{kind}"]
    return " ".join(words)
