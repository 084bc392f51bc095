"""Entity-level scores (seqeval, conlleval-compatible) of a run on a split, and what each gold entity
type was predicted as."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import torch

from ...data.conll import Sentence, entity_spans, read_conll
from ...runtime import bf16_autocast
from ...train import resolve_device
from .config import SPLITS, TagConfig
from .data import TagDataset, Vocabularies, data_dir
from .model import load_run
from .predict import predict_tags


def scores(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """Entity-level precision, recall, F1 (seqeval, conlleval-compatible mode), overall and per type."""
    from seqeval.metrics import classification_report

    report = classification_report(gold, predicted, output_dict=True, zero_division=0, digits=6)
    per_type = {k: v for k, v in report.items() if not k.endswith(" avg")}
    micro = report["micro avg"]
    return {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        "per_type": {
            kind: {
                "precision": float(m["precision"]),
                "recall": float(m["recall"]),
                "f1-score": float(m["f1-score"]),
                "support": int(m["support"]),
            }
            for kind, m in per_type.items()
        },
    }


def evaluate(run_dir: str | Path, data: str | Path | None, split: str = "test", bf16: bool = False) -> dict:
    """Scores of a run's best weights on a split (testb by default), with the predicted tags;
    ``bf16``: the model under bfloat16 autocast."""
    model, config, vocab = load_run(run_dir)
    device = resolve_device(config.train.device)
    return evaluate_model(model.to(device), config, vocab, data_dir(data), split, device, bf16)


def evaluate_model(
    model, config: TagConfig, vocab: Vocabularies, folder: Path, split: str, device, bf16=False
) -> dict:
    """:func:`evaluate` for a loaded model: the split's sentences, their tags and the scores."""
    sentences = read_conll(folder / SPLITS[split])
    dataset = TagDataset(
        [s.tokens for s in sentences], vocab, config, documents=[s.document for s in sentences]
    )
    start = time.perf_counter()
    with torch.inference_mode(), bf16_autocast(bf16, device):
        dataset.attach_context(model, vocab.pieces)
    predicted = predict_tags(model, dataset, vocab.tags, device, bf16)
    seconds = time.perf_counter() - start
    gold = [s.tags for s in sentences]
    return {**scores(gold, predicted), "sentences": sentences, "predicted": predicted, "seconds": seconds}


def confusion(sentences: list[Sentence], predicted: list[list[str]]) -> dict[str, Counter]:
    """For each gold entity type, what its spans were predicted as: the same span with a type,
    or "missed" (no predicted entity with exactly that span)."""
    table: dict[str, Counter] = {}
    for sentence, tags in zip(sentences, predicted):
        found = {(a, b): kind for kind, a, b in entity_spans(tags)}
        for kind, a, b in entity_spans(sentence.tags):
            table.setdefault(kind, Counter())[found.get((a, b), "missed")] += 1
    return table
