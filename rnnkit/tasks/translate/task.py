"""Machine translation (many-to-many with an encoder and a decoder): "Voulez-vous chanter avec moi ?"
-> "Do you want to sing with me?".

Tatoeba pairs (``rnnkit.data.translation``), split so that no sentence of a test pair, on either
side and up to case, accents and punctuation, is trained on; one byte-level BPE per
language (:mod:`.data`); :class:`rnnkit.models.seq2seq.Seq2Seq` (a BiGRU encoder, a GRU decoder with
attention) trained with teacher forcing and label smoothing by the shared trainer, selected on the
validation BLEU (greedy) each epoch; the best weights translate the test split with greedy and beam
search, scored by sacrebleu (BLEU and chrF, detokenized text, each distinct source against all
its references).

Presets:

- ``fast``: fra-eng, the 30-minute recipe on a 2-core CPU (docs/translate.md).
- ``kor``: kor-eng, the lecture's language: 3.6k pairs, a small model and more dropout.

A run directory holds ``config.json``, the two tokenizers, the weights, the history and curves,
and ``results.json`` (the test scores).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor, nn
from torch.nn import functional as F

from ...data.translation import Pair, Splits, match_key, references
from ...errors import ConfigError
from ...models.seq2seq import Seq2Seq
from ...summary import summary
from ...train import Trainer
from ...train.template import Fit, Recipe, train_run
from .config import RUNS, TranslateConfig, build_model
from .data import PairBatch, PairDataset, Tokenizers, encode_pairs
from .data import load_splits as _load_splits
from .translator import Translator

# -- training -----------------------------------------------------------------------------------------


def make_step(label_smoothing: float) -> Callable[[nn.Module, PairBatch], tuple[Tensor, dict, int]]:
    """Teacher forcing: the mean label-smoothed cross-entropy per target token (``</s>`` included);
    ``nll``, the plain negative log-likelihood, is logged beside it (its exp is the perplexity)."""

    def step(model: nn.Module, batch: PairBatch) -> tuple[Tensor, dict[str, float], int]:
        real = batch.target_out != 0  # (B, T)
        logits = model(batch.source, batch.source_lengths, batch.target_in, where=real)  # (N, V)
        gold = batch.target_out[real]  # (N,)
        loss = F.cross_entropy(logits, gold, label_smoothing=label_smoothing, reduction="sum")
        nll = F.cross_entropy(logits.detach(), gold, reduction="sum") if label_smoothing else loss.detach()
        count = int(gold.numel())
        return loss / count, {"nll": float(nll)}, count

    return step


def load_splits(config: TranslateConfig, data: str | Path | None):
    """The run's splits; a run made with the split by source sentence (before 2026-12-07) is refused:
    its training pairs overlap today's test and validation pairs, so neither resuming it nor scoring
    it on them would be honest."""
    if config.split != "component":
        raise ConfigError(
            f"this run was split by source sentence (split={config.split!r}, before 2026-12-07), which "
            "put paraphrases of half the test in training; its scores cannot be compared: train a new run"
        )
    return _load_splits(data, config.pair, config.test_pairs, config.validation_pairs, config.split_seed)


@dataclass
class TranslationData:
    splits: Splits
    tokenizers: Tokenizers
    train: PairDataset
    validation: PairDataset


class TranslationRecipe(Recipe[TranslateConfig, TranslationData]):
    """The translation task's parts for the run template (:func:`rnnkit.train.template.train_run`)."""

    runs = RUNS

    def __init__(self, data: str | Path | None) -> None:
        self.data = data

    def load_saved(self, run_dir: Path, config: TranslateConfig) -> Tokenizers:
        return Tokenizers.load(run_dir)

    def prepare(self, config: TranslateConfig, saved: Tokenizers | None) -> TranslationData:
        splits = load_splits(config, self.data)
        tokenizers = (
            saved
            if saved is not None
            else Tokenizers.train(splits.train, config.source_vocab_size, config.target_vocab_size)
        )
        return TranslationData(
            splits,
            tokenizers,
            encode_pairs(splits.train, tokenizers, config.max_tokens),
            encode_pairs(splits.validation, tokenizers, config.max_tokens),
        )

    def decide(self, config: TranslateConfig, data: TranslationData) -> TranslateConfig:
        vocab = {
            "source_vocab": data.tokenizers.source.vocab_size,
            "target_vocab": data.tokenizers.target.vocab_size,
        }
        return dataclasses.replace(config, model=dataclasses.replace(config.model, **vocab))

    def save_new(self, config: TranslateConfig, data: TranslationData, run_dir: Path) -> None:
        data.tokenizers.save(run_dir)

    def build(self, config: TranslateConfig, data: TranslationData) -> Seq2Seq:
        return build_model(config)

    def step(self, config: TranslateConfig):
        return make_step(config.label_smoothing)

    def started(self, config, data: TranslationData, trainer: Trainer, model: nn.Module) -> None:
        example = data.train.collate(np.arange(2))
        trainer.message(str(summary(model, example.source, example.source_lengths, example.target_in)))

    def fit(self, config: TranslateConfig, data: TranslationData, trainer: Trainer, model: nn.Module) -> Fit:
        translator = Translator(model, data.tokenizers, config)
        pairs = data.splits.validation

        def validate(model: nn.Module) -> dict[str, float]:  # under torchrun, every process translates it all
            translator.device = trainer.device
            hypotheses = translator.translate([p.source for p in pairs], beam=1)
            return {"bleu": corpus_scores([h.text for h in hypotheses], pairs, config)["bleu"]}

        batch_size, seed, shard = config.train.batch_size, config.train.seed, trainer.shard
        return Fit(
            lambda epoch: data.train.batches(batch_size, shuffle=True, seed=seed * 1000 + epoch, shard=shard),
            data.train.num_batches(batch_size),
            lambda: data.validation.batches(256, shard=shard),
            validate,
        )

    def test(
        self, config: TranslateConfig, data: TranslationData, trainer: Trainer, model: nn.Module
    ) -> dict:
        translator = Translator(model, data.tokenizers, config)
        translator.device = trainer.device
        best_row = max(trainer.history, key=lambda row: row["val_bleu"])
        return {
            "test": {
                f"beam{beam}": score_split(translator, data.splits.test, config, beam)
                for beam in sorted({1, config.beam})
            },
            "best_val_bleu": best_row["val_bleu"],
            "best_epoch": best_row["epoch"],
            "best_elapsed_seconds": best_row["elapsed"],
            "train_pairs": len(data.splits.train),
            "test_pairs": len(data.splits.test),
        }


def train(
    config: TranslateConfig, data: str | Path | None, run_dir: str | Path, callbacks=(), resume: bool = True
) -> dict:
    """Train (or resume) the run in ``run_dir``, select on the validation BLEU, then score the best
    weights on the test split with greedy and beam search."""
    return train_run(TranslationRecipe(data), config, run_dir, callbacks, resume)


# -- scores ---------------------------------------------------------------------------------------------


def corpus_scores(hypotheses: list[str], pairs: list[Pair], config: TranslateConfig) -> dict:
    """sacrebleu's corpus BLEU and chrF of detokenized ``hypotheses`` (one for each pair), with
    their signatures. A Korean target is scored on characters (13a would see whole eojeol).

    ``bleu``/``chrf`` score each distinct source sentence once (up to ``match_key``; the first
    pair's hypothesis) against *every* reference the pairs give it, as multi-reference BLEU is
    meant: a source with three English translations is not scored three times, each time against
    one and penalised for matching the other two. ``bleu_per_pair``/``chrf_per_pair`` are the
    older figures, one hypothesis and one reference per pair."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(pairs):
        raise ValueError(f"one hypothesis per pair: got {len(hypotheses)} for {len(pairs)} pairs")
    if not pairs:
        raise ValueError("no pairs to score: the split is empty (ask for more test or validation pairs)")
    first: dict[str, str] = {}
    for hypothesis, pair in zip(hypotheses, pairs):
        first.setdefault(match_key(pair.source), hypothesis)
    distinct, targets = references(pairs)
    hypotheses_once = [first[match_key(source)] for source in distinct]
    streams = [
        [refs[k] if k < len(refs) else None for refs in targets] for k in range(max(map(len, targets)))
    ]
    bleu = BLEU(tokenize="char" if config.pair.endswith("-kor") else "13a")
    chrf = CHRF()
    scores = {
        "bleu": bleu.corpus_score(hypotheses_once, streams).score,
        "chrf": chrf.corpus_score(hypotheses_once, streams).score,
        "bleu_signature": str(bleu.get_signature()),  # of the multi-reference scores (nrefs:var)
        "chrf_signature": str(chrf.get_signature()),
    }
    single = [[p.target for p in pairs]]
    return {
        **scores,
        "bleu_per_pair": bleu.corpus_score(hypotheses, single).score,
        "chrf_per_pair": chrf.corpus_score(hypotheses, single).score,
        "sources": len(distinct),
        "references": sum(map(len, targets)),
    }


def score_split(translator: Translator, pairs: list[Pair], config: TranslateConfig, beam: int) -> dict:
    start = time.perf_counter()
    hypotheses = translator.translate([p.source for p in pairs], beam=beam)
    seconds = time.perf_counter() - start
    texts = [h.text for h in hypotheses]
    return {
        **corpus_scores(texts, pairs, config),
        "seconds": seconds,
        "sentences_per_second": len(pairs) / seconds,
        "translations": texts,
    }


def evaluate(
    run_dir: str | Path,
    data: str | Path | None,
    beams: tuple[int, ...] = (1, 5),
    split: str = "test",
    device: str = "auto",
    limit: int | None = None,
) -> dict:
    """BLEU and chrF of a run's best weights on a split, for each beam in ``beams``, with the
    translations and the throughput."""
    pairs = getattr(load_splits(RUNS.load_config(run_dir), data), split)[:limit]  # refuses old splits first
    translator = Translator.from_run(run_dir, device)
    config = translator.config
    return {
        "pairs": pairs,
        "scores": {beam: score_split(translator, pairs, config, beam) for beam in beams},
        "config": config,
    }
