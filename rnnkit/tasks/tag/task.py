"""Training a tagger (or an ensemble of them): select on testa each epoch, score the best on testb once."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from torch import nn

from ...models.tagger import LMFeatures
from ...train import Trainer, resolve_device, tell
from ...train import checkpoint as ckpt
from ...train.distributed import is_main
from ...train.pretrained import SEPARATOR
from ...train.template import Fit, Recipe, train_run
from .config import RESULTS_FILE, RUNS, VOCAB_FILE, TagConfig, member_dir
from .data import PreparedData, Vocabularies, data_dir, prepare
from .metrics import evaluate_model, scores
from .model import build_model, language_model, load_run, step
from .predict import predict_tags


class TagRecipe(Recipe[TagConfig, PreparedData]):
    """One tagger's parts for the run template (:func:`rnnkit.train.template.train_run`)."""

    runs = RUNS

    def __init__(self, data: str | Path | None) -> None:
        self.data = data
        self.lm = None  # a new run's pretrained language model (config.lm), frozen in the tagger

    def load_saved(self, run_dir: Path, config: TagConfig) -> Vocabularies:
        return Vocabularies.load(run_dir / VOCAB_FILE)

    def prepare(self, config: TagConfig, saved: Vocabularies | None) -> PreparedData:
        pieces = None
        if saved is None and config.lm:
            self.lm, pieces = language_model(config.lm)
        prepared = prepare(config, self.data, saved)
        if pieces is not None:
            prepared.vocab.pieces = pieces
        return prepared

    def decide(self, config: TagConfig, data: PreparedData) -> TagConfig:
        vocab = data.vocab
        model = dataclasses.replace(
            config.model,
            word_vocab=len(vocab.words),
            char_vocab=len(vocab.chars),
            tags=tuple(vocab.tags.tags),
        )
        if self.lm is not None:
            model = dataclasses.replace(
                model, lm=LMFeatures.of(self.lm.config, vocab.pieces.token_id(SEPARATOR))
            )
        return dataclasses.replace(config, model=model)

    def save_new(self, config: TagConfig, data: PreparedData, run_dir: Path) -> None:
        data.vocab.save(run_dir / VOCAB_FILE)

    def build(self, config: TagConfig, data: PreparedData) -> nn.Module:
        model = build_model(config)
        if self.lm is not None:  # a resume loads the LM's weights with the rest
            model.context.load_language_model(self.lm.state_dict())
        return model

    def step(self, config: TagConfig):
        return step

    def started(self, config: TagConfig, data: PreparedData, trainer: Trainer, model: nn.Module) -> None:
        began = time.perf_counter()
        model.to(trainer.device)
        for dataset in data.datasets.values():
            dataset.attach_context(model, data.vocab.pieces)
        if model.context is not None:
            seconds = time.perf_counter() - began
            trainer.message(f"the language model's features of every word computed in {seconds:.0f} s")

    def fit(self, config: TagConfig, data: PreparedData, trainer: Trainer, model: nn.Module) -> Fit:
        validation, gold = data.datasets["validation"], [s.tags for s in data.sentences["validation"]]

        def validate(model: nn.Module) -> dict[str, float]:  # under torchrun, every process tags it all
            result = scores(gold, predict_tags(model, validation, data.vocab.tags, trainer.device))
            return {"f1": result["f1"], "precision": result["precision"], "recall": result["recall"]}

        batch_size, seed, train_set = config.train.batch_size, config.train.seed, data.datasets["train"]
        return Fit(
            lambda epoch: train_set.batches(
                batch_size, shuffle=True, seed=seed * 1000 + epoch, shard=trainer.shard
            ),
            train_set.num_batches(batch_size),
            validate=validate,
        )

    def test(self, config: TagConfig, data: PreparedData, trainer: Trainer, model: nn.Module) -> dict:
        start = time.perf_counter()
        test_tags = predict_tags(model, data.datasets["test"], data.vocab.tags, trainer.device)
        tag_seconds = time.perf_counter() - start
        best_row = max(trainer.history, key=lambda row: row["val_f1"])
        return {
            "test": scores([s.tags for s in data.sentences["test"]], test_tags),
            "best_val_f1": best_row["val_f1"],
            "best_epoch": best_row["epoch"],
            "best_elapsed_seconds": best_row["elapsed"],
            "test_sentences": len(test_tags),
            "test_tag_seconds": tag_seconds,
            "trained_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        }


def train(
    config: TagConfig, data: str | Path | None, run_dir: str | Path, callbacks=(), resume: bool = True
) -> dict:
    """Train (or resume) the run in ``run_dir``, select on testa, then score the best on testb; with
    ``members`` > 1, an ensemble of such runs."""
    if config.members > 1:
        RUNS.check_task(Path(run_dir))
        return _train_ensemble(config, data, Path(run_dir), callbacks, resume)
    return train_run(TagRecipe(data), config, run_dir, callbacks, resume)


def _train_ensemble(config: TagConfig, data, run_dir: Path, callbacks, resume: bool) -> dict:
    """Train (or resume) each member as a run of its own in ``members/k`` (seed ``seed + k - 1``),
    then score the ensemble on testa and, once, on testb."""
    if resume and (run_dir / ckpt.CONFIG).is_file():
        config = RUNS.resumable(RUNS.load_config(run_dir), config, run_dir)
    if is_main():
        run_dir.mkdir(parents=True, exist_ok=True)
        RUNS.save_config(config, run_dir)
    members = []
    for k in range(1, config.members + 1):
        member = dataclasses.replace(
            config, members=1, train=dataclasses.replace(config.train, seed=config.train.seed + k - 1)
        )
        tell(callbacks, f"ensemble member {k} of {config.members}: {member_dir(run_dir, k)}")
        members.append(train(member, data, member_dir(run_dir, k), callbacks, resume))
    model, _, vocab = load_run(run_dir)
    device = resolve_device(config.train.device)
    model.to(device)
    found = {
        split: evaluate_model(model, config, vocab, data_dir(data), split, device)
        for split in ("validation", "test")
    }
    results = {
        "test": {k: found["test"][k] for k in ("precision", "recall", "f1", "per_type")},
        "val_f1": found["validation"]["f1"],
        "members": [
            {key: m[key] for key in ("best_val_f1", "best_epoch", "epochs", "train_seconds_total")}
            | {"test_f1": m["test"]["f1"]}
            for m in members
        ],
        "train_seconds_total": sum(m["train_seconds_total"] for m in members),
        "parameters": sum(m["parameters"] for m in members),
        "trained_parameters": sum(m["trained_parameters"] for m in members),
    }
    if is_main():
        ckpt.save_json(results, run_dir / RESULTS_FILE)
    return results
