"""Splice junctions from nucleotides (issue 27): the DNA task on the sequence core.

A 60-nt window is read as ``(60, 4)`` base features (:mod:`.data`) by a
:class:`~rnnkit.models.sequence.SequenceModel` with the clip head (many-to-one), three classes:
EI (exon->intron, a donor site), IE (intron->exon, an acceptor site), N (neither).

Two evaluations, both on splits made once, seeded and recorded in the run (``splits.json``,
:mod:`rnnkit.train.cv`), so that baselines can be scored on the very same items:

- ``train`` alone: the quick check, a stratified 2,000 / 1,190 train/test split (200 of the 2,000
  choose the best epoch);
- ``train`` with ``cv=10``: stratified 10-fold cross-validation, the headline. The run directory
  holds the folds' splits and one run per fold (``folds/01`` ... ``folds/10``, each a run of the
  template with its own ``splits.json``), and ``results.json`` the mean and the sample standard
  deviation of the folds' test accuracies. Run the same command again and finished folds are kept,
  an interrupted one resumes.

A run predicts with its model; a cross-validated run with the mean of its folds' probabilities.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ...data.sequences import FeatureSequences
from ...errors import ConfigError, InputError
from ...models.sequence import SequenceModel, SequenceModelConfig, make_step
from ...models.sequence import probabilities as sequence_probabilities
from ...train import RunKind, TrainConfig, Trainer, cosine, folds
from ...train.cv import Splits, mean_sd, stratified_holdout, stratified_kfold
from ...train.folds import FOLDS, SPLITS_FILE, fold_dir
from ...train.metrics import classification_scores
from ...train.template import RESULTS_FILE, Fit, Recipe, train_run
from .data import CLASSES, SpliceData, encode, find, read_splice

EVAL_BATCH, EVAL_TOKENS = 512, 65_536  # inference batches: at most 512 sequences, 65,536 bases


@dataclass
class DnaConfig:
    test_size: int = 1190  # the quick split: 2,000 train / 1,190 test (of 3,190)
    validation_share: float = 0.1  # of each training part, to choose the best epoch
    split_seed: int = 0  # the splits' seed (the training's is train.seed)
    cv: int = 0  # 0: the quick split; K >= 2: stratified K-fold cross-validation
    fold: int = 0  # in a fold's own run, which fold (1..cv); 0 otherwise
    label_smoothing: float = 0.0
    model: SequenceModelConfig = field(
        default_factory=lambda: SequenceModelConfig(input_size=4, num_classes=len(CLASSES))
    )
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.cv == 1 or self.cv < 0:
            raise ConfigError(
                f"cv must be 0 (the 2,000/1,190 split) or a number of folds >= 2, got {self.cv}"
            )
        if not 0 < self.validation_share < 1:
            raise ConfigError(f"validation_share must be in (0, 1), got {self.validation_share}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")


PRESETS: dict[str, DnaConfig] = {
    # A BiLSTM(32) over the one-hot bases, read where its two directions meet, at the junction in
    # the middle of the window ("center": max or mean pooling stayed near 90% on the validation
    # part); chosen on the 2,000/1,190 split's validation part, never its test (docs/dna.md).
    "fast": DnaConfig(
        model=SequenceModelConfig(
            input_size=4, num_classes=len(CLASSES), hidden_size=32, pooling="center", dropout=0.2
        ),
        train=cosine(30, 32, 3e-3, warmup=0.05),
    ),
}

RUNS = RunKind(
    "dna",
    DnaConfig,
    PRESETS,
    may_change=("train.epochs",),
    from_data=("model.input_size", "model.num_classes"),
    files=(SPLITS_FILE, RESULTS_FILE),
    folders=(FOLDS,),
)


def preset(name: str) -> DnaConfig:
    return RUNS.preset(name)


def build_model(config: DnaConfig) -> SequenceModel:
    return SequenceModel(config.model)


def resolved(config: DnaConfig) -> DnaConfig:
    """The model reads 4 base features and tells the data's classes, whatever a preset says."""
    model = dataclasses.replace(config.model, input_size=4, num_classes=len(CLASSES), head="clip")
    return dataclasses.replace(config, model=model)


# -- one model: the run template --------------------------------------------------------------------


@dataclass
class DnaData:
    splits: Splits  # the run's own: one split
    train: FeatureSequences
    validation: FeatureSequences
    test: FeatureSequences


class DnaRecipe(Recipe[DnaConfig, DnaData]):
    """One model on one split: the quick split, or a fold given by :func:`train` with ``config.cv``."""

    runs = RUNS

    def __init__(
        self, data: str | Path | None, split: Splits | None = None, corpus: SpliceData | None = None
    ):
        self.data, self.split, self.corpus = data, split, corpus
        self.where: str | Path = SPLITS_FILE  # named in an error: the splits of a resumed run

    def load_saved(self, run_dir: Path, config: DnaConfig) -> Splits:
        self.where = run_dir / SPLITS_FILE
        return Splits.load(self.where)

    def prepare(self, config: DnaConfig, saved: Splits | None) -> DnaData:
        corpus = self.corpus or read_splice(find(self.data))
        splits = saved or self.split
        if splits is None:
            splits = stratified_holdout(
                corpus.labels, config.test_size, config.split_seed, config.validation_share, corpus.source
            )
        splits.check_source(len(corpus.labels), corpus.source, self.where)
        everything = FeatureSequences(corpus.features, corpus.labels)
        split = splits[0]
        return DnaData(
            splits, *(everything.subset(part) for part in (split.train, split.validation, split.test))
        )

    def save_new(self, config: DnaConfig, data: DnaData, run_dir: Path) -> None:
        data.splits.save(run_dir / SPLITS_FILE)

    def build(self, config: DnaConfig, data: DnaData) -> SequenceModel:
        return build_model(config)

    def step(self, config: DnaConfig):
        return make_step(config.model, config.label_smoothing)

    def fit(self, config: DnaConfig, data: DnaData, trainer: Trainer, model: nn.Module) -> Fit:
        batch_size, seed = config.train.batch_size, config.train.seed
        return Fit(
            lambda epoch: data.train.batches(batch_size, shuffle=True, seed=seed * 1000 + epoch),
            data.train.num_batches(batch_size),
            lambda: data.validation.batches(EVAL_BATCH, token_budget=EVAL_TOKENS),
        )

    def test(self, config: DnaConfig, data: DnaData, trainer: Trainer, model: nn.Module) -> dict[str, Any]:
        probs = probabilities([model], data.test)
        result = scores(probs, data.test.labels)
        return {
            "test_accuracy": result.pop("accuracy"),
            "test_loss": result.pop("loss"),
            **{f"test_{name}": value for name, value in result.items()},
            "sizes": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)},
        }


def train(
    config: DnaConfig,
    data: str | Path | None,
    run_dir: str | Path,
    callbacks: Iterable[Any] = (),
    resume: bool = True,
) -> dict[str, Any]:
    """Train (or resume) the run in ``run_dir``: one model on the quick split, or with ``config.cv``
    that many stratified folds, made once (``splits.json``), each a run of the template in
    ``folds/NN`` (:func:`rnnkit.train.folds.cross_validate`); returns the results (also in
    ``results.json``)."""
    config, run_dir = resolved(config), Path(run_dir)
    if not config.cv:
        folds.refuse_overwrite(RUNS, config, run_dir, resume)
        return train_run(DnaRecipe(data), config, run_dir, callbacks, resume)
    corpus = read_splice(find(data))
    splits = stratified_kfold(
        corpus.labels, config.cv, config.split_seed, config.validation_share, corpus.source
    )
    return folds.cross_validate(
        RUNS, config, splits, lambda one: DnaRecipe(data, one, corpus), run_dir, callbacks, resume
    )


# -- scores, evaluation and prediction --------------------------------------------------------------


def probabilities(
    models: list[nn.Module], dataset: FeatureSequences, progress: Callable[[int, int], None] | None = None
) -> np.ndarray:
    """(N, C): each sequence's class probabilities, the mean over ``models`` (a cross-validated
    run's folds), in the dataset's order."""
    rows = sequence_probabilities(models, dataset, progress, EVAL_BATCH, EVAL_TOKENS)
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(CLASSES))


def scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy, loss, confusion and per-class scores in CLASSES' order (rnnkit.train.metrics)."""
    return classification_scores(probs, labels, CLASSES)


def members(run_dir: str | Path) -> list[Path]:
    """The runs that hold a model: the run itself, or a cross-validated run's folds."""
    return folds.members(RUNS, run_dir)


def evaluate(run_dir: str | Path, data: str | Path | None) -> dict[str, Any]:
    """Each model's accuracy on its own test part (the quick split's 1,190, or its fold), their mean
    and standard deviation, and the scores pooled over every tested sequence."""
    run_dir = Path(run_dir)
    corpus = read_splice(find(data))
    splits = Splits.load(run_dir / SPLITS_FILE)
    splits.check_source(len(corpus.labels), corpus.source, run_dir / SPLITS_FILE)
    everything = FeatureSequences(corpus.features, corpus.labels)
    start = time.perf_counter()
    accuracies, pooled, labels = [], [], []
    for split, member in zip(splits, members(run_dir)):
        model, _ = RUNS.load_model(member, build_model)
        test = everything.subset(split.test)
        probs = probabilities([model], test)
        accuracies.append(scores(probs, test.labels)["accuracy"])
        pooled.append(probs)
        labels.append(test.labels)
    mean, sd = mean_sd(accuracies)
    return {
        "kind": splits.kind,
        "folds": accuracies,
        "mean": mean,
        "sd": sd,
        "tested": int(sum(len(y) for y in labels)),
        "seconds": time.perf_counter() - start,
        **scores(np.concatenate(pooled), np.concatenate(labels)),
    }


class Predictor:
    """Class probabilities for DNA sequences, from a run (a cross-validated one: its folds' mean)."""

    def __init__(self, models: list[SequenceModel]) -> None:
        self.models = [model.eval() for model in models]

    @classmethod
    def from_run(cls, run_dir: str | Path) -> Predictor:
        return cls([RUNS.load_model(member, build_model)[0] for member in members(run_dir)])

    def __call__(
        self, entries: list[tuple[str, str]], progress: Callable[[int, int], None] | None = None
    ) -> list[dict[str, Any]]:
        """One answer per ``(name, sequence)``, in order: ``{"name", "length", "class",
        "probabilities"}``, or ``{"name", "error"}`` for a sequence that cannot be read (the others
        are answered all the same)."""
        answers: list[dict[str, Any]] = []
        features, where = [], []
        for name, sequence in entries:
            try:
                features.append(encode(sequence, name))
            except InputError as error:
                answers.append({"name": name, "error": str(error)})
                continue
            where.append(len(answers))
            answers.append({"name": name, "length": len(sequence)})
        if features:
            probs = probabilities(self.models, FeatureSequences(features), progress)
            for i, p in zip(where, probs):
                answers[i]["class"] = CLASSES[int(p.argmax())]
                answers[i]["probabilities"] = {name: float(v) for name, v in zip(CLASSES, p)}
        return answers


__all__ = [
    "EVAL_BATCH",
    "FOLDS",
    "PRESETS",
    "RUNS",
    "SPLITS_FILE",
    "DnaConfig",
    "DnaRecipe",
    "Predictor",
    "build_model",
    "evaluate",
    "fold_dir",
    "members",
    "preset",
    "probabilities",
    "scores",
    "train",
]
