"""Language-model pretraining for sentiment: learn the language of reviews from unlabelled text
first, then the task (Dai & Le 2015, ULMFiT, ELMo's two directions).

``rnnkit sentiment pretrain --out RUN`` trains a :class:`~rnnkit.models.wordlm.WordLM` (a forward
and a backward subword LSTM language model sharing an embedding) on IMDB's 50,000 unlabelled reviews
plus the labelled *training* reviews; the test reviews are never read (:func:`rnnkit.data.imdb.
pretraining_texts` skips them by name), and the training reviews that sentiment holds out for
validation are the language model's validation text. ``--text-dir DIR`` pretrains on a folder of
the user's own ``.txt`` files instead (every 20th file held out for validation).

The corpus is streamed: the tokenizer learns from an iterator, and the token ids go to disk a batch
of documents at a time (``train.bin``, ``validation.bin``) and are read back through a memory map,
so memory stays bounded whatever the corpus's size. Training is truncated BPTT as in the char LM,
the state carried from chunk to chunk, both directions in every step. One pass over IMDB's corpus
is 20 million pieces per direction, so an "epoch" of the trainer is a *slice* of a pass
(``slices`` per pass): checkpoints, validation, curves and the time budget work at that grain, and a
kill loses at most one slice. A sentiment run starts from the result with ``rnnkit sentiment train
--init RUN`` (:mod:`rnnkit.tasks.sentiment`).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import Tensor, nn

from ..config import check_at_least_one
from ..data import DataError, imdb
from ..data.batching import Shard, Share
from ..data.text import TextBatch, TokenFile, TokenStreams
from ..data.tokenizer import Tokenizer
from ..errors import ConfigError
from ..models.wordlm import WordLM, WordLMConfig
from ..train import RunKind, TrainConfig, cosine, seed_everything, tell
from ..train import checkpoint as ckpt
from ..train.distributed import barrier, is_main
from ..train.pretrained import SEPARATOR, TASK, TOKENIZER_FILE, load_word_lm

CORPUS_FILE = "corpus.json"  # written last: a corpus without it is rebuilt on resume
TRAIN_TOKENS, VALIDATION_TOKENS = "train.bin", "validation.bin"
RESULTS_FILE = "results.json"


@dataclass
class PretrainConfig:
    vocab_size: int = 16000
    seq_len: int = 70  # pieces per chunk, the BPTT truncation
    slices: int = 20  # trainer epochs per pass over the corpus
    val_batch_size: int = 16
    max_documents: int = 0  # read at most this many training documents (0: all), for quick runs
    max_val_documents: int = 1000  # validation reviews scored each slice
    # A pretrained run to go on from (ULMFiT's second stage: the same model, new text): its tokenizer,
    # its sizes and its best weights; the corpus (e.g. --text-dir) is then the new text.
    init: str = ""
    model: WordLMConfig = field(default_factory=WordLMConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=40,  # two passes over IMDB's corpus (docs/pretrain.md: one pass stops underfitted)
            batch_size=64,
            lr=2e-3,
            schedule="cosine",
            warmup=0.02,
            clip_norm=0.5,
            monitor="val_loss",
            time_limit=70.0,
        )
    )

    def __post_init__(self) -> None:
        check_at_least_one(self, "seq_len", "slices", "val_batch_size")


PRESETS: dict[str, PretrainConfig] = {
    "imdb": PretrainConfig(),
    # with --init RUN --text-dir DIR: adapt a pretrained model to a small corpus of the text it will
    # read (the tagger's: eng.train's words, `rnnkit tag text`), whole passes at a gentler rate
    "adapt": PretrainConfig(
        slices=1, train=dataclasses.replace(PretrainConfig().train, epochs=6, lr=1e-3, time_limit=10.0)
    ),
    # a few minutes: the pipeline end to end, a small model on the first 5,000 documents
    "quick": PretrainConfig(
        max_documents=5000,
        slices=4,
        model=WordLMConfig(embed_dim=64, hidden_size=64),
        train=cosine(4, 32, 3e-3, clip_norm=0.5, time_limit=5, warmup=0.0),
    ),
}

RUNS = RunKind(
    TASK,
    PretrainConfig,
    PRESETS,
    may_change=("train.epochs", "train.time_limit"),
    from_data=("model.vocab_size",),  # the corpus's tokenizer decides it
    from_init=tuple(f"model.{f.name}" for f in dataclasses.fields(WordLMConfig)),  # --init: its sizes
    files=(TOKENIZER_FILE, CORPUS_FILE, TRAIN_TOKENS, VALIDATION_TOKENS, RESULTS_FILE),
)


def preset(name: str) -> PretrainConfig:
    return RUNS.preset(name)


# -- the corpus --------------------------------------------------------------------------------------


def corpus_texts(data: str | None, text_dir: str | None) -> Iterator[tuple[str, str]]:
    """``(part, text)`` with part "train" or "validation", streamed; IMDB's reviews (never the test
    reviews) or the ``.txt`` files under ``text_dir`` (every 20th held out)."""
    if text_dir is None:
        for part, text in imdb.pretraining_texts(data):
            yield ("validation" if part == "validation" else "train"), text
        return
    root = Path(text_dir)
    if not root.is_dir():
        raise DataError(f"--text-dir {text_dir} is not a folder")
    files = sorted(root.rglob("*.txt"))
    if not files:
        raise DataError(f"{text_dir} holds no .txt files")
    for i, path in enumerate(files):
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"{path} is not UTF-8 text ({error})") from None
        if text.strip():
            yield ("validation" if i % 20 == 19 else "train"), text


def _limited(texts: Iterator[tuple[str, str]], config: PretrainConfig) -> Iterator[tuple[str, str]]:
    counts = {"train": 0, "validation": 0}
    limits = {"train": config.max_documents or math.inf, "validation": config.max_val_documents or math.inf}
    for part, text in texts:
        if counts[part] < limits[part]:
            counts[part] += 1
            yield part, text


def build_corpus(config: PretrainConfig, data: str | None, text_dir: str | None, run_dir: Path, log) -> dict:
    """The tokenizer (learned from the training part, streamed) and the token files; returns what
    ``corpus.json`` records."""
    began = time.perf_counter()
    if config.init:
        tokenizer = Tokenizer.load(Path(config.init) / TOKENIZER_FILE)  # its vocabulary, unchanged
    else:
        log("reading the corpus to learn the vocabulary ...")
        training = (text for part, text in _limited(corpus_texts(data, text_dir), config) if part == "train")
        tokenizer = Tokenizer.train(training, "subword", config.vocab_size, specials=(SEPARATOR,))
    tokenizer.save(run_dir / TOKENIZER_FILE)
    ckpt.fsync_file(run_dir / TOKENIZER_FILE)  # part of what corpus.json vouches for
    separator = tokenizer.token_id(SEPARATOR)
    files = {
        "train": TokenFile(run_dir / TRAIN_TOKENS, tokenizer.vocab_size, separator),
        "validation": TokenFile(run_dir / VALIDATION_TOKENS, tokenizer.vocab_size, separator),
    }
    log(f"vocabulary of {tokenizer.vocab_size:,} pieces; writing the token ids ...")
    pending: dict[str, list[str]] = {"train": [], "validation": []}
    try:
        for part, text in _limited(corpus_texts(data, text_dir), config):
            pending[part].append(text)
            if len(pending[part]) == 2000:
                files[part].add(tokenizer.encode_batch(pending[part]))
                pending[part] = []
        for part, texts in pending.items():
            files[part].add(tokenizer.encode_batch(texts) if texts else [])
    finally:
        for file in files.values():
            file.close()
    if files["validation"].documents == 0:
        raise DataError("the corpus has no validation documents (held-out reviews, or every 20th file)")
    ckpt.fsync_directory(run_dir)  # the files' names too are durable before corpus.json says so
    record = {
        "source": str(text_dir) if text_dir else str(imdb.resolve(data)),
        "kind": "text-dir"
        if text_dir
        else "imdb: train/unsup and labelled training reviews, no test reviews",
        "documents": {part: file.documents for part, file in files.items()},
        "tokens": {part: file.tokens for part, file in files.items()},
        "vocab_size": tokenizer.vocab_size,
        "seconds": round(time.perf_counter() - began, 1),
    }
    ckpt.save_json(record, run_dir / CORPUS_FILE)
    log(
        f"corpus: {record['documents']['train']:,} documents, "
        f"{record['tokens']['train']:,} pieces to train on; "
        f"{record['documents']['validation']:,} held out ({record['seconds']:.0f} s)"
    )
    return record


# -- the training step ---------------------------------------------------------------------------------


@dataclass
class PairBatch:
    """The same step's chunk of the forward streams and of the backward streams."""

    forward: TextBatch
    backward: TextBatch | None

    def to(self, device) -> PairBatch:
        return PairBatch(self.forward.to(device), self.backward.to(device) if self.backward else None)


class PretrainStep:
    """Both directions' losses (nats per piece), each carrying its state from chunk to chunk."""

    # the adaptive softmax's tail clusters get a gradient only from the targets that fall in them,
    # which one process's share of a batch may lack: DDP must look for unused weights every step
    unused_parameters = True

    def __init__(self) -> None:
        self.states: dict[tuple[bool, int], object] = {}

    def __call__(self, model: nn.Module, batch: PairBatch) -> tuple[Tensor, dict[str, float], int]:
        losses, metrics = [], {}
        for direction, chunk in enumerate((batch.forward, batch.backward)):
            if chunk is None:
                continue
            key = (model.training, direction)
            state = None if chunk.first else self.states.get(key)
            loss, state = model(chunk.x, chunk.y, direction, state)
            self.states[key] = (
                tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            )
            losses.append(loss)
            metrics[("forward" if direction == 0 else "backward") + "_loss"] = loss.item() * chunk.y.numel()
        count = batch.forward.y.numel()
        return sum(losses) / len(losses), metrics, count


def _paired(forward: Iterator, backward: Iterator | None) -> Iterator[PairBatch | Share]:
    """The two directions' chunks, step by step; under torchrun (items are :class:`Share`), this
    process's block of streams of both, as one Share."""
    for chunk, back in zip(forward, backward if backward is not None else itertools.repeat(None)):
        if isinstance(chunk, Share):
            yield Share(PairBatch(chunk.batch, back.batch if back is not None else None))
        else:
            yield PairBatch(chunk, back)


class Slices:
    """The trainer's epochs over ``streams`` (the forward streams, and the backward ones if any):
    epoch k is slice ``(k - 1) % slices`` of pass ``(k - 1) // slices``. A pass of N chunks is cut
    into ``slices`` runs of consecutive chunks, slice j holding chunks ``[j N // slices, (j + 1) N //
    slices)``: each chunk once, no slice empty, sizes that differ by one at most (``size``, the
    largest). Each pass cuts its chunks at another offset (drawn from ``seed`` and the pass), and a
    slice starts its streams' state afresh. With a ``shard`` (under torchrun), this process's block
    of streams. A pass of fewer chunks than ``slices`` (a small corpus) is cut into one chunk an
    epoch: ``self.slices`` is then the pass's chunk count, and ``asked`` the config's value."""

    def __init__(
        self, streams: list[TokenStreams], slices: int, seed: int, shard: Shard | None = None
    ) -> None:
        chunks, first = len(streams[0]), streams[0]
        if chunks == 0:
            raise ConfigError(
                f"the corpus is too small for one chunk of {first.batch_size} streams of "
                f"{first.seq_len} pieces; use a smaller --batch-size or seq_len, or more text"
            )
        self.asked, slices = slices, min(slices, chunks)
        self.streams, self.slices, self.seed, self.shard = streams, slices, seed, shard
        self.size = -(-chunks // slices)  # chunks in the largest slice: the trainer's steps per epoch

    def __call__(self, epoch: int) -> Iterator[PairBatch | Share]:
        done, part = divmod(epoch - 1, self.slices)
        offset = int(np.random.default_rng(self.seed * 1000 + done).integers(self.streams[0].seq_len))
        total = len(self.streams[0])
        chunks = range(part * total // self.slices, (part + 1) * total // self.slices)
        passes = [s.batches(offset, shard=self.shard, chunks=chunks) for s in self.streams]
        return _paired(passes[0], passes[1] if len(passes) > 1 else None)


def validation_pass(checks: list[TokenStreams], shard: Shard | None = None) -> Iterator[PairBatch | Share]:
    """One pass over the validation streams, both directions (this process's block under torchrun)."""
    return _paired(checks[0].full_pass(shard), checks[1].full_pass(shard) if len(checks) > 1 else None)


# -- runs -----------------------------------------------------------------------------------------------


def build_model(config: PretrainConfig) -> WordLM:
    return WordLM(config.model)


def train(
    config: PretrainConfig,
    data: str | None,
    run_dir: str | Path,
    text_dir: str | None = None,
    callbacks=(),
    resume: bool = True,
) -> dict:
    """Pretrain (or resume) the run in ``run_dir``; returns the results."""
    run_dir = Path(run_dir)
    RUNS.check_task(run_dir)
    log = functools.partial(tell, callbacks)
    main = is_main()  # under torchrun, rank 0 alone writes the run directory
    if resume and (run_dir / ckpt.STATE).is_file():
        config = RUNS.resumable(load_config(run_dir), config, run_dir)
        if main:
            RUNS.save_config(config, run_dir)
    start_from = None
    if config.init and not (resume and (run_dir / ckpt.STATE).is_file()):
        start_from, _, init_config = load_run(config.init)
        config = dataclasses.replace(config, model=init_config.model)  # its sizes
    seed_everything(config.train.seed)
    if main and not (run_dir / CORPUS_FILE).is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        build_corpus(config, data, text_dir, run_dir, log)
    barrier()  # the other processes wait for rank 0's corpus (RNNKIT_DIST_TIMEOUT bounds the wait)
    record = ckpt.load_json(run_dir / CORPUS_FILE)
    config = dataclasses.replace(  # the corpus decides the vocabulary's size
        config, model=dataclasses.replace(config.model, vocab_size=record["vocab_size"])
    )
    if main:
        RUNS.save_config(config, run_dir)
    V, B, T = record["vocab_size"], config.train.batch_size, config.seq_len
    train_ids = TokenFile.read(run_dir / TRAIN_TOKENS, V)
    val_ids = TokenFile.read(run_dir / VALIDATION_TOKENS, V)
    directions = (False, True) if config.model.bidirectional else (False,)
    streams = [TokenStreams(train_ids, B, T, reverse=r) for r in directions]
    checks = [TokenStreams(val_ids, config.val_batch_size, 256, reverse=r) for r in directions]
    model = build_model(config)
    if start_from is not None:
        model.load_state_dict(start_from.state_dict())
    trainer = RUNS.trainer(model, PretrainStep(), config.train, run_dir, callbacks, resume)
    slices = Slices(streams, config.slices, config.train.seed, trainer.shard)
    if slices.slices < slices.asked:
        log(
            f"a pass over this corpus holds {slices.slices} chunks ({B} streams of {T} pieces), fewer "
            f"than slices={slices.asked}: each trainer epoch is one chunk, a pass {slices.slices} epochs"
        )
    start = time.perf_counter()
    trainer.fit(slices, slices.size, lambda: validation_pass(checks, trainer.shard))
    best = min(trainer.history, key=lambda row: row["val_loss"])
    results = {
        "best_val_loss": best["val_loss"],
        "best_val_perplexity": math.exp(best["val_loss"]),
        "best_val_perplexity_forward": math.exp(best["val_forward_loss"]),
        **(
            {"best_val_perplexity_backward": math.exp(best["val_backward_loss"])}
            if len(directions) > 1
            else {}
        ),
        "best_epoch": best["epoch"],
        "epochs": trainer.epoch,
        "passes": trainer.epoch / slices.slices,
        "train_seconds_total": trainer.elapsed,
        "train_seconds_this_session": time.perf_counter() - start,
        "corpus": record,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if main:
        ckpt.save_json(results, run_dir / RESULTS_FILE)
    return results


def load_config(run_dir: str | Path) -> PretrainConfig:
    return RUNS.load_config(run_dir)


def load_run(run_dir: str | Path, weights: str = ckpt.BEST) -> tuple[WordLM, Tokenizer, PretrainConfig]:
    """The pretrained model, its tokenizer and config; a clear error for a run of another task
    (:func:`rnnkit.train.pretrained.load_word_lm`, which other tasks use without this one)."""
    model, tokenizer = load_word_lm(run_dir, weights)
    return model, tokenizer, load_config(run_dir)
