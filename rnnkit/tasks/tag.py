"""Named entities (synced many-to-many): the lecture's "Yesterday, Harry Potter met Hermione Granger."

CoNLL-2003 English: train on ``eng.train``, select on ``eng.testa`` (the validation F1 each epoch),
report on ``eng.testb`` once per run. Tags are read as IOB1, converted to IOB2 and trained in
``scheme`` (IOBES by default); scores are entity-level precision, recall and F1 by ``seqeval``
(its default, conlleval-compatible mode) on IOB2, overall and per type.

The model is :class:`rnnkit.models.tagger.SequenceTagger` (word + character BiLSTM + casing ->
BiLSTM -> CRF). Presets:

- ``fast``: the 30-minute recipe on a 2-core CPU, no pretrained vectors (docs/tag.md).
- ``softmax``: the same model with an independent softmax per word instead of the CRF.
- ``best``: three taggers (seeds 0, 1, 2) as an ensemble, each ``fast`` plus contextual word
  features from a frozen forward and backward language model (``lm``: a ``rnnkit sentiment
  pretrain`` run on IMDB's text, adapted to eng.train's words), ELMo-style
  (:class:`rnnkit.models.wordlm.ContextualWords`); no external embeddings (docs/tag.md).

A run directory holds ``config.json``, ``vocab.json`` (words, characters, tags; with ``lm``, the
language model's tokenizer in ``lm_tokenizer.json``; its weights are part of the tagger's), the weights, the
history and curves, and ``results.json`` (the test scores).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..config import check_at_least_one
from ..data import DataError
from ..data.batching import Shard, bucket_indices
from ..data.conll import CASINGS, Sentence, TagSet, Vocab, casing, entity_spans, normalize_digits, read_conll
from ..data.tokenizer import Tokenizer
from ..errors import ConfigError, InputError
from ..models.tagger import SequenceTagger, TagBatch, TaggerConfig, TaggerEnsemble
from ..runtime import bf16_autocast
from ..train import RunKind, TrainConfig, resolve_device, seed_everything, tell
from ..train import checkpoint as ckpt
from ..train.distributed import is_main
from ..train.pretrained import SEPARATOR, load_word_lm

VOCAB_FILE = "vocab.json"
LM_TOKENIZER_FILE = "lm_tokenizer.json"
LM_CONTEXTS = ("sentence", "document")
MEMBERS_DIR = "members"  # an ensemble's taggers: members/1, members/2, ..., each a run of its own
RESULTS_FILE = "results.json"
SPLITS = {"train": "eng.train", "validation": "eng.testa", "test": "eng.testb"}
MAX_WORDS = 512  # a longer sentence is tagged in pieces of this many words (see Tagger)
# Prediction: sentences sorted by length, at most 1,024 and 16,384 words (padding included) a batch.
EVAL_BATCH, EVAL_TOKENS = 1024, 16_384

# The lecture's sentence, then two of ours.
SAMPLES = (
    "Yesterday, Harry Potter met Hermione Granger.",
    "The European Commission said on Thursday it disagreed with German advice.",
    "Barack Obama visited the Eiffel Tower in Paris with Angela Merkel.",
)


@dataclass
class TagConfig:
    scheme: str = "iobes"  # the training scheme: "iob2" or "iobes" (scores are on IOB2 either way)
    lowercase: bool = True  # word embeddings of lowercased words (the casing feature keeps the shape)
    digits: bool = True  # every digit read as 0
    min_count: int = 1  # training words seen fewer times are unknown
    max_word_chars: int = 30  # a word's characters beyond this are not read
    lm: str = ""  # a pretrained language model run (rnnkit sentiment pretrain): frozen context features
    lm_context: str = "sentence"  # what the language model reads: each "sentence" alone, or its "document"
    members: int = 1  # > 1: an ensemble of this many taggers (seeds seed, seed + 1, ...), in members/
    model: TaggerConfig = field(default_factory=TaggerConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=100,
            batch_size=32,
            lr=2e-3,
            schedule="cosine",
            warmup=0.01,
            clip_norm=5.0,
            monitor="val_f1",
            time_limit=28.0,
        )
    )

    def __post_init__(self) -> None:
        if self.scheme not in ("iob2", "iobes"):
            raise ConfigError(f"scheme must be 'iob2' or 'iobes', got {self.scheme!r}")
        if self.lm_context not in LM_CONTEXTS:
            raise ConfigError(f"lm_context must be one of {', '.join(LM_CONTEXTS)}, got {self.lm_context!r}")
        if self.min_count < 1 or self.max_word_chars < 1:
            raise ConfigError("min_count and max_word_chars must be >= 1")
        check_at_least_one(self, "members")


PRESETS: dict[str, TagConfig] = {
    "fast": TagConfig(),
    "softmax": TagConfig(model=TaggerConfig(decoder="softmax")),
    "best": TagConfig(
        lm="runs/lm-conll",
        members=3,  # chosen on testa: 93.45 for three against 93.20 for two (docs/tag.md)
        train=dataclasses.replace(TagConfig().train, epochs=50, time_limit=40.0),  # per member
    ),
}

RUNS = RunKind(
    "tagging",
    TagConfig,
    PRESETS,
    may_change=("train.epochs", "train.time_limit"),  # not "lm": it gives the tagger's features
    from_data=(
        "model.word_vocab",
        "model.char_vocab",
        "model.tags",
        "model.lm_vocab",
        "model.lm_embed",
        "model.lm_hidden",
        "model.lm_cell",
        "model.lm_separator",
    ),
    files=(VOCAB_FILE, LM_TOKENIZER_FILE, RESULTS_FILE),
    folders=(MEMBERS_DIR,),
)


def preset(name: str) -> TagConfig:
    return RUNS.preset(name)


# -- words to tensors ---------------------------------------------------------------------------------


@dataclass
class Vocabularies:
    words: Vocab
    chars: Vocab
    tags: TagSet
    pieces: Tokenizer | None = None  # the pretrained language model's, when the tagger reads one

    @classmethod
    def build(cls, sentences: list[Sentence], config: TagConfig) -> Vocabularies:
        words = Counter(_word_key(w, config) for s in sentences for w in s.tokens)
        chars = Counter(c for s in sentences for w in s.tokens for c in w)
        return cls(
            Vocab.build(words, config.min_count),
            Vocab.build(chars),
            TagSet.from_sentences(sentences, config.scheme),
        )

    def save(self, path: Path) -> None:
        data = {
            "words": self.words.items,
            "chars": self.chars.items,
            "types": self.tags.types,
            "scheme": self.tags.scheme,
        }
        if self.pieces is not None:
            ckpt.atomic_write(path.parent / LM_TOKENIZER_FILE, self.pieces.backend.to_str().encode())
        ckpt.atomic_write(path, json.dumps(data, ensure_ascii=False).encode())

    @classmethod
    def load(cls, path: Path) -> Vocabularies:
        if not path.is_file():
            raise ckpt.CheckpointError(f"no {path.name} in {path.parent}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            vocab = cls(Vocab(data["words"]), Vocab(data["chars"]), TagSet(data["types"], data["scheme"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ckpt.CheckpointError(f"{path} is damaged ({error})") from None
        if (path.parent / LM_TOKENIZER_FILE).is_file():
            vocab.pieces = Tokenizer.load(path.parent / LM_TOKENIZER_FILE)
        return vocab


def _word_key(word: str, config: TagConfig) -> str:
    word = normalize_digits(word) if config.digits else word
    return word.lower() if config.lowercase else word


class TagDataset:
    """Sentences as id arrays: words, casings, characters per word, and tags (when known)."""

    def __init__(
        self,
        sentences: list[list[str]],
        vocab: Vocabularies,
        config: TagConfig,
        tags=None,
        documents: list[int] | None = None,
    ) -> None:
        """``documents``: each sentence's document (consecutive sentences of one document share
        it), read by a language model whose ``lm_context`` is "document"; None: each sentence alone."""
        limit = config.max_word_chars
        seen: dict[str, tuple[int, int, tuple[int, ...]]] = {}  # each distinct word encoded once

        def encode(word: str) -> tuple[int, int, tuple[int, ...]]:
            if word not in seen:
                chars = tuple(vocab.chars(c) for c in word[:limit])
                seen[word] = (vocab.words(_word_key(word, config)), casing(word), chars)
            return seen[word]

        encoded = [[encode(w) for w in s] for s in sentences]
        self.words = [np.array([e[0] for e in s], dtype=np.int64) for s in encoded]
        self.casings = [np.array([e[1] for e in s], dtype=np.int64) for s in encoded]
        self.chars = [[e[2] for e in s] for s in encoded]
        self.tags = (
            [np.array(vocab.tags.encode(t), dtype=np.int64) for t in tags] if tags is not None else None
        )
        self.lengths = np.array([len(s) for s in sentences], dtype=np.int64)
        self.sentences = sentences
        self.documents = documents if config.lm_context == "document" else None
        self.context: list[Tensor] | None = None

    def attach_context(self, model: SequenceTagger, pieces: Tokenizer | None) -> None:
        """Compute, once, the frozen language model's features of every word (a no-op for a tagger
        without one); batches then carry them. Each word is read as its pieces with a space before
        it, as the language model saw words in running text."""
        if model.context is None or self.context is not None:
            return
        if pieces is None:
            raise ckpt.CheckpointError("this tagger reads a language model, and its tokenizer is missing")
        spelled: dict[str, list[int]] = {}

        def encode(word: str) -> list[int]:
            if word not in spelled:
                spelled[word] = pieces.encode(" " + word)
            return spelled[word]

        texts = [[encode(w) for w in s] for s in self.sentences]
        if self.documents is None:
            self.context = [features.float().cpu() for features in model.context(texts)]
            return
        runs: list[list[int]] = []  # the sentences of each document, in order
        for i, document in enumerate(self.documents):
            if not runs or self.documents[runs[-1][-1]] != document:
                runs.append([])
            runs[-1].append(i)
        per_document = model.context([[w for i in run for w in texts[i]] for run in runs])
        self.context = [torch.empty(0)] * len(self)
        for run, features in zip(runs, per_document):
            for i, part in zip(run, features.float().cpu().split([len(texts[i]) for i in run])):
                self.context[i] = part

    def __len__(self) -> int:
        return len(self.words)

    def collate(self, indices: np.ndarray) -> TagBatch:
        lengths = self.lengths[indices]
        B, T = len(indices), int(lengths.max())
        words = np.zeros((B, T), dtype=np.int64)
        casings = np.full((B, T), CASINGS.index("pad"), dtype=np.int64)
        tags = np.zeros((B, T), dtype=np.int64)
        spellings: dict[tuple[int, ...], int] = {}  # each distinct word once: its row in chars
        spelling = []
        positions = np.concatenate([row * T + np.arange(n) for row, n in enumerate(lengths)])  # (N,)
        for row, i in enumerate(indices):
            n = lengths[row]
            words[row, :n] = self.words[i]
            casings[row, :n] = self.casings[i]
            if self.tags is not None:
                tags[row, :n] = self.tags[i]
            spelling += [spellings.setdefault(word, len(spellings)) for word in self.chars[i]]
        char_lengths = np.array([max(len(c), 1) for c in spellings], dtype=np.int64)
        chars = np.zeros((len(spellings), int(char_lengths.max())), dtype=np.int64)  # (U, W)
        for row, c in enumerate(spellings):
            chars[row, : len(c)] = c
        context = None
        if self.context is not None:
            context = torch.zeros(B, T, self.context[0].shape[1])  # (B, T, 2H_lm)
            for row, i in enumerate(indices):
                context[row, : lengths[row]] = self.context[i]
        return TagBatch(
            torch.from_numpy(words),
            torch.from_numpy(casings),
            torch.from_numpy(chars),
            torch.from_numpy(char_lengths),
            torch.tensor(spelling, dtype=torch.long),
            torch.from_numpy(positions),
            torch.from_numpy(lengths),
            torch.from_numpy(tags),
            [int(i) for i in indices],
            context,
        )

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        token_budget: int | None = None,
        shard: Shard | None = None,
    ) -> Iterator[TagBatch]:
        """Collated batches; with a ``shard``, this process's share of each (rnnkit.data.batching)."""
        for indices in bucket_indices(
            self.lengths, batch_size, shuffle, seed, pool=20, token_budget=token_budget
        ):
            yield self.collate(indices) if shard is None else shard.share(indices, self.lengths, self.collate)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)


@dataclass
class PreparedData:
    vocab: Vocabularies
    sentences: dict[str, list[Sentence]]
    datasets: dict[str, TagDataset]


def data_dir(data: str | Path | None) -> Path:
    """The folder of ``eng.train``/``eng.testa``/``eng.testb``: ``data`` (the folder, or one holding
    ``conll2003/``), else ``$RNNKIT_DATA/conll2003``."""
    import os

    roots = [Path(data)] if data is not None else []
    if data is None and os.environ.get("RNNKIT_DATA"):
        roots.append(Path(os.environ["RNNKIT_DATA"]))
    for root in roots:
        for folder in (root, root / "conll2003"):
            if (folder / SPLITS["train"]).is_file():
                return folder
    where = ", ".join(str(r) for r in roots) or "nowhere (no --data, no $RNNKIT_DATA)"
    raise DataError(
        f"no CoNLL-2003 files (eng.train, eng.testa, eng.testb) found in {where}; pass --data FOLDER"
    )


def prepare(config: TagConfig, data: str | Path | None, vocab: Vocabularies | None = None) -> PreparedData:
    folder = data_dir(data)
    sentences = {split: read_conll(folder / name) for split, name in SPLITS.items()}
    vocab = vocab or Vocabularies.build(sentences["train"], config)
    datasets = {
        split: TagDataset(
            [s.tokens for s in sents], vocab, config, [s.tags for s in sents], [s.document for s in sents]
        )
        for split, sents in sentences.items()
    }
    return PreparedData(vocab, sentences, datasets)


# -- training -----------------------------------------------------------------------------------------


def step(model: nn.Module, batch: TagBatch) -> tuple[Tensor, dict[str, float], int]:
    """The mean negative log-likelihood per sentence (CRF) or per word (softmax)."""
    loss, _ = model.loss(batch)
    count = len(batch.indices) if model.crf is not None else int(batch.lengths.sum())
    return loss / count, {}, count


def build_model(config: TagConfig) -> SequenceTagger:
    return SequenceTagger(config.model)


def predict_tags(
    model: SequenceTagger, dataset: TagDataset, tags: TagSet, device: torch.device, bf16: bool = False
) -> list[list[str]]:
    """IOB2 tags of every sentence of ``dataset``, in order (batched, sorted by length); ``bf16``
    runs the model under bfloat16 autocast (:func:`rnnkit.runtime.bf16_autocast`)."""
    out: list[list[str]] = [[] for _ in range(len(dataset))]
    model.eval()
    with torch.inference_mode(), bf16_autocast(bf16, device):
        for batch in dataset.batches(EVAL_BATCH, token_budget=EVAL_TOKENS):
            for i, ids in zip(batch.indices, model.decode(batch.to(device))):
                out[i] = tags.decode(ids)
    return out


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
        lm, pieces = _language_model(config.lm)
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
            model_config = dataclasses.replace(
                model_config,
                lm_vocab=lm.config.vocab_size,
                lm_embed=lm.config.embed_dim,
                lm_hidden=lm.config.hidden_size,
                lm_cell=lm.config.cell,
                lm_separator=pieces.token_id(SEPARATOR),
            )
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


def member_dir(run_dir: str | Path, k: int) -> Path:
    return Path(run_dir) / MEMBERS_DIR / str(k)


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
        split: _evaluate(model, config, vocab, data_dir(data), split, device)
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


def load_run(run_dir: str | Path) -> tuple[SequenceTagger | TaggerEnsemble, TagConfig, Vocabularies]:
    """A trained run's model (best weights, eval mode), config and vocabularies; for an ensemble,
    its members as one :class:`~rnnkit.models.tagger.TaggerEnsemble`."""
    config = RUNS.load_config(run_dir)
    if config.members == 1:
        model, config = RUNS.load_model(run_dir, build_model)
        return model, config, Vocabularies.load(Path(run_dir) / VOCAB_FILE)
    models, vocab = [], None
    for k in range(1, config.members + 1):
        folder = member_dir(run_dir, k)
        if not (folder / ckpt.BEST).is_file():
            raise ckpt.CheckpointError(f"member {k} of the ensemble {run_dir} has no trained weights yet")
        models.append(RUNS.load_model(folder, build_model)[0])
        mine = Vocabularies.load(folder / VOCAB_FILE)
        if vocab is None:
            vocab = mine
        elif (mine.words.items, mine.chars.items, mine.tags.tags) != (
            vocab.words.items,
            vocab.chars.items,
            vocab.tags.tags,
        ):
            raise ckpt.CheckpointError(f"the members of {run_dir} have different vocabularies")
    return TaggerEnsemble(models).eval(), config, vocab


def _language_model(path: str):
    """The pretrained language model of ``path`` (a ``rnnkit sentiment pretrain`` run) and its
    tokenizer; a clear error saying how to make one when there is none."""
    if not (Path(path) / ckpt.BEST).is_file():
        raise ConfigError(
            f"no pretrained language model at {path}: this preset reads one (lm={path!r}); make it with "
            "'rnnkit sentiment pretrain' (about an hour on 2 cores; preset best then adapts it to "
            "eng.train's words, docs/tag.md), or pass --lm RUN"
        )
    return load_word_lm(path)


# -- using a trained run --------------------------------------------------------------------------------

_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|\d+(?:[.,:/-]\d+)*|\w+(?:[-'\u2019]\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Words and punctuation, as CoNLL splits them: "Granger." -> "Granger", "."; "U.S." and
    "1996-08-22" stay whole."""
    return _TOKEN.findall(text)


class Tagger:
    """IOB2 tags for sentences (lists of tokens or raw text), batched, sorted by length.

    A sentence longer than ``MAX_WORDS`` words is tagged in consecutive pieces of that many words
    (memory stays bounded; an entity cut at a piece boundary is split in two). ``bf16`` runs the
    model under bfloat16 autocast: faster where the CPU has native bfloat16, at the F1 measured in
    docs/tag.md."""

    def __init__(
        self, model: SequenceTagger, vocab: Vocabularies, config: TagConfig, bf16: bool = False
    ) -> None:
        self.model, self.vocab, self.config, self.bf16 = model.eval(), vocab, config, bf16
        self.device = next(model.parameters()).device

    @classmethod
    def from_run(cls, run_dir: str | Path, bf16: bool = False) -> Tagger:
        model, config, vocab = load_run(run_dir)
        return cls(model, vocab, config, bf16)

    def __call__(
        self,
        sentences: list[list[str]],
        progress: Callable[[int, int], None] | None = None,
        documents: list[int] | None = None,
    ) -> list[list[str]]:
        """``documents``: each sentence's document, for a tagger whose language model reads whole
        documents (``lm_context`` "document"); None: every sentence is a document of its own."""
        if documents is not None and len(documents) != len(sentences):
            raise InputError(f"{len(documents)} document ids for {len(sentences)} sentences")
        pieces, owners = [], []
        for index, tokens in enumerate(sentences):
            if not tokens:
                raise InputError(f"sentence {index + 1} has no words; nothing to tag")
            for start in range(0, len(tokens), MAX_WORDS):
                pieces.append(tokens[start : start + MAX_WORDS])
                owners.append(index)
        in_documents = None if documents is None else [documents[owner] for owner in owners]
        dataset = TagDataset(pieces, self.vocab, self.config, documents=in_documents)
        tagged = [[] for _ in range(len(pieces))]
        done = 0
        with torch.inference_mode(), bf16_autocast(self.bf16, self.device):
            dataset.attach_context(self.model, self.vocab.pieces)
            for batch in dataset.batches(EVAL_BATCH, token_budget=EVAL_TOKENS):
                for i, ids in zip(batch.indices, self.model.decode(batch.to(self.device))):
                    tagged[i] = self.vocab.tags.decode(ids)
                done += len(batch.indices)
                if progress is not None:
                    progress(done, len(pieces))
        out: list[list[str]] = [[] for _ in sentences]
        for owner, tags in zip(owners, tagged):
            out[owner] += tags
        return out


def entities(tokens: list[str], tags: list[str]) -> list[dict]:
    """The entities of a tagged sentence: text, type, first token and the token after the last."""
    return [
        {"text": " ".join(tokens[a:b]), "type": kind, "start": a, "end": b}
        for kind, a, b in entity_spans(tags)
    ]


def marked(tokens: list[str], tags: list[str]) -> str:
    """The sentence with its entities in brackets: "[Harry Potter]PER met [Hermione Granger]PER"."""
    words = list(tokens)
    for kind, a, b in reversed(entity_spans(tags)):
        words[a:b] = [f"[{' '.join(words[a:b])}]{kind}"]
    return " ".join(words)


def evaluate(run_dir: str | Path, data: str | Path | None, split: str = "test", bf16: bool = False) -> dict:
    """Scores of a run's best weights on a split (testb by default), with the predicted tags;
    ``bf16``: the model under bfloat16 autocast."""
    model, config, vocab = load_run(run_dir)
    device = resolve_device(config.train.device)
    return _evaluate(model.to(device), config, vocab, data_dir(data), split, device, bf16)


def _evaluate(
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


def write_text(data: str | Path | None, out: str | Path, split: str = "train") -> dict[str, int]:
    """The words of a split's documents as plain text, one ``.txt`` file per document (its words
    joined by spaces, as :class:`~rnnkit.models.wordlm.ContextualWords` reads them), for adapting a
    language model to the text it will tag (``rnnkit sentiment pretrain --init RUN --text-dir OUT``).
    Only the words: no tags. Returns the counts of documents and words."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty; give a new folder")
    out.mkdir(parents=True, exist_ok=True)
    documents: dict[int, list[str]] = {}
    for sentence in read_conll(data_dir(data) / SPLITS[split]):
        documents.setdefault(sentence.document, []).extend(sentence.tokens)
    width = len(str(len(documents)))
    for number, words in documents.items():
        ckpt.atomic_write(out / f"{number:0{width}d}.txt", (" ".join(words) + "\n").encode())
    return {"documents": len(documents), "words": sum(len(w) for w in documents.values())}


def confusion(sentences: list[Sentence], predicted: list[list[str]]) -> dict[str, Counter]:
    """For each gold entity type, what its spans were predicted as: the same span with a type,
    or "missed" (no predicted entity with exactly that span)."""
    table: dict[str, Counter] = {}
    for sentence, tags in zip(sentences, predicted):
        found = {(a, b): kind for kind, a, b in entity_spans(tags)}
        for kind, a, b in entity_spans(sentence.tags):
            table.setdefault(kind, Counter())[found.get((a, b), "missed")] += 1
    return table
