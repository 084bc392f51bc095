"""Training a tagger (or an ensemble of them): select on testa each epoch, score the best on testb once."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from torch import nn

from ...models.tagger import LMFeatures
from ...train import checkpoint as ckpt
from ...train import resolve_device, seed_everything, tell
from ...train.distributed import is_main
from ...train.pretrained import SEPARATOR
from .config import RESULTS_FILE, RUNS, VOCAB_FILE, TagConfig, member_dir
from .data import Vocabularies, data_dir, prepare
from .metrics import evaluate_model, scores
from .model import build_model, language_model, load_run, step
from .predict import predict_tags


def train(
    config: TagConfig, data: str | Path | None, run_dir: str | Path, callbacks=(), resume: bool = True
) -> dict:
    """Train (or resume) the run in ``run_dir``, select on testa, then score the best on testb."""
    run_dir = Path(run_dir)
    RUNS.check_task(run_dir)
    if config.members > 1:
        return _train_ensemble(config, data, run_dir, callbacks, resume)
    vocab = None
    if resume and (run_dir / ckpt.STATE).is_file():
        config = RUNS.resumable(RUNS.load_config(run_dir), config, run_dir)
        if is_main():  # under torchrun, rank 0 alone writes the run directory
            RUNS.save_config(config, run_dir)
        vocab = Vocabularies.load(run_dir / VOCAB_FILE)
    seed_everything(config.train.seed)
    lm = None
    if vocab is None and config.lm:
        lm, pieces = language_model(config.lm)
    prepared = prepare(config, data, vocab)
    if vocab is None:
        model_config = dataclasses.replace(
            config.model,
            word_vocab=len(prepared.vocab.words),
            char_vocab=len(prepared.vocab.chars),
            tags=tuple(prepared.vocab.tags.tags),
        )
        if lm is not None:
            prepared.vocab.pieces = pieces
            features = LMFeatures.of(lm.config, pieces.token_id(SEPARATOR))
            model_config = dataclasses.replace(model_config, lm=features)
        config = dataclasses.replace(config, model=model_config)
        if is_main():
            run_dir.mkdir(parents=True, exist_ok=True)
            prepared.vocab.save(run_dir / VOCAB_FILE)
            RUNS.save_config(config, run_dir)
    model = build_model(config)
    if lm is not None:
        model.context.load_language_model(lm.state_dict())
    trainer = RUNS.trainer(model, step, config.train, run_dir, callbacks, resume)  # a resume loads the LM too
    began = time.perf_counter()
    model.to(trainer.device)
    for dataset in prepared.datasets.values():
        dataset.attach_context(model, prepared.vocab.pieces)
    if model.context is not None:
        seconds = time.perf_counter() - began
        trainer.message(f"the language model's features of every word computed in {seconds:.0f} s")
    validation, gold_val = prepared.datasets["validation"], [s.tags for s in prepared.sentences["validation"]]

    def validate(model: nn.Module) -> dict[str, float]:  # under torchrun, every process tags it all
        result = scores(gold_val, predict_tags(model, validation, prepared.vocab.tags, trainer.device))
        return {"f1": result["f1"], "precision": result["precision"], "recall": result["recall"]}

    batch_size, seed = config.train.batch_size, config.train.seed
    train_set = prepared.datasets["train"]
    start = time.perf_counter()
    trainer.fit(
        lambda epoch: train_set.batches(
            batch_size, shuffle=True, seed=seed * 1000 + epoch, shard=trainer.shard
        ),
        train_set.num_batches(batch_size),
        validate=validate,
    )
    session = time.perf_counter() - start
    ckpt.load_weights(model, run_dir / ckpt.BEST)
    start = time.perf_counter()
    test_tags = predict_tags(model, prepared.datasets["test"], prepared.vocab.tags, trainer.device)
    tag_seconds = time.perf_counter() - start
    test = scores([s.tags for s in prepared.sentences["test"]], test_tags)
    best_row = max(trainer.history, key=lambda row: row["val_f1"])
    results = {
        "test": test,
        "best_val_f1": best_row["val_f1"],
        "best_epoch": best_row["epoch"],
        "best_elapsed_seconds": best_row["elapsed"],
        "epochs": trainer.epoch,
        "train_seconds_total": trainer.elapsed,
        "train_seconds_this_session": session,
        "test_sentences": len(test_tags),
        "test_tag_seconds": tag_seconds,
        "parameters": sum(p.numel() for p in model.parameters()),
        "trained_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
    if trainer.writes:
        ckpt.save_json(results, run_dir / RESULTS_FILE)
    return results


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
