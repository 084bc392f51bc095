"""Speech recognition (issue 29): FSDD digits and digit strings, speechocean762 sentences, on the
sequence core: the corpora (:mod:`.data`), the runs and their scores (:mod:`.task`)."""

from .data import CHARACTERS, DIGIT_SYMBOLS, DIGITS, read_fsdd, read_speechocean
from .task import (
    EVAL_BATCH,
    LM_FILE,
    PRESETS,
    RUNS,
    TASKS,
    SpeechConfig,
    build_model,
    decode,
    error_rates,
    outputs,
    prepare,
    preset,
    resolved,
    score,
    train,
)

__all__ = [
    "CHARACTERS",
    "DIGITS",
    "DIGIT_SYMBOLS",
    "EVAL_BATCH",
    "LM_FILE",
    "PRESETS",
    "RUNS",
    "TASKS",
    "SpeechConfig",
    "build_model",
    "decode",
    "error_rates",
    "outputs",
    "prepare",
    "preset",
    "read_fsdd",
    "read_speechocean",
    "resolved",
    "score",
    "train",
]
