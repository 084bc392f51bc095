"""IMDB sentiment (many-to-one): the lecture's TensorFlow tutorial, with exact masking and bucketing.

Presets:

- ``seed``: the lecture's model and recipe. Embedding(8185, 64) -> BiLSTM(64) -> Dense(64, relu)
  -> Dense(1) logit; binary cross-entropy; Adam 1e-4; batch 64; 10 epochs; subword vocabulary 8,185.
- ``seed-stacked``: BiLSTM(64, return_sequences) -> BiLSTM(32) -> Dense(64, relu) -> Dropout(0.5)
  -> Dense(1), same recipe.
- ``best``: see ``PRESETS["best"]`` and docs/RESULTS.md for the recipe and why.

A run directory holds the config, the tokenizer, the weights (safetensors), the history and the
curves; ``evaluate`` and ``predict`` rebuild everything from it.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import SequenceDataset, imdb
from ..data.batching import Batch, Shard, Share, in_order
from ..data.tokenizer import Tokenizer
from ..errors import ConfigError, InputError
from ..models import ClassifierConfig, SequenceClassifier
from ..train import RunKind, TrainConfig, Trainer, cosine, resolve_device, seed_everything
from ..train import checkpoint as ckpt
from ..train.template import RESULTS_FILE, Fit, Recipe, train_run
from ..train.trainer import evaluate as evaluate_model

TOKENIZER_FILE = "tokenizer.json"
MAX_CHARS = 100_000  # a review is cut to this many characters before tokenizing (memory bound)
# Evaluation and prediction: sorted by length, at most 256 reviews and 65,536 tokens (padding
# included) per batch, so the longest reviews come in small batches (rnnkit.data.batching).
EVAL_BATCH, EVAL_TOKENS = 256, 65_536

# The lecture's sample sentence (the tutorial's), then three of ours.
SAMPLES = (
    "The movie was cool. The animation and the graphics were out of this world. "
    "I would recommend this movie.",
    "The movie was not good. The animation and the graphics were terrible. I would not recommend this movie.",
    "This was the worst film I have ever seen, a complete waste of two hours.",
    "An absolute masterpiece: moving, funny and beautifully acted from start to finish.",
)


@dataclass
class SentimentConfig:
    tokenizer: str = "subword"  # "subword" (byte-level BPE) | "word"
    vocab_size: int = 8185
    max_tokens: int = 2000  # longer reviews keep their first max_tokens tokens: a memory bound (README)
    train_subset: int = 0  # train on this many reviews (0: all 22,500), for quick demos
    init: str = ""  # a pretrained run (rnnkit sentiment pretrain): its tokenizer, embedding and LSTMs
    init_lr_scale: float = 0.5  # the pretrained layers' learning rate, relative to the new head's
    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


PRESETS: dict[str, SentimentConfig] = {
    "seed": SentimentConfig(),
    "seed-stacked": SentimentConfig(model=ClassifierConfig(hidden_sizes=(64, 32), dropout=0.5)),
    # Max-pooling over time reads the whole review instead of two final states; a larger
    # vocabulary keeps whole words; lr 2e-3 with cosine decay converges in a few epochs.
    "best": SentimentConfig(
        vocab_size=16000,
        model=ClassifierConfig(
            vocab_size=16000, embed_dim=128, cell="gru", hidden_sizes=(96,), pooling="max", dropout=0.3
        ),
        train=cosine(4, 64, 2e-3, warmup=0.05, weight_decay=1e-4, monitor="val_accuracy"),
    ),
    # fine-tuning a pretrained run (rnnkit sentiment pretrain, preset imdb): its sizes, a new head
    "pretrained": SentimentConfig(
        vocab_size=16000,
        max_tokens=1000,
        model=ClassifierConfig(
            vocab_size=16000, embed_dim=128, cell="lstm", hidden_sizes=(256,), pooling="max", dropout=0.3
        ),
        train=cosine(4, 64, 2e-3, warmup=0.05, weight_decay=1e-4, monitor="val_accuracy"),
    ),
}


# The tokenizer learns the vocabulary, so a resume keeps the saved size; only the epochs may grow.
RUNS = RunKind(
    "sentiment",
    SentimentConfig,
    PRESETS,
    may_change=("train.epochs",),
    from_data=("vocab_size", "model.vocab_size"),
    files=(TOKENIZER_FILE, RESULTS_FILE),
)


def preset(name: str) -> SentimentConfig:
    return RUNS.preset(name)


def resolved(config: SentimentConfig) -> SentimentConfig:
    """The model's vocabulary follows the tokenizer's."""
    model = dataclasses.replace(config.model, vocab_size=config.vocab_size)
    return dataclasses.replace(config, model=model)


# -- the training step ---------------------------------------------------------------------------


def step(model: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, float], int]:
    logits = model(batch.tokens, batch.lengths).squeeze(1)  # (B,)
    # labels in the logits' dtype: float32 labels would compute a float64 model's loss in float32
    loss = F.binary_cross_entropy_with_logits(logits, batch.labels.to(logits.dtype))
    correct = ((logits > 0).float() == batch.labels).sum().item()
    return loss, {"accuracy": correct}, len(batch.labels)


# -- data ----------------------------------------------------------------------------------------


def encode(tokenizer: Tokenizer, texts: list[str], labels: list[int], max_tokens: int) -> SequenceDataset:
    return SequenceDataset(tokenizer.encode_batch([t[:MAX_CHARS] for t in texts]), labels, max_tokens)


@dataclass
class PreparedData:
    tokenizer: Tokenizer
    train: SequenceDataset
    validation: SequenceDataset
    test: SequenceDataset
    seconds: dict[str, float]


def prepare(config: SentimentConfig, data: str | None, tokenizer: Tokenizer | None = None) -> PreparedData:
    seconds = {}
    start = time.perf_counter()
    corpus = imdb.load(data)
    seconds["read"] = time.perf_counter() - start
    train = corpus.train
    if config.train_subset:
        order = np.random.default_rng(config.train.seed).permutation(len(train))
        train = train.subset(np.sort(order[: config.train_subset]))
    start = time.perf_counter()
    if tokenizer is None:
        tokenizer = Tokenizer.train(train.texts, config.tokenizer, config.vocab_size)
    seconds["tokenizer"] = time.perf_counter() - start
    start = time.perf_counter()
    datasets = [
        encode(tokenizer, split.texts, split.labels, config.max_tokens)
        for split in (train, corpus.validation, corpus.test)
    ]
    seconds["encode"] = time.perf_counter() - start
    return PreparedData(tokenizer, *datasets, seconds=seconds)


# -- runs ----------------------------------------------------------------------------------------


def build_model(config: SentimentConfig) -> SequenceClassifier:
    return SequenceClassifier(config.model)


class SentimentRecipe(Recipe[SentimentConfig, PreparedData]):
    """The sentiment task's parts for the run template (:func:`rnnkit.train.template.train_run`)."""

    runs = RUNS

    def __init__(self, data: str | None) -> None:
        self.data = data
        self.pretrained: dict[str, Tensor] | None = None  # a new run's start from config.init

    def load_saved(self, run_dir: Path, config: SentimentConfig) -> Tokenizer:
        return load_tokenizer(run_dir)

    def prepare(self, config: SentimentConfig, saved: Tokenizer | None) -> PreparedData:
        if saved is None and config.init:  # a new run from a pretrained one: its vocabulary, checked sizes
            self.pretrained, saved = pretrained_start(config)
            # building the LM drew from the generator: start the new head from the seed, as without it
            seed_everything(config.train.seed)
        return prepare(config, self.data, saved)

    def decide(self, config: SentimentConfig, data: PreparedData) -> SentimentConfig:
        vocab = data.tokenizer.vocab_size  # a new run: the vocabulary is the tokenizer's
        return dataclasses.replace(
            config, vocab_size=vocab, model=dataclasses.replace(config.model, vocab_size=vocab)
        )

    def save_new(self, config: SentimentConfig, data: PreparedData, run_dir: Path) -> None:
        data.tokenizer.save(run_dir / TOKENIZER_FILE)

    def build(self, config: SentimentConfig, data: PreparedData) -> SequenceClassifier:
        model = build_model(config)
        if self.pretrained is not None:  # a resume restores these weights with the rest
            model.load_state_dict(self.pretrained, strict=False)
        return model

    def param_groups(self, config: SentimentConfig, model: nn.Module) -> list[dict] | None:
        if not config.init:
            return None
        keys = pretrained_keys(model)
        named = list(model.named_parameters())
        return [
            {"params": [p for n, p in named if n not in keys]},
            {"params": [p for n, p in named if n in keys], "lr_scale": config.init_lr_scale},
        ]

    def step(self, config: SentimentConfig):
        return step

    def fit(self, config: SentimentConfig, data: PreparedData, trainer: Trainer, model: nn.Module) -> Fit:
        batch_size, seed, shard = config.train.batch_size, config.train.seed, trainer.shard
        return Fit(
            lambda epoch: data.train.batches(batch_size, shuffle=True, seed=seed * 1000 + epoch, shard=shard),
            data.train.num_batches(batch_size),
            lambda: inference_batches(data.validation, shard=shard),
        )

    def test(self, config: SentimentConfig, data: PreparedData, trainer: Trainer, model: nn.Module) -> dict:
        test = trainer.evaluate(inference_batches(data.test, shard=trainer.shard))
        return {
            "test_accuracy": test["accuracy"],
            "test_loss": test["loss"],
            "train_reviews": len(data.train),
            "test_reviews": len(data.test),
            "real_tokens_per_epoch": data.train.real_tokens(),
            "data_seconds": data.seconds,
        }


def train(
    config: SentimentConfig, data: str | None, run_dir: str | Path, callbacks=(), resume: bool = True
) -> dict:
    """Train (or resume) the run in ``run_dir``, then score the best weights on the test set."""
    return train_run(SentimentRecipe(data), resolved(config), run_dir, callbacks, resume)


def pretrained_keys(model: SequenceClassifier) -> set[str]:
    """The classifier's parameters that a pretrained language model gives: embedding, first layer."""
    return {n for n, _ in model.named_parameters() if n.startswith(("embedding.", "recurrent.0."))}


def pretrained_start(config: SentimentConfig) -> tuple[dict[str, Tensor], Tokenizer]:
    """The weights and tokenizer of ``config.init``, after checking that the classifier has the
    pretrained model's sizes (a clear error naming both otherwise)."""
    from ..models.wordlm import classifier_weights
    from . import pretrain

    lm, tokenizer, lm_config = pretrain.load_run(config.init)
    ours, theirs = config.model, lm_config.model
    wanted = {
        "model.embed_dim": (ours.embed_dim, theirs.embed_dim),
        "model.cell": (ours.cell, theirs.cell),
        "model.hidden_sizes[0]": (ours.hidden_sizes[0], theirs.hidden_size),
        "model.bidirectional": (ours.bidirectional, theirs.bidirectional),
    }
    differ = [f"{key} {a!r} here, {b!r} pretrained" for key, (a, b) in wanted.items() if a != b]
    if differ:
        raise ConfigError(
            f"the classifier does not have the shape of the pretrained run {config.init}: "
            + "; ".join(differ)
            + " (choose a preset with its sizes, e.g. --preset pretrained, or --set the fields)"
        )
    return classifier_weights(lm.state_dict()), tokenizer


def load_config(run_dir: str | Path) -> SentimentConfig:
    return RUNS.load_config(run_dir)


def load_tokenizer(run_dir: str | Path) -> Tokenizer:
    # the tokenizers library raises plain Exceptions for a damaged file: the default of load_run_file
    return ckpt.load_run_file(Path(run_dir) / TOKENIZER_FILE, Tokenizer.load)


def load_run(
    run_dir: str | Path, weights: str = ckpt.BEST
) -> tuple[SequenceClassifier, Tokenizer, SentimentConfig]:
    model, config = RUNS.load_model(run_dir, build_model, weights)
    return model, load_tokenizer(run_dir), config


def inference_batches(
    dataset: SequenceDataset, batch_size: int = EVAL_BATCH, shard: Shard | None = None
) -> Iterator[Batch] | Iterator[Share]:
    return dataset.batches(batch_size, token_budget=EVAL_TOKENS, shard=shard)


def evaluate(run_dir: str | Path, data: str | None) -> dict[str, float]:
    model, tokenizer, config = load_run(run_dir)
    corpus = imdb.load(data)
    dataset = encode(tokenizer, corpus.test.texts, corpus.test.labels, config.max_tokens)
    device = resolve_device(config.train.device)
    return evaluate_model(model.to(device), step, inference_batches(dataset), device)


def evaluate_ensemble(
    run_dirs: list[str | Path], data: str | None, progress: Callable[[int, int], None] | None = None
) -> dict[str, object]:
    """Test accuracy of each run alone and of their ensemble: the mean of the runs' logits (each
    run reads the reviews with its own tokenizer and cut). A run's accuracy here equals its
    :func:`evaluate`'s. ``progress(done, total)``: reviews scored so far, over all the runs."""
    if len(run_dirs) < 2:
        raise InputError("an ensemble needs at least two runs")
    corpus = imdb.load(data)
    labels = np.asarray(corpus.test.labels)
    logits, n = [], len(labels)
    for k, run_dir in enumerate(run_dirs):
        predictor = Predictor.from_run(run_dir)
        report = None if progress is None else lambda done, _, k=k: progress(k * n + done, len(run_dirs) * n)
        logits.append(predictor.logits(predictor.encode(corpus.test.texts), report))
    alone = [float(((z > 0) == labels).mean()) for z in logits]
    mean = np.mean(logits, axis=0)
    return {
        "runs": [str(r) for r in run_dirs],
        "alone": alone,
        "accuracy": float(((mean > 0) == labels).mean()),
    }


def check_texts(texts: list[str]) -> None:
    """Refuse a text that is empty or only whitespace: there is nothing in it to classify."""
    for i, text in enumerate(texts):
        if not text.strip():
            raise InputError(f"text {i + 1} is empty or only whitespace; nothing to classify")


class Predictor:
    """Probabilities of the positive class for raw texts, batched and length-bucketed.

    It leaves process-wide settings alone. A program that predicts a lot on a CPU can call
    :func:`rnnkit.tune_allocator` once first, as the ``rnnkit`` command does (see
    :mod:`rnnkit.runtime` for what it changes and why)."""

    def __init__(
        self,
        model: SequenceClassifier,
        tokenizer: Tokenizer,
        max_tokens: int,
        batch_size: int = EVAL_BATCH,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.batch_size = batch_size

    @classmethod
    def from_run(cls, run_dir: str | Path) -> Predictor:
        model, tokenizer, config = load_run(run_dir)
        return cls(model, tokenizer, config.max_tokens)

    def __call__(self, texts: list[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        return self.predict(self.encode(texts), progress)

    def encode(self, texts: list[str]) -> SequenceDataset:
        """The texts as token ids, truncated as the model was trained (``max_tokens``)."""
        check_texts(texts)
        return encode(self.tokenizer, texts, [0] * len(texts), self.max_tokens)

    def predict(
        self, dataset: SequenceDataset, progress: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        """Probabilities for already tokenized texts, in the dataset's order. ``progress(done,
        total)`` is called after each batch (a progress bar's ``update``)."""
        return 1 / (1 + np.exp(-self.logits(dataset, progress)))

    def logits(
        self,
        dataset: SequenceDataset,
        progress: Callable[[int, int], None] | None = None,
        batches: list[np.ndarray] | None = None,
    ) -> np.ndarray:
        """The model's logits (log-odds of the positive class), in the dataset's order. ``batches``:
        the dataset's rows cut into batches (:func:`~rnnkit.data.batching.planned_batches`, as the
        server does); by default, sorted batches within a token budget."""

        def run(indices: np.ndarray) -> np.ndarray:
            return self.batch_logits(dataset.collate(indices))

        with torch.inference_mode():
            logits = in_order(dataset.lengths, run, self.batch_size, EVAL_TOKENS, progress, batches)
        return np.asarray(logits, dtype=np.float64)

    def batch_logits(self, batch: Batch) -> np.ndarray:
        """One batch's logits, (B,) float64, from the torch model (``OnnxPredictor``: onnxruntime)."""
        batch = batch.to(next(self.model.parameters()).device)
        return self.model(batch.tokens, batch.lengths).squeeze(1).double().cpu().numpy()  # (B,)


# -- which words made the score: occlusion -----------------------------------------------------------

_WORD = re.compile(r"\S+")


@dataclass
class Occlusion:
    """A text, the spans of words that are taken out one at a time, and the texts without them.

    ``spans[i]`` is ``(start, end)`` in characters; ``variants[i]`` is the text with that span cut
    out. A long text is cut in groups of consecutive words so that there are at most ``max_spans``
    variants (the cost of an explanation is bounded: ``max_spans + 1`` texts through the model)."""

    text: str
    spans: list[tuple[int, int]]
    variants: list[str]


def occlusion(text: str, max_spans: int = 256) -> Occlusion:
    words = [m.span() for m in _WORD.finditer(text)]
    group = max(1, -(-len(words) // max_spans))  # ceil: words per span
    spans = [(words[i][0], words[min(i + group, len(words)) - 1][1]) for i in range(0, len(words), group)]
    return Occlusion(text, spans, [text[:a] + text[b:] for a, b in spans])


def contributions(full_logit: float, variant_logits: np.ndarray) -> np.ndarray:
    """What each span adds to the logit: ``logit(text) - logit(text without the span)``; positive
    pushes towards "positive". A span past ``max_tokens`` (cut off before the model) adds 0."""
    return full_logit - np.asarray(variant_logits, dtype=np.float64)


def padding_check(predictor: Predictor, text: str, pad_to: int = 200) -> tuple[float, float]:
    """The lecture's "with and without padding": the probability alone, and padded to ``pad_to``."""
    ids = predictor.tokenizer.encode(text)[: predictor.max_tokens]
    tokens = torch.zeros(1, max(pad_to, len(ids)), dtype=torch.long)
    tokens[0, : len(ids)] = torch.tensor(ids)
    with torch.no_grad():
        alone = torch.sigmoid(predictor.model(tokens[:, : len(ids)])).item()
        padded = torch.sigmoid(predictor.model(tokens, torch.tensor([len(ids)]))).item()
    return alone, padded
