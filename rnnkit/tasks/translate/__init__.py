"""Machine translation, the lecture's encoder-decoder many-to-many (see :mod:`.task`)."""

from .config import (
    MAX_SOURCE_TOKENS,
    PRESETS,
    RESULTS_FILE,
    RUNS,
    SAMPLES,
    TranslateConfig,
    build_model,
    preset,
)
from .data import PairBatch, PairDataset, Tokenizers
from .task import corpus_scores, evaluate, load_splits, make_step, train
from .translator import Translation, Translator, attention_figure

__all__ = [
    "MAX_SOURCE_TOKENS",
    "PRESETS",
    "RESULTS_FILE",
    "RUNS",
    "SAMPLES",
    "PairBatch",
    "PairDataset",
    "Tokenizers",
    "TranslateConfig",
    "Translation",
    "Translator",
    "attention_figure",
    "build_model",
    "corpus_scores",
    "evaluate",
    "load_splits",
    "make_step",
    "preset",
    "train",
]
