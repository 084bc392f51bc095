"""Character-level language modelling: train on any UTF-8 text, sample from it, look inside it.

Training is truncated BPTT with the hidden state carried across consecutive chunks (stateful, detached
between chunks; see :mod:`rnnkit.data.text`), on the first ``1 - val_share`` of the file; validation
is the rest, read the same stateful way. Losses are in nats per character (as nanoGPT reports them);
bits per character = nats / ln 2.

Presets:

- ``shakespeare-15min``: the recipe for Tiny Shakespeare within 15 minutes of a 2-core CPU: one LSTM
  layer of 512, embeddings of 64, chunks of 128, batch 64, Adam 3e-3 with warm-up and a cosine decay
  over the time budget, clipping 1. (docs/charlm.md has the measured curve against nanoGPT.)
- ``shakespeare-best``: the 60-minute recipe: one LSTM layer of 768, embeddings of 64, dropout 0.4
  before the output layer, Adam 2e-3 with a cosine decay over 58 minutes (docs/charlm.md).
- ``music``: ABC folk tunes (smaller, shorter).

A run directory holds ``config.json``, ``vocab.json``, the weights, the history and the curves;
:func:`load_run` rebuilds the model from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import DataError
from ..data.text import CharVocab, TextBatch, TextStreams, read_text
from ..errors import ConfigError
from ..models.charlm import CharLM, CharLMConfig, State, detach
from ..train import RunKind, TrainConfig, Trainer, cosine
from ..train import checkpoint as ckpt
from ..train.template import RESULTS_FILE, Fit, Recipe, train_run
from ..train.trainer import evaluate as evaluate_model

VOCAB_FILE = "vocab.json"
SOURCE_FILE = "text.json"  # which text the run trains on: path, length, SHA-256

LN2 = math.log(2)


@dataclass
class LMConfig:
    seq_len: int = 128  # T: characters per chunk, the BPTT truncation
    val_share: float = 0.1  # the last share of the file is the validation text
    val_batch_size: int = 32  # validation streams
    model: CharLMConfig = field(default_factory=CharLMConfig)
    train: TrainConfig = field(default_factory=lambda: cosine(30, 64, 3e-3))

    def __post_init__(self) -> None:
        if not 0.0 < self.val_share < 1.0:
            raise ConfigError(f"val_share must be in (0, 1), got {self.val_share}")
        if self.seq_len < 1:
            raise ConfigError(f"seq_len must be >= 1, got {self.seq_len}")


PRESETS: dict[str, LMConfig] = {
    # 15 minutes on 2 cores: one wide layer (the loss it reaches, and its curve: docs/charlm.md).
    "shakespeare-15min": LMConfig(
        train=cosine(100, 64, 3e-3, warmup=0.01, time_limit=14.5),
        model=CharLMConfig(hidden_size=512, num_layers=1, embed_dim=64, dropout=0.1),
    ),
    "shakespeare-best": LMConfig(
        train=cosine(200, 64, 2e-3, warmup=0.01, time_limit=58.0),
        model=CharLMConfig(hidden_size=768, num_layers=1, embed_dim=64, dropout=0.4),
    ),
    "music": LMConfig(
        seq_len=128,
        train=cosine(100, 32, 3e-3, time_limit=4.0),
        model=CharLMConfig(hidden_size=256, num_layers=1, embed_dim=32, dropout=0.1),
    ),
}


# A resume may grow the epochs and change the time budget (the cosine is re-stretched over the new
# budget: the learning rate rises again if the budget grows); the vocabulary is the text's.
RUNS = RunKind(
    "language-model",
    LMConfig,
    PRESETS,
    may_change=("train.epochs", "train.time_limit"),
    from_data=("model.vocab_size",),
    files=(RESULTS_FILE, VOCAB_FILE, SOURCE_FILE),
)


def preset(name: str) -> LMConfig:
    return RUNS.preset(name)


# -- data ----------------------------------------------------------------------------------------


@dataclass
class CharData:
    vocab: CharVocab
    train: TextStreams
    validation: TextStreams


def prepare(text: str, config: LMConfig, vocab: CharVocab | None = None) -> CharData:
    """Vocabulary over the whole text (as nanoGPT's), train on the head, validate on the tail."""
    vocab = vocab or CharVocab.from_text(text)
    ids = vocab.encode(text)
    split = int(len(ids) * (1 - config.val_share))
    train = TextStreams(ids[:split], config.train.batch_size, config.seq_len)
    if len(train) < 1:
        raise DataError(
            f"the training text ({split} characters) cannot fill {config.train.batch_size} streams with at "
            f"least one chunk of seq_len={config.seq_len} each (that needs "
            f"{config.train.batch_size * (2 * config.seq_len - 1) + 1} characters); use a longer text, "
            "a smaller --batch-size or a shorter --seq-len"
        )
    validation = TextStreams(
        ids[split:],
        config.val_batch_size,
        512,
        fix="use a longer text, a smaller --set val_batch_size=N or a larger --set val_share=F",
    )
    return CharData(vocab, train, validation)


# -- the training step ---------------------------------------------------------------------------


class StatefulStep:
    """Next-character cross-entropy, carrying the hidden state from chunk to chunk (detached).

    The state restarts at the first chunk of each pass; training and validation keep separate states.
    """

    def __init__(self) -> None:
        self.states: dict[bool, State | None] = {True: None, False: None}

    def __call__(self, model: nn.Module, batch: TextBatch) -> tuple[Tensor, dict[str, float], int]:
        mode = model.training
        state = None if batch.first else self.states[mode]
        if state is not None:
            carried = (state[0] if isinstance(state, tuple) else state).shape[1]
            if carried != batch.x.shape[0]:
                raise ValueError(
                    f"the carried state holds {carried} streams but the batch has {batch.x.shape[0]}; "
                    "a pass must keep its batch size (start a new pass with first=True)"
                )
        logits, state = model(batch.x, state)  # (B, T, V)
        self.states[mode] = detach(state)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.y.flatten())
        count = batch.y.numel()
        return loss, {"bits_per_char": loss.item() / LN2 * count}, count


# -- runs ----------------------------------------------------------------------------------------


def build_model(config: LMConfig) -> CharLM:
    return CharLM(config.model)


class CharLMRecipe(Recipe[LMConfig, CharData]):
    """The character LM's parts for the run template (:func:`rnnkit.train.template.train_run`)."""

    runs = RUNS

    def __init__(self, text_path: str | Path) -> None:
        self.text = read_text(text_path, min_chars=2)
        self.source = {
            "path": str(text_path),
            "characters": len(self.text),
            "sha256": hashlib.sha256(self.text.encode()).hexdigest(),
        }

    def load_saved(self, run_dir: Path, config: LMConfig) -> CharVocab:
        saved = ckpt.load_json(run_dir / SOURCE_FILE)
        if saved.get("sha256") != self.source["sha256"]:
            raise ConfigError(
                f"{run_dir} was trained on another text ({saved.get('path')}, {saved.get('characters')} "
                "characters); resume it with that file, or pass a new --out"
            )
        return load_vocab(run_dir)

    def prepare(self, config: LMConfig, saved: CharVocab | None) -> CharData:
        return prepare(self.text, config, saved)

    def decide(self, config: LMConfig, data: CharData) -> LMConfig:
        return dataclasses.replace(
            config, model=dataclasses.replace(config.model, vocab_size=len(data.vocab))
        )

    def save_new(self, config: LMConfig, data: CharData, run_dir: Path) -> None:
        data.vocab.save(run_dir / VOCAB_FILE)
        ckpt.save_json(self.source, run_dir / SOURCE_FILE)

    def build(self, config: LMConfig, data: CharData) -> CharLM:
        return build_model(config)

    def step(self, config: LMConfig) -> StatefulStep:
        return StatefulStep()

    def fit(self, config: LMConfig, data: CharData, trainer: Trainer, model: nn.Module) -> Fit:
        seq_len, seed, shard = config.seq_len, config.train.seed, trainer.shard
        return Fit(
            # each pass cuts its chunks at another offset, so chunk boundaries move between passes;
            # under torchrun each process reads its own block of streams, and carries their state
            lambda epoch: data.train.batches(
                offset=int(np.random.default_rng(seed * 1000 + epoch).integers(seq_len)), shard=shard
            ),
            len(data.train),
            lambda: data.validation.full_pass(shard),
        )

    def test(self, config: LMConfig, data: CharData, trainer: Trainer, model: nn.Module) -> dict:
        best = min(trainer.history, key=lambda row: row["val_loss"])
        return {
            "best_val_loss": best["val_loss"],
            "best_val_bits_per_char": best["val_loss"] / LN2,
            "best_epoch": best["epoch"],
            "best_elapsed_seconds": best["elapsed"],
            "train_chars_per_epoch": data.train.tokens(),
            "vocab_size": len(data.vocab),
            "threads": torch.get_num_threads(),
        }


def train(
    config: LMConfig, text_path: str | Path, run_dir: str | Path, callbacks=(), resume: bool = True
) -> dict:
    """Train (or resume) the run in ``run_dir`` on the text file; returns the results."""
    return train_run(CharLMRecipe(text_path), config, run_dir, callbacks, resume)


def load_config(run_dir: str | Path) -> LMConfig:
    return RUNS.load_config(run_dir)


def load_vocab(run_dir: str | Path) -> CharVocab:
    return ckpt.load_run_file(Path(run_dir) / VOCAB_FILE, CharVocab.load, (ValueError, KeyError, TypeError))


def load_run(run_dir: str | Path, weights: str = ckpt.BEST) -> tuple[CharLM, CharVocab, LMConfig]:
    model, config = RUNS.load_model(run_dir, build_model, weights)
    return model, load_vocab(run_dir), config


def evaluate(run_dir: str | Path, text_path: str | Path) -> dict[str, float]:
    """Loss (nats/char) and bits/char of the run's best weights on the validation part of the text
    (its last ``val_share``), every character scored, the state carried from chunk to chunk."""
    model, vocab, config = load_run(run_dir)
    data = prepare(read_text(text_path), config, vocab)
    metrics = evaluate_model(model, StatefulStep(), data.validation.full_pass(), torch.device("cpu"))
    return {"loss": metrics["loss"], "bits_per_char": metrics["bits_per_char"]}


# -- sampling ------------------------------------------------------------------------------------


def sample(
    model: CharLM,
    vocab: CharVocab,
    prime: str,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
) -> Iterator[str]:
    """Yield ``length`` characters generated after ``prime``, one at a time (batch 1).

    Each step draws from softmax(logits / temperature), restricted to the ``top_k`` most likely
    characters if given, and feeds the draw back in. With a ``seed`` the text is reproducible.
    """
    if not prime:
        raise ConfigError("prime must hold at least one character (e.g. a newline)")
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k must be >= 1, got {top_k}")
    ids = torch.from_numpy(vocab.encode(prime))[None]  # (1, P); raises on unknown characters
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    model.eval()
    with torch.no_grad():
        logits, state = model(ids)
        last = logits[0, -1]  # (V,)
        for position in range(length):
            scaled = last / temperature
            if top_k is not None and top_k < scaled.numel():
                threshold = torch.topk(scaled, top_k).values[-1]
                scaled = scaled.masked_fill(scaled < threshold, float("-inf"))
            index = torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator)  # (1,)
            yield vocab.chars[int(index)]
            if position + 1 == length:
                break
            logits, state = model.step(index, state)  # (1, V)
            last = logits[0]


def sample_tunes(
    model: CharLM, vocab: CharVocab, count: int, temperature: float = 0.8, seed: int | None = None
) -> list[str]:
    """``count`` ABC tunes generated after a tune boundary, each cut where the model starts the next.

    The prime is the end of a previous tune (a blank line) and "X: ", as every tune of the training
    collection begins, so the model knows it is writing a header, not the middle of a body."""
    from ..data.abc import split_tunes

    prime = "\n\nX: "
    text, starts = prime, 1
    for char in sample(model, vocab, prime, 2000 * count, temperature, seed=seed):
        text += char
        if text.endswith("\nX:"):
            starts += 1
            if starts > count:
                break
    return split_tunes(text)[:count]


def text_loss(model: CharLM, vocab: CharVocab, text: str) -> float:
    """Mean next-character loss (nats) of ``model`` on ``text``, read as one stream from a zero state."""
    ids = torch.from_numpy(vocab.encode(text))[None]  # (1, N)
    with torch.no_grad():
        logits, _ = model.eval()(ids[:, :-1])
        return F.cross_entropy(logits[0], ids[0, 1:]).item()


# -- the lecture's example -----------------------------------------------------------------------


def train_hello(
    word: str = "hello", cell: str = "rnn", hidden_size: int = 8, steps: int = 200, seed: int = 0
):
    """The lecture's "hell" -> "o" with rnnkit's layers and autograd: vocabulary {h, e, l, o}, one-hot
    inputs (``embed_dim=0``), trained with Adam on predicting "ello" from "hell". Returns the same
    :class:`~rnnkit.scratch.hello.HelloResult` as the NumPy version, so both print the slide's table."""
    from ..scratch.hello import VOCAB, HelloResult

    if set(word) - set(VOCAB) or len(word) < 2:
        raise ConfigError(f"word must have 2+ letters, all from h, e, l, o; got {word!r}")
    torch.manual_seed(seed)
    vocab = CharVocab(list(VOCAB))
    model = CharLM(CharLMConfig(vocab_size=4, embed_dim=0, cell=cell, hidden_size=hidden_size))
    ids = torch.from_numpy(vocab.encode(word))[None]  # (1, T+1)
    x, y = ids[:, :-1], ids[:, 1:]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(steps):
        logits, _ = model(x)  # (1, T, 4)
        loss = F.cross_entropy(logits[0], y[0], reduction="sum")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        probs = torch.softmax(model(x)[0][0], dim=-1).numpy()  # (T, 4)
    return HelloResult(losses=losses, probs=probs, inputs=word[:-1], targets=word[1:])
