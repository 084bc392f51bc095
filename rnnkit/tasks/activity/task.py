"""Activity recognition (issue 28): a clip's action and every frame's label, from body skeletons or
any multichannel sequences, on the sequence core.

One model gives both answers. A :class:`~rnnkit.models.sequence.SequenceModel` with the ``frame``
head (a bidirectional recurrent encoder, so each frame's state has seen the whole clip) gives class
probabilities per frame, ``p_t = softmax(y_t)``; the clip's are their mean over its real frames::

    p_clip = (1/n) sum_{t <= n} p_t              loss = (1/B) sum_b (1/n_b) sum_t -log p_{b,t}[c_b]

Training gives every frame its clip's label and weighs each clip alike (a mean over its frames),
so a 900-frame clip counts as much as a 13-frame one. The labels of the frames are then the
synced many-to-many answer (what the model takes the action to be at each frame), the mean the
many-to-one answer.

Inputs (:class:`Inputs`): the MSR Action3D folder (``msr``: a subset, the cross-subject split of
:mod:`.data`, the skeleton adapter of :mod:`.skeleton`), a ``.ts`` training file and its test file
(``ts``), or a folder of ``LABEL/*.csv`` (``csv``: a stratified split, seeded). Multichannel inputs
are standardised per channel with the training part's mean and standard deviation; the run keeps
them, the class names and what it read in ``adapter.json``.

With ``fusion`` > 0 the run also fits the logistic baseline of :mod:`.logistic` on its training
clips (``logistic.json``) and answers each clip ``(1 - fusion) * p_clip + fusion * p_logistic``
(late fusion); the frames' labels stay the RNN's. With ``dtw`` > 0 it also keeps its training clips'
features (``dtw.npz``) and adds the 1-NN DTW answer of :mod:`.dtw`:
``(1 - fusion - dtw) * p_clip + fusion * p_logistic + dtw * p_DTW``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...data.locate import DataError
from ...data.multichannel import read_csv_folder, read_ts
from ...data.sequences import FeatureSequences, SequenceBatch
from ...errors import ConfigError
from ...models.sequence import SequenceModel, SequenceModelConfig, probabilities
from ...nn.masking import lengths_to_mask
from ...train import RunKind, TrainConfig, Trainer, cosine, folds
from ...train import checkpoint as ckpt
from ...train.cv import Split, Splits, stratified_holdout
from ...train.metrics import classification_scores
from ...train.template import RESULTS_FILE, Fit, Recipe, train_run
from .data import ACTIONS, SUBSETS, TRAIN_SUBJECTS, cross_subject, read_msr
from .dtw import DTW_FILE, DTWReference, fuse3
from .logistic import LOGISTIC_FILE, Logistic
from .parts import PartModel, part_columns
from .skeleton import AugmentConfig, SkeletonConfig, augment, features, normalise

SPLITS_FILE, ADAPTER_FILE = "splits.json", "adapter.json"
EVAL_BATCH, EVAL_TOKENS = 256, 65_536  # inference: at most 256 clips, 65,536 frames a batch
KINDS = ("msr", "ts", "csv")


@dataclass
class ActivityConfig:
    subset: str = "AS1"  # MSR Action3D: AS1 | AS2 | AS3 | all
    # MSR: a training subject that validates; 0: a stratified tenth; -1: none, every training clip
    # trains (then train.monitor=loss: the weights of the epoch of least training loss)
    validation_subject: int = 0
    # MSR: one model per training subject held out to validate, or with validation_subject=-1,
    # `members` models on every training clip, seeds train.seed + 0, 1, ...; the mean of their answers
    ensemble: bool = False
    members: int = 5
    fold: int = 0  # in an ensemble member's own run, which member (1..5); 0 otherwise
    validation_share: float = 0.1  # ts / csv: of the training part, to choose the best epoch
    test_share: float = 0.2  # csv: the stratified share that tests
    split_seed: int = 0
    # skeletons: Hp, the units per direction of each body part's BiRNN (.parts, Du et al. 2015's
    # hierarchy, the model's hidden_size then the whole body's); 0: one encoder over all the joints
    parts: int = 0
    # the logistic baseline's weight in the clip's answer (late fusion, :mod:`.logistic`), fitted on
    # the run's training clips: (1 - fusion) * RNN + fusion * logistic; 0: the RNN alone
    fusion: float = 0.0
    # 1-NN DTW's weight in the clip's answer (:mod:`.dtw`), against the run's training clips:
    # (1 - fusion - dtw) * RNN + fusion * logistic + dtw * DTW; and its softmax's sharpness
    # (tau = the clip's median class distance / dtw_sharpness)
    dtw: float = 0.0
    dtw_sharpness: float = 1.0
    skeleton: SkeletonConfig = field(default_factory=SkeletonConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: SequenceModelConfig = field(
        default_factory=lambda: SequenceModelConfig(input_size=60, head="frame")
    )
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.subset not in SUBSETS:
            raise ConfigError(f"subset must be one of {', '.join(SUBSETS)}, got {self.subset!r}")
        if self.members < 1 or self.validation_subject < -1:
            raise ConfigError(
                "members must be >= 1 and validation_subject >= -1, got "
                f"{self.members}, {self.validation_subject}"
            )
        if not 0 <= self.fusion < 1:
            raise ConfigError(f"fusion (the logistic's weight) must be in [0, 1), got {self.fusion}")
        if not 0 <= self.dtw < 1 - self.fusion:
            raise ConfigError(
                f"dtw (DTW's weight) must be in [0, 1 - fusion) = [0, {1 - self.fusion:g}) so that the RNN "
                f"keeps a weight, got dtw={self.dtw} with fusion={self.fusion}"
            )
        if not self.dtw_sharpness > 0:
            raise ConfigError(f"dtw_sharpness must be > 0, got {self.dtw_sharpness}")
        for name in ("validation_share", "test_share"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in (0, 1), got {getattr(self, name)}")


PRESETS: dict[str, ActivityConfig] = {
    # chosen by leave-one-training-subject-out validation on AS1-AS3, never their test subjects
    # (benchmarks/activity_sweep.py, docs/activity.md); one model, subject 9 validates
    "fast": ActivityConfig(
        validation_subject=9,
        skeleton=SkeletonConfig(centre="frame", scale=True, rotate=True, velocity=True, bones=True),
        augment=AugmentConfig(rotate_deg=15.0, scale=0.1, stretch=0.2),
        model=SequenceModelConfig(input_size=177, head="frame", hidden_size=64, projection=64, dropout=0.3),
        train=cosine(50, 16, 3e-3, warmup=0.05),
    ),
}
# the same, five members trained on every training subject, each with its own seed, each kept at its
# last epoch (the sweep: the last epoch does on a held-out subject what the best one would)
PRESETS["ensemble"] = dataclasses.replace(
    PRESETS["fast"],
    validation_subject=-1,
    ensemble=True,
    members=5,
    train=cosine(50, 16, 3e-3, warmup=0.05, monitor="loss"),
)
# the same, each clip's answer half the members' mean, half the logistic baseline's (the weight chosen
# on held-out training subjects among 0, 0.25, 0.5, 0.75: benchmarks/activity_sweep.py --fuse)
PRESETS["fused"] = dataclasses.replace(PRESETS["ensemble"], fusion=0.5)
# the same, a quarter the members' mean, a quarter the logistic's, half 1-NN DTW's with tau a quarter
# of the median (chosen on held-out training subjects over two grids: activity_sweep.py --fuse3
# --dtw-sharpness, docs/activity.md "Three-way fusion")
PRESETS["fused3"] = dataclasses.replace(PRESETS["ensemble"], fusion=0.25, dtw=0.5, dtw_sharpness=4.0)

RUNS = RunKind(
    "activity",
    ActivityConfig,
    PRESETS,
    may_change=("train.epochs",),
    from_data=("model.input_size", "model.num_classes"),
    files=(SPLITS_FILE, ADAPTER_FILE, RESULTS_FILE, LOGISTIC_FILE),
    folders=(folds.FOLDS,),
)


def preset(name: str) -> ActivityConfig:
    return RUNS.preset(name)


def build_model(config: ActivityConfig) -> nn.Module:
    if config.parts:
        return PartModel(config.model, part_columns(config.skeleton), config.parts)
    return SequenceModel(config.model)


@dataclass
class Inputs:
    """What a run reads: ``kind`` msr (``data``: the folder), ts (``data``: the training file,
    ``test``: the test file) or csv (``data``: the folder)."""

    kind: str
    data: str
    test: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"inputs must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if (self.kind == "ts") != (self.test is not None):
            raise ConfigError("a .ts run needs its test file (--test TEST.ts); only a .ts run takes one")


@dataclass
class Adapter:
    """How a run turns a file into features: ``skeleton`` (the config's :class:`SkeletonConfig`)
    or ``channels`` (standardised with ``mean`` and ``std``), and the class names."""

    input: str  # "skeleton" | "channels"
    classes: list[str]
    inputs: dict[str, Any]
    mean: list[float] | None = None
    std: list[float] | None = None

    def channels(self, x: np.ndarray) -> np.ndarray:
        """(T, C) -> (T, C) float32, standardised."""
        if x.shape[1] != len(self.mean):
            raise DataError(f"the run reads {len(self.mean)} channels per step, the input has {x.shape[1]}")
        return ((x - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    def save(self, path: Path) -> None:
        ckpt.save_json(dataclasses.asdict(self), path)

    @classmethod
    def load(cls, path: Path) -> Adapter:
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ckpt.CheckpointError(f"no {path.name} in {path.parent}") from None


@dataclass
class ActivityData:
    adapter: Adapter
    splits: Splits
    train: FeatureSequences
    validation: FeatureSequences
    test: FeatureSequences
    joints: list[np.ndarray] | None = None  # the training clips' normalised joints (augmentation)
    names: list[str] = field(default_factory=list)  # every clip's name, in the splits' indexing


def load_inputs(inputs: Inputs, config: ActivityConfig, saved: Splits | None = None) -> ActivityData:
    """The data of a run: read, split (or the saved split), adapted to features."""
    if inputs.kind == "msr":
        corpus = read_msr(inputs.data, config.subset)
        actions = SUBSETS[config.subset]
        labels = np.searchsorted(actions, corpus.actions)  # (N,) 0..C-1 in the subset's order
        held = {0: (), -1: None}.get(config.validation_subject, (config.validation_subject,))
        splits = saved or cross_subject(corpus.subjects, labels, held, corpus.source)
        splits.check_source(len(labels), corpus.source, SPLITS_FILE)
        joints = [normalise(s, config.skeleton) for s in corpus.skeletons]
        adapter = Adapter("skeleton", [ACTIONS[a - 1] for a in actions], dataclasses.asdict(inputs))
        everything = FeatureSequences([features(P, config.skeleton) for P in joints], labels)
        data = _split(adapter, splits, everything, corpus.names)
        data.joints = [joints[i] for i in splits[0].train]
        return data
    if inputs.kind == "ts":
        train, test = read_ts(inputs.data), read_ts(inputs.test)
        names = [*train.names, *test.names]
        raw = [*train.features, *test.features]
        labels = np.concatenate([train.label_ids(), test.label_ids(train.classes)])
        n = len(train.features)
        if saved is None:
            inner = stratified_holdout(
                labels[:n],
                max(len(train.classes), round(config.validation_share * n)),
                config.split_seed,
                0.0,
            )[0]  # its "test" part validates, the rest trains
            saved = Splits("ts-files", config.split_seed, len(labels), "", [
                Split(inner.train, inner.test, np.arange(n, len(labels)))
            ])  # fmt: skip
        classes = train.classes
    else:
        corpus = read_csv_folder(inputs.data)
        names, raw, classes = corpus.names, corpus.features, corpus.classes
        labels = corpus.label_ids()
        saved = saved or stratified_holdout(
            labels, max(len(classes), round(config.test_share * len(labels))), config.split_seed,
            config.validation_share,
        )  # fmt: skip
    train_rows = np.concatenate([raw[i] for i in saved[0].train])  # (sum T, C)
    std = train_rows.std(axis=0)
    adapter = Adapter(
        "channels", list(classes), dataclasses.asdict(inputs), train_rows.mean(axis=0).tolist(),
        np.where(std > 0, std, 1.0).tolist(),
    )  # fmt: skip
    everything = FeatureSequences([adapter.channels(x) for x in raw], labels)
    return _split(adapter, saved, everything, names)


def _split(adapter: Adapter, splits: Splits, everything: FeatureSequences, names: list[str]) -> ActivityData:
    split = splits[0]
    parts = (everything.subset(p) for p in (split.train, split.validation, split.test))
    return ActivityData(adapter, splits, *parts, names=names)


# -- the model's two answers and its training step --------------------------------------------------


def frame_log_probs(model: nn.Module, batch: SequenceBatch) -> Tensor:
    """(B, T, C): log p_t of every frame (padded frames: whatever the bias gives; mask them)."""
    return F.log_softmax(model(batch.features, batch.lengths), dim=-1)


def clip_probs(log_probs: Tensor, lengths: Tensor) -> Tensor:
    """(B, T, C) frame log-probabilities -> (B, C): the mean of p_t over each clip's real frames."""
    valid = lengths_to_mask(lengths.to(log_probs.device), log_probs.shape[1])[:, :, None]  # (B, T, 1)
    return (log_probs.exp() * valid).sum(dim=1) / lengths.to(log_probs)[:, None]  # (B, C)


def step(model: nn.Module, batch: SequenceBatch) -> tuple[Tensor, dict[str, float], int]:
    """Every frame trained on its clip's label, each clip weighed alike; accuracy of the clips."""
    log_probs = frame_log_probs(model, batch)  # (B, T, C)
    B, T, _ = log_probs.shape
    valid = lengths_to_mask(batch.lengths.to(log_probs.device), T)  # (B, T)
    chosen = log_probs.gather(2, batch.labels[:, None, None].expand(B, T, 1))[..., 0]  # (B, T)
    per_clip = -(chosen * valid).sum(dim=1) / batch.lengths.to(log_probs)  # (B,)
    correct = (clip_probs(log_probs, batch.lengths).argmax(dim=1) == batch.labels).sum().item()
    return per_clip.mean(), {"accuracy": correct}, B


def predict_frames(
    models: list[nn.Module], dataset: FeatureSequences, progress: Callable[[int, int], None] | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each sequence, in order: (C,) clip probabilities and (T, C) frame probabilities, the mean
    over ``models`` (an ensemble's members), through the core's one inference loop."""
    frames = probabilities(models, dataset, progress, EVAL_BATCH, EVAL_TOKENS)  # each (T_i, C)
    return [(p.mean(axis=0), p) for p in frames]


def answer_clips(
    models: list,
    clips: FeatureSequences,
    logistic: Logistic | None = None,
    fusion: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    *,
    reference: DTWReference | None = None,
    dtw: float = 0.0,
    sharpness: float = 1.0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(clip probabilities (C,), frame probabilities (T, C)) for each clip, in order: the models'
    (:func:`predict_frames`), the clip's fused with ``logistic``'s and ``reference``'s DTW answer
    when there are any, ``(1 - fusion - dtw) * RNN + fusion * logistic + dtw * DTW``; the frames
    stay the RNN's."""
    answers = list(predict_frames(models, clips, progress))
    if (logistic is None and reference is None) or not answers:
        return answers
    rnn = np.stack([clip for clip, _ in answers])  # (N, C)
    x = list(clips.features)
    p_logistic = logistic.probs(x) if logistic is not None else None  # (N, C)
    p_dtw = reference.probs(x, sharpness) if reference is not None else None  # (N, C)
    fused = fuse3(rnn, p_logistic, p_dtw, fusion if logistic is not None else 0.0,
                  dtw if reference is not None else 0.0)  # fmt: skip
    return [(p, frames) for p, (_, frames) in zip(fused, answers)]


def scored_probs(
    config: ActivityConfig, models: list[nn.Module], data: ActivityData, run_dir: Path
) -> np.ndarray:
    """(N, C): the test clips' probabilities, the models' mean, fused with the run's saved logistic
    when ``config.fusion`` > 0 and its DTW reference when ``config.dtw`` > 0 (what evaluate and
    predict give)."""
    run_dir = Path(run_dir)
    logistic = Logistic.load(run_dir / LOGISTIC_FILE) if config.fusion else None
    reference = DTWReference.load(run_dir / DTW_FILE) if config.dtw else None
    answers = answer_clips(
        models, data.test, logistic, config.fusion,
        reference=reference, dtw=config.dtw, sharpness=config.dtw_sharpness,
    )  # fmt: skip
    return np.stack([clip for clip, _ in answers])  # (N, C)


# -- the run template -------------------------------------------------------------------------------


class ActivityRecipe(Recipe[ActivityConfig, ActivityData]):
    runs = RUNS

    def __init__(self, inputs: Inputs, split: Splits | None = None) -> None:
        self.inputs, self.split = inputs, split  # split: an ensemble member's, else made from the data

    def load_saved(self, run_dir: Path, config: ActivityConfig) -> Splits:
        return Splits.load(run_dir / SPLITS_FILE)

    def prepare(self, config: ActivityConfig, saved: Splits | None) -> ActivityData:
        return load_inputs(self.inputs, config, saved or self.split)

    def decide(self, config: ActivityConfig, data: ActivityData) -> ActivityConfig:
        model = dataclasses.replace(
            config.model,
            input_size=data.train.feature_size,
            num_classes=len(data.adapter.classes),
            head="frame",
        )
        if config.parts and data.adapter.input != "skeleton":
            raise ConfigError("parts splits a skeleton into body parts; --ts and --csv runs take parts=0")
        train = config.train
        if config.fold and config.validation_subject == -1:  # a seeded member: its own seed
            train = dataclasses.replace(train, seed=train.seed + config.fold - 1)
        return dataclasses.replace(config, model=model, train=train)

    def save_new(self, config: ActivityConfig, data: ActivityData, run_dir: Path) -> None:
        data.splits.save(run_dir / SPLITS_FILE)
        data.adapter.save(run_dir / ADAPTER_FILE)
        num_classes = len(data.adapter.classes)
        if config.fusion:
            logistic = Logistic.fit(list(data.train.features), data.train.labels, num_classes)
            logistic.save(run_dir / LOGISTIC_FILE)
        if config.dtw:
            DTWReference(list(data.train.features), data.train.labels, num_classes).save(run_dir / DTW_FILE)

    def build(self, config: ActivityConfig, data: ActivityData) -> nn.Module:
        torch.manual_seed(config.train.seed)  # a seeded member's own (decide gave it), else the run's
        return build_model(config)

    def step(self, config: ActivityConfig):
        return step

    def fit(self, config: ActivityConfig, data: ActivityData, trainer: Trainer, model: nn.Module) -> Fit:
        batch_size, seed = config.train.batch_size, config.train.seed

        def train(epoch: int) -> Iterable[SequenceBatch]:
            dataset = data.train
            if config.augment.on and data.joints is not None:  # a fresh draw each epoch, seeded
                rng = np.random.default_rng([seed, epoch])
                clips = [features(augment(P, config.augment, rng), config.skeleton) for P in data.joints]
                dataset = FeatureSequences(clips, data.train.labels)
            return dataset.batches(batch_size, shuffle=True, seed=seed * 1000 + epoch)

        validation = lambda: data.validation.batches(EVAL_BATCH, token_budget=EVAL_TOKENS)  # noqa: E731
        return Fit(train, data.train.num_batches(batch_size), validation if len(data.validation) else None)

    def test(self, config: ActivityConfig, data: ActivityData, trainer: Trainer, model: nn.Module) -> dict:
        probs = scored_probs(config, [model], data, trainer.run_dir)
        result = classification_scores(probs, data.test.labels, data.adapter.classes)
        return {
            "test_accuracy": result["accuracy"],
            "test_loss": result["loss"],
            "sizes": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)},
        }


def train(
    config: ActivityConfig,
    inputs: Inputs,
    run_dir: str | Path,
    callbacks: Iterable[Any] = (),
    resume: bool = True,
) -> dict[str, Any]:
    """Train (or resume) the run in ``run_dir``: one model, or with ``config.ensemble`` (MSR) an
    ensemble (:func:`_train_ensemble`); returns the results (also in ``results.json``)."""
    if config.ensemble:
        return _train_ensemble(config, inputs, Path(run_dir), callbacks, resume)
    folds.refuse_overwrite(RUNS, config, run_dir, resume)
    return train_run(ActivityRecipe(inputs), config, run_dir, callbacks, resume)


def _train_ensemble(config: ActivityConfig, inputs: Inputs, run_dir: Path, callbacks, resume: bool) -> dict:
    """One member per training subject (five on MSR Action3D), member k validated on that subject
    and trained on the others (RUN/folds/0k, through :func:`rnnkit.train.folds.cross_validate`), or
    with ``validation_subject=-1`` ``members`` members trained on every training clip, member k
    seeded ``train.seed + k - 1``; the test clips, the same for all, get the mean of the members'
    probabilities. No epoch is chosen on a test subject."""
    if inputs.kind != "msr":
        raise ConfigError(
            "ensemble holds out training subjects: it reads MSR Action3D (--data), not --ts/--csv"
        )
    corpus = read_msr(inputs.data, config.subset)
    labels = np.searchsorted(SUBSETS[config.subset], corpus.actions)
    if config.validation_subject == -1:  # seeded members, all on the same split
        one = [cross_subject(corpus.subjects, labels, None, corpus.source)[0]] * config.members
        names = [f"seed {config.train.seed + k}" for k in range(config.members)]
    else:
        held = [v for v in TRAIN_SUBJECTS if v in corpus.subjects]  # each training subject there is
        one = [cross_subject(corpus.subjects, labels, (v,), corpus.source)[0] for v in held]
        names = [f"validated on s{v:02d}" for v in held]
        config = dataclasses.replace(config, validation_subject=0)
    splits = Splits("cross-subject", 0, len(labels), corpus.source, one, names)
    results = folds.cross_validate(
        RUNS, config, splits, lambda split: ActivityRecipe(inputs, split), run_dir, callbacks, resume
    )
    shutil.copy(folds.fold_dir(run_dir, 1) / ADAPTER_FILE, run_dir / ADAPTER_FILE)
    members = [RUNS.load_model(d, build_model)[0] for d in folds.members(RUNS, run_dir)]
    data = load_inputs(inputs, RUNS.load_config(folds.fold_dir(run_dir, 1)), splits.only(0))
    # every training clip (each member's validation subject included)
    clips = [*data.train.features, *data.validation.features]
    labels = np.concatenate([data.train.labels, data.validation.labels])
    if config.fusion:
        Logistic.fit(clips, labels, len(data.adapter.classes)).save(run_dir / LOGISTIC_FILE)
    if config.dtw:
        DTWReference(clips, labels, len(data.adapter.classes)).save(run_dir / DTW_FILE)
    probs = scored_probs(config, members, data, run_dir)
    scored = classification_scores(probs, data.test.labels, data.adapter.classes)
    results.update(test_accuracy=scored["accuracy"], test_loss=scored["loss"])
    trained = len(data.train) + len(data.validation)
    results["sizes"] = {"train": trained, "validation": 0, "test": len(data.test)}
    ckpt.save_json(results, run_dir / RESULTS_FILE)
    return results


__all__ = [
    "ADAPTER_FILE",
    "PRESETS",
    "RUNS",
    "SPLITS_FILE",
    "ActivityConfig",
    "ActivityData",
    "ActivityRecipe",
    "Adapter",
    "Inputs",
    "build_model",
    "clip_probs",
    "frame_log_probs",
    "load_inputs",
    "predict_frames",
    "preset",
    "step",
    "train",
]
