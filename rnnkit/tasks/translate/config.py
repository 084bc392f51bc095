"""The translation task's config, presets and run kind (see :mod:`.task`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import check_fraction
from ...data.translation import parse_pair_name
from ...errors import ConfigError
from ...models.seq2seq import Seq2Seq, Seq2SeqConfig
from ...train import RunKind, TrainConfig, cosine
from ...train.template import RESULTS_FILE
from .data import SOURCE_TOKENIZER, TARGET_TOKENIZER

MAX_SOURCE_TOKENS = 256  # a longer source is cut to this many tokens (with a warning): memory stays bounded

# The lecture's sentence, then two of ours.
SAMPLES = (
    "Voulez-vous chanter avec moi ?",
    "Je ne sais pas ce que je ferais sans toi.",
    "Il pleuvait quand nous sommes arrivés à la gare.",
)

SPLITS = ("component", "source")


@dataclass
class TranslateConfig:
    pair: str = "fra-eng"  # source-target: fra-eng, eng-fra, kor-eng, eng-kor
    source_vocab_size: int = 8000  # the source BPE (its size costs nothing at run time)
    target_vocab_size: int = 4000  # the target BPE: the output layer's width, the largest cost
    max_tokens: int = 64  # a training pair's sides are cut to this many tokens
    test_pairs: int = 5000
    validation_pairs: int = 3000
    split_seed: int = 0
    # how pairs were split: "component" keeps paraphrase groups together (rnnkit.data.translation);
    # "source" marks a run made before 2026-12-07 with the split by source sentence, which leaked
    split: str = "component"
    label_smoothing: float = 0.1
    beam: int = 5  # the beam of `evaluate` and of translating (1: greedy)
    length_penalty: float = 0.6  # GNMT's alpha
    max_length_ratio: float = 2.0  # a translation has at most ratio * source tokens + extra tokens
    max_length_extra: int = 10
    model: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)
    train: TrainConfig = field(
        # 20 epochs: a cap, the time limit ends the run first; warm-up: 1% of epochs * steps, ~200 steps
        default_factory=lambda: cosine(20, 128, 2e-3, warmup=0.01, monitor="val_bleu", time_limit=29.0)
    )

    def __post_init__(self) -> None:
        parse_pair_name(self.pair)
        if self.beam < 1:
            raise ConfigError(f"beam must be >= 1, got {self.beam}")
        if self.split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        check_fraction(self, "label_smoothing")
        if self.max_tokens < 2 or self.max_length_ratio <= 0 or self.max_length_extra < 1:
            raise ConfigError("max_tokens must be >= 2, max_length_ratio > 0 and max_length_extra >= 1")


PRESETS: dict[str, TranslateConfig] = {
    "fast": TranslateConfig(model=Seq2SeqConfig(decoder_size=256)),
    "kor": TranslateConfig(
        pair="kor-eng",
        source_vocab_size=2000,
        target_vocab_size=2000,
        test_pairs=400,
        validation_pairs=200,
        model=Seq2SeqConfig(embed_size=128, hidden_size=128, decoder_size=256, dropout=0.4),
        train=cosine(60, 32, 2e-3, monitor="val_bleu", patience=15),
    ),
}


def upgrade(raw: dict) -> dict:
    """A config.json from before the split was recorded: such a run used the split by source."""
    return raw if "split" in raw else {**raw, "split": "source"}


RUNS = RunKind(
    "translation",
    TranslateConfig,
    PRESETS,
    may_change=("train.epochs", "train.time_limit", "beam"),
    from_data=("model.source_vocab", "model.target_vocab"),
    files=(SOURCE_TOKENIZER, TARGET_TOKENIZER, RESULTS_FILE),
    upgrade=upgrade,
)


def preset(name: str) -> TranslateConfig:
    return RUNS.preset(name)


def build_model(config: TranslateConfig) -> Seq2Seq:
    return Seq2Seq(config.model)
