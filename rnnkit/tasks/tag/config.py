"""The tagging task's settings: :class:`TagConfig`, the presets and what a run directory holds
(:data:`RUNS`: what a resume may change, what the data decided, the task's own files; a
``config.json`` of the older form loads too)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ...config import check_at_least_one
from ...errors import ConfigError
from ...models.tagger import LMFeatures, TaggerConfig, upgrade_config
from ...train import RunKind, TrainConfig, cosine

VOCAB_FILE = "vocab.json"
LM_TOKENIZER_FILE = "lm_tokenizer.json"
LM_CONTEXTS = ("sentence", "document")
MEMBERS_DIR = "members"  # an ensemble's taggers: members/1, members/2, ..., each a run of its own
RESULTS_FILE = "results.json"
SPLITS = {"train": "eng.train", "validation": "eng.testa", "test": "eng.testb"}

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
        default_factory=lambda: cosine(
            100, 32, 2e-3, warmup=0.01, clip_norm=5.0, monitor="val_f1", time_limit=28.0
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


def upgrade(raw: dict) -> dict:
    """A ``config.json`` written before :class:`~rnnkit.models.tagger.LMFeatures` (the tagger's five
    flat ``model.lm_*`` keys), in today's form."""
    if isinstance(raw.get("model"), dict):
        return {**raw, "model": upgrade_config(raw["model"])}
    return raw


RUNS = RunKind(
    "tagging",
    TagConfig,
    PRESETS,
    may_change=("train.epochs", "train.time_limit"),  # not "lm": it gives the tagger's features
    from_data=(
        "model.word_vocab",
        "model.char_vocab",
        "model.tags",
        *(f"model.lm.{f.name}" for f in dataclasses.fields(LMFeatures)),  # from the language model
    ),
    files=(VOCAB_FILE, LM_TOKENIZER_FILE, RESULTS_FILE),
    folders=(MEMBERS_DIR,),
    upgrade=upgrade,
)


def preset(name: str) -> TagConfig:
    return RUNS.preset(name)


def member_dir(run_dir: str | Path, k: int) -> Path:
    return Path(run_dir) / MEMBERS_DIR / str(k)
