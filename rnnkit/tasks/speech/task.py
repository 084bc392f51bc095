"""Speech recognition (issue 29) on the sequence core: log-mel frames -> BiGRU -> a clip or CTC head.

Three tasks, one config (``task``) each with its preset:

- ``digits``: FSDD isolated digits, many-to-one (the clip head), accuracy and confusion matrix;
- ``strings``: spliced FSDD digit strings (:func:`.data.make_strings`), CTC over the ten digits,
  digit error rate (the word error rate over digits);
- ``sentences``: speechocean762 read sentences, character CTC, CER and WER, greedy vs prefix beam
  search with and without a character n-gram LM trained on the training transcripts (``lm.json``).

FSDD runs test on the dataset's split (recordings 0-4) or, with ``speaker`` set, hold that speaker
out (one fold of leave-one-speaker-out). Validation: a seeded tenth of the training recordings
(FSDD) or of the training speakers (speechocean762). Every prepare checks that no test recording or
speaker (speechocean762, leave-one-speaker-out) occurs in training.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor, nn

from ...audio import AugmentConfig, FeatureConfig, MaskConfig, features, read_audio
from ...data.locate import DataError
from ...data.sequences import FeatureSequences
from ...decode.ngram import CharNgram
from ...errors import ConfigError
from ...models.sequence import SequenceModel, SequenceModelConfig, encoder_weights, make_step
from ...train import CountBar, RunKind, TrainConfig, Trainer, cosine, folds, seed_everything
from ...train.cv import Splits, fixed_split, leave_one_group_out
from ...train.template import RESULTS_FILE, Fit, Recipe, train_run
from . import data as corpora
from .augmented import MaskedSequences, training_sequences, voice_variants
from .scoring import (
    EVAL_BATCH,
    EVAL_STEPS,
    LM_FILE,
    LM_SOURCES_FILE,
    decode,
    error_rates,
    load_lm,
    outputs,
    score,
)

TASKS = ("digits", "strings", "sentences")


@dataclass
class SpeechConfig:
    task: str = "digits"  # "digits" | "strings" | "sentences"
    speaker: str = ""  # FSDD: hold this speaker out (a leave-one-speaker-out fold); "": recordings 0-4
    loso: bool = False  # FSDD: leave-one-speaker-out, one run per speaker in folds/NN
    fold: int = 0  # in a fold's own run, which fold (1..6); 0 otherwise
    features: FeatureConfig = field(default_factory=lambda: FeatureConfig(sample_rate=8000))
    masks: MaskConfig = field(default_factory=MaskConfig)  # SpecAugment on training batches
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # perturbed training voices (not strings)
    validation_share: float = 0.1  # of the training recordings (FSDD) or speakers (speechocean762)
    split_seed: int = 0  # validation draw and the strings (the training's seed is train.seed)
    train_strings: int = 3000
    test_strings: int = 500  # also the validation strings' count
    lm_order: int = 0  # CTC: the character n-gram of the beam search; 0 for none
    beam: int = 8  # CTC: prefix beam width used by evaluate and (without --beam) prediction
    lm_weight: float = 0.5
    bonus: float = 0.0  # per symbol, with the LM
    init: str = ""  # a speech run (e.g. sentences at these features) whose encoder starts this model
    model: SequenceModelConfig = field(default_factory=SequenceModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if (self.speaker or self.loso) and self.task == "sentences":
            raise ConfigError(
                "speaker and loso (leave-one-speaker-out) are for the FSDD tasks, not sentences"
            )
        if self.speaker and self.loso:
            raise ConfigError(f"give speaker={self.speaker!r} (one fold) or loso (every fold), not both")
        if not 0 < self.validation_share < 1:
            raise ConfigError(f"validation_share must be in (0, 1), got {self.validation_share}")
        if self.beam < 1 or self.lm_order < 0:
            raise ConfigError(f"beam must be >= 1 and lm_order >= 0, got {self.beam} and {self.lm_order}")

    @property
    def symbols(self) -> tuple[str, ...]:
        """The CTC symbols 1..C (for digits: the classes)."""
        return corpora.CHARACTERS if self.task == "sentences" else corpora.DIGIT_SYMBOLS

    def transcript(self, ids: Iterable[int]) -> str:
        """CTC symbol ids -> text: characters joined, digits separated by spaces."""
        glue = "" if self.task == "sentences" else " "
        return glue.join(self.symbols[i - 1] for i in ids)


FSDD_FEATURES = FeatureConfig(sample_rate=8000, n_mels=40, fmax=4000.0)
PRESETS: dict[str, SpeechConfig] = {
    "digits": SpeechConfig(
        task="digits",
        # chosen on the leave-one-speaker-out validation speakers (docs/speech.md): 20 MFCCs 81.2%
        # against 74.4% for the 40 log-mels (both with 4 voices of speed 0.15, warp 0.1), and these
        # 6 stronger, noisy voices 81.9% (83.6% with 1.6 minutes a fold instead of 1)
        features=dataclasses.replace(FSDD_FEATURES, cepstra=20),
        masks=MaskConfig(freq_masks=1, freq_width=6, time_masks=1, time_width=8),
        augment=AugmentConfig(variants=6, speed=0.2, warp=0.15, snr_db=20.0),
        model=SequenceModelConfig(
            input_size=20,
            projection=64,
            cell="lstm",
            hidden_size=64,
            head="clip",
            pooling="mean",
            num_classes=10,
            dropout=0.2,
        ),
        # 100 epochs (the log-mel preset: validation 99.26% against 97.04% after 30); the
        # time budget (--minutes) usually ends it first
        train=cosine(100, 32, 2e-3, warmup=0.05, monitor="val_accuracy"),
    ),
    "strings": SpeechConfig(
        task="strings",
        features=dataclasses.replace(FSDD_FEATURES, stack=3),
        train_strings=3000,
        masks=MaskConfig(freq_masks=1, freq_width=6, time_masks=2, time_width=5),
        model=SequenceModelConfig(
            input_size=120,
            projection=96,
            cell="lstm",
            hidden_size=96,
            num_layers=2,
            head="ctc",
            num_classes=10,
            dropout=0.1,
        ),
        train=cosine(20, 32, 2e-3, warmup=0.05),
    ),
    "sentences": SpeechConfig(
        task="sentences",
        features=FeatureConfig(sample_rate=16000, n_mels=40, stack=4),
        # the first run (dropout 0.15, no masks, 40 epochs) overfit: validation loss was lowest at
        # epoch 17 of 40 and rose after it (docs/speech.md); masks and dropout 0.3 against that
        masks=MaskConfig(freq_masks=2, freq_width=8, time_masks=2, time_width=5),
        lm_order=6,
        lm_weight=0.2,  # with bonus 1.0: chosen on the validation speakers (benchmarks/speech_lm_grid.py)
        bonus=1.0,
        model=SequenceModelConfig(
            input_size=160,
            projection=160,
            cell="lstm",
            hidden_size=128,
            num_layers=3,
            head="ctc",
            num_classes=len(corpora.CHARACTERS),
            dropout=0.3,
        ),
        train=cosine(60, 32, 1.5e-3, warmup=0.05),
    ),
}

RUNS = RunKind(
    "speech",
    SpeechConfig,
    PRESETS,
    may_change=("train.epochs", "train.time_limit", "beam", "lm_weight", "bonus"),
    from_data=("model.input_size", "model.num_classes"),
    files=(LM_FILE, LM_SOURCES_FILE, RESULTS_FILE, folds.SPLITS_FILE),
    folders=(folds.FOLDS,),
)


def preset(name: str) -> SpeechConfig:
    return RUNS.preset(name)


def resolved(config: SpeechConfig) -> SpeechConfig:
    """The model's input and outputs as the task and features decide, whatever the preset says."""
    head = "clip" if config.task == "digits" else "ctc"
    model = dataclasses.replace(
        config.model, input_size=config.features.size, num_classes=len(config.symbols), head=head
    )
    return dataclasses.replace(config, model=model)


def build_model(config: SpeechConfig) -> SequenceModel:
    return SequenceModel(config.model)


def pretrained_encoder(config: SpeechConfig) -> dict[str, Tensor]:
    """The encoder weights of the run ``config.init`` (its best weights), after checking that it
    reads the same features and has an encoder of the same shape (a ConfigError naming what
    differs): a model trained on another corpus, e.g. speechocean762's 250 voices, to start FSDD's."""
    pretrained, theirs = RUNS.load_model(config.init, build_model)
    if theirs.features != config.features:
        differ = [
            f"features.{f.name} {getattr(config.features, f.name)!r} here, "
            f"{getattr(theirs.features, f.name)!r} there"
            for f in dataclasses.fields(config.features)
            if getattr(config.features, f.name) != getattr(theirs.features, f.name)
        ]
        raise ConfigError(
            f"init={config.init!r} reads other features than this run: "
            + "; ".join(differ)
            + " (--set them to the pretrained run's)"
        )
    return encoder_weights(pretrained, config.model, config.init)


# -- data -------------------------------------------------------------------------------------------


@dataclass
class SpeechData:
    splits: Splits  # the run's own split, over the corpus's items (FSDD recordings or utterances)
    train: MaskedSequences
    validation: FeatureSequences
    test: FeatureSequences
    test_texts: list[str]  # references (CTC tasks)
    test_seconds: float
    lm_sentences: list[list[int]]  # the training transcripts as symbol ids
    sizes: dict[str, int]


FSDD_SOURCE, SPEECHOCEAN_SOURCE = "fsdd recordings", "speechocean762 train + test utterances"


def fsdd_splits(config: SpeechConfig, corpus: corpora.Fsdd) -> Splits:
    """FSDD's own split (validation: a tenth of the training recordings, stratified by digit), one
    leave-one-speaker-out fold (``speaker``), or all six (``loso``; validation: a whole other
    speaker)."""
    n, labels, seed, share = len(corpus.paths), corpus.digits, config.split_seed, config.validation_share
    if config.speaker or config.loso:
        every = leave_one_group_out(corpus.speakers, labels, seed, share, FSDD_SOURCE)
        if config.loso:
            return every
        corpus.speaker_split(config.speaker)  # an unknown speaker is an error naming the speakers
        return every.only(every.names.index(config.speaker))
    _, test = corpus.dataset_split()
    return fixed_split(test, n, labels, None, seed, share, FSDD_SOURCE, "recordings 0-4")


def check_fsdd_split(corpus: corpora.Fsdd, split, speaker_independent: bool) -> None:
    """No test recording (and, leaving speakers out, no test speaker) among the training ones."""
    learnt = np.concatenate([split.train, split.validation])
    corpora.check_disjoint(
        [corpus.paths[i].name for i in learnt], [corpus.paths[i].name for i in split.test], "recordings"
    )
    if speaker_independent:
        corpora.check_disjoint(corpus.speakers[learnt], corpus.speakers[split.test], "speakers")


def prepare(
    config: SpeechConfig,
    data: str | Path | None,
    fsdd: corpora.Fsdd | None = None,
    splits: Splits | None = None,
) -> SpeechData:
    """The run's three parts as features (and the LM's sentences); ``splits``: a fold's, or a
    resumed run's saved split."""
    if config.task == "sentences":
        return _prepare_sentences(config, data, splits)
    feats = config.features
    corpus = fsdd or corpora.read_fsdd(data)
    splits = splits or fsdd_splits(config, corpus)
    splits.check_source(len(corpus.paths), FSDD_SOURCE, folds.SPLITS_FILE)
    split = splits[0]
    check_fsdd_split(corpus, split, bool(config.speaker or config.fold))
    train, validation, test = split.train, split.validation, split.test
    if config.task == "digits":
        parts = [
            ([features(corpus.waves[i], feats) for i in p], corpus.digits[p])
            for p in (train, validation, test)
        ]
        seconds = sum(len(corpus.waves[i]) for i in test) / corpora.FSDD_RATE
        datasets = [FeatureSequences(x, labels=y) for x, y in parts]
        variants = _variants(corpus, train, config)
        texts: list[str] = [corpora.DIGIT_SYMBOLS[d] for d in corpus.digits[test]]
        lm_sentences: list[list[int]] = []
    else:
        variants = []
        seed = config.split_seed
        made = [
            corpora.make_strings(corpus, train, config.train_strings, seed),
            corpora.make_strings(corpus, validation, config.test_strings, seed + 1),
            corpora.make_strings(corpus, test, config.test_strings, seed + 2),
        ]
        used = [sorted({corpus.paths[i].name for s in m.sources for i in s}) for m in made]
        corpora.check_disjoint(used[0] + used[1], used[2], "recordings")  # the strings' sources, too
        datasets = [
            FeatureSequences([features(w, feats) for w in m.waves], targets=[d + 1 for d in m.digits])
            for m in made
        ]
        seconds = sum(len(w) for w in made[2].waves) / corpora.FSDD_RATE
        texts = [config.transcript(d + 1) for d in made[2].digits]
        lm_sentences = [(d + 1).tolist() for d in made[0].digits]
    train_set = _masked(datasets[0], config, variants)
    sizes = {"train": len(train_set), "validation": len(datasets[1]), "test": len(datasets[2])}
    return SpeechData(splits, train_set, datasets[1], datasets[2], texts, seconds, lm_sentences, sizes)


def speechocean_utterances(data: str | Path | None) -> tuple[corpora.Utterances, int]:
    """speechocean762's train and test parts as one list of utterances (train first), and where
    the test part starts."""
    train_part = corpora.read_speechocean(data, "train")
    test_part = corpora.read_speechocean(data, "test")
    corpora.check_disjoint(train_part.speakers, test_part.speakers, "speakers")
    everything = corpora.Utterances(
        *(a + b for a, b in zip(
            (train_part.ids, train_part.speakers, train_part.texts, train_part.paths),
            (test_part.ids, test_part.speakers, test_part.texts, test_part.paths),
        ))
    )  # fmt: skip
    return everything, len(train_part.ids)


def _prepare_sentences(config: SpeechConfig, data: str | Path | None, splits: Splits | None) -> SpeechData:
    """speechocean762's utterances (:func:`speechocean_utterances`); its test part is the split's
    test, and validation whole training speakers (rnnkit.train.cv.fixed_split)."""
    everything, first_test = speechocean_utterances(data)
    n = len(everything.ids)
    speakers = np.array(everything.speakers)
    splits = splits or _without_test_sentences(
        fixed_split(
            np.arange(first_test, n), n, None, speakers, config.split_seed, config.validation_share,
            SPEECHOCEAN_SOURCE, "test speakers",
        ),
        everything.texts,
    )  # fmt: skip
    splits.check_source(n, SPEECHOCEAN_SOURCE, folds.SPLITS_FILE)
    split = splits[0]
    learnt = np.concatenate([split.train, split.validation])
    corpora.check_disjoint(speakers[learnt], speakers[split.test], "speakers")
    texts = everything.texts  # normalised: upper case, no punctuation
    try:
        corpora.check_disjoint([texts[i] for i in learnt], [texts[i] for i in split.test], "sentences")
    except DataError as error:  # a split saved before _without_test_sentences: the run trained on them
        raise DataError(
            f"{error}; the run's split predates their removal: train it again with --restart"
        ) from None
    corpora.check_disjoint(speakers[split.train], speakers[split.validation], "speakers (validation)")
    rate = config.features.sample_rate

    def load(positions: np.ndarray, name: str) -> tuple[FeatureSequences, list]:
        part = everything.subset(positions.tolist())
        print(
            f"reading {len(part.paths):,} {name} recordings of speechocean762 ...",
            file=sys.stderr,
            flush=True,
        )
        bar, waves = CountBar(f"reading {name} audio", len(part.paths)), []
        for path in part.paths:
            waves.append(read_audio(path, rate, config.features.max_seconds))
            bar.update(len(waves))
        bar.close()
        ids = [np.array([config.symbols.index(c) + 1 for c in text]) for text in part.texts]
        return FeatureSequences([features(w, config.features) for w in waves], targets=ids), waves

    (train_set, waves), (validation_set, _), (test_set, test_waves) = (
        load(split.train, "training"), load(split.validation, "validation"), load(split.test, "test")
    )  # fmt: skip
    seconds = sum(len(w) for w in test_waves) / rate
    variants = (  # perturbed voices of the training speakers only, made once (seeded by position)
        voice_variants(waves, split.train, config.features, config.augment, config.train.seed)
        if config.augment.active
        else []
    )
    del waves, test_waves
    lm_sentences = [t.tolist() for t in train_set.targets]
    texts = [everything.texts[i] for i in split.test]
    sizes = {"train": len(train_set), "validation": len(validation_set), "test": len(test_set)}
    return SpeechData(
        splits,
        _masked(train_set, config, variants),
        validation_set,
        test_set,
        texts,
        seconds,
        lm_sentences,
        sizes,
    )


def _without_test_sentences(splits: Splits, texts: list[str]) -> Splits:
    """The split less its training and validation utterances of a sentence that the test reads:
    speechocean762's split is by speaker, yet some sentences are read on both sides (the test must
    be disjoint from training in its outputs too). ``texts`` are normalised (case, punctuation)."""
    split = splits[0]
    heard = {texts[i] for i in split.test}

    def unheard(part: np.ndarray) -> np.ndarray:
        return np.array([i for i in part if texts[i] not in heard], dtype=np.int64)

    kept = dataclasses.replace(split, train=unheard(split.train), validation=unheard(split.validation))
    return dataclasses.replace(splits, splits=[kept])


def _variants(corpus: corpora.Fsdd, positions: np.ndarray, config: SpeechConfig) -> list:
    """The perturbed copies of the recordings at ``positions``, made once per corpus and recipe
    (the folds of leave-one-speaker-out share them: copy k of a recording is the same in each)."""
    if not config.augment.active:
        return []
    key = (repr(config.features), repr(config.augment), config.train.seed)
    made = corpus.variants.setdefault(key, {})
    missing = [p for p in positions.tolist() if p not in made]
    waves = [corpus.waves[p] for p in missing]
    made.update(
        zip(missing, voice_variants(waves, missing, config.features, config.augment, config.train.seed))
    )
    return [made[p] for p in positions.tolist()]


def _masked(dataset: FeatureSequences, config: SpeechConfig, variants: list | None = None) -> MaskedSequences:
    return training_sequences(dataset, config.masks, config.features.bands, config.train.seed, variants)


# -- the run template -------------------------------------------------------------------------------


class SpeechRecipe(Recipe[SpeechConfig, SpeechData]):
    """One model on one split: FSDD's or speechocean762's, one held-out speaker, or a fold given by
    :func:`train` with ``loso``."""

    runs = RUNS

    def __init__(
        self, data: str | Path | None, fsdd: corpora.Fsdd | None = None, split: Splits | None = None
    ) -> None:
        self.data, self.fsdd, self.split = data, fsdd, split
        self.pretrained: dict[str, Tensor] | None = None  # a new run's encoder from config.init

    def load_saved(self, run_dir: Path, config: SpeechConfig) -> Splits:
        return Splits.load(run_dir / folds.SPLITS_FILE)

    def prepare(self, config: SpeechConfig, saved: Splits | None) -> SpeechData:
        if saved is None and config.init:  # a new run from a pretrained encoder (a resume has its own)
            self.pretrained = pretrained_encoder(config)
            seed_everything(config.train.seed)  # building it drew from the generator: start as without
        return prepare(config, self.data, self.fsdd, saved or self.split)

    def save_new(self, config: SpeechConfig, data: SpeechData, run_dir: Path) -> None:
        data.splits.save(run_dir / folds.SPLITS_FILE)
        if config.task != "digits" and config.lm_order:
            CharNgram(config.lm_order, len(config.symbols)).fit(data.lm_sentences).save(run_dir / LM_FILE)

    def build(self, config: SpeechConfig, data: SpeechData) -> SequenceModel:
        model = build_model(config)
        if self.pretrained is not None:
            missing, unexpected = model.load_state_dict(self.pretrained, strict=False)
            assert not unexpected and all(k.startswith("output.") for k in missing), (missing, unexpected)
        return model

    def step(self, config: SpeechConfig):
        return make_step(config.model)

    def fit(self, config: SpeechConfig, data: SpeechData, trainer: Trainer, model: nn.Module) -> Fit:
        batch_size, seed = config.train.batch_size, config.train.seed

        def epoch_batches(epoch: int):
            data.train.epoch = epoch
            return data.train.batches(batch_size, shuffle=True, seed=seed * 1000 + epoch)

        return Fit(
            epoch_batches,
            data.train.num_batches(batch_size),
            lambda: data.validation.batches(EVAL_BATCH, token_budget=EVAL_STEPS),
        )

    def test(
        self, config: SpeechConfig, data: SpeechData, trainer: Trainer, model: nn.Module
    ) -> dict[str, Any]:
        return {**score(config, model, data, load_lm(config, trainer.run_dir)), "sizes": data.sizes}


def train(
    config: SpeechConfig,
    data: str | Path | None,
    run_dir: str | Path,
    callbacks: Iterable[Any] = (),
    resume: bool = True,
    fsdd: corpora.Fsdd | None = None,
) -> dict[str, Any]:
    """Train (or resume) the run in ``run_dir`` and score it on its test part (``results.json``);
    with ``loso``, leave-one-speaker-out on FSDD: a run of the template per speaker in ``folds/NN``
    (:func:`rnnkit.train.folds.cross_validate`), the mean and sd of the folds' figures."""
    config, run_dir = resolved(config), Path(run_dir)
    if not config.loso:
        folds.refuse_overwrite(RUNS, config, run_dir, resume)
        return train_run(SpeechRecipe(data, fsdd), config, run_dir, callbacks, resume)
    corpus = fsdd or corpora.read_fsdd(data)
    metric = "test_accuracy" if config.task == "digits" else "test_wer"
    return folds.cross_validate(
        RUNS,
        config,
        fsdd_splits(config, corpus),
        lambda one: SpeechRecipe(data, corpus, one),
        run_dir,
        callbacks,
        resume,
        (metric,),
    )


__all__ = [
    "EVAL_BATCH",
    "LM_FILE",
    "PRESETS",
    "RUNS",
    "TASKS",
    "MaskedSequences",
    "SpeechConfig",
    "SpeechData",
    "SpeechRecipe",
    "build_model",
    "decode",
    "error_rates",
    "fsdd_splits",
    "outputs",
    "prepare",
    "preset",
    "pretrained_encoder",
    "resolved",
    "score",
    "speechocean_utterances",
    "train",
]
