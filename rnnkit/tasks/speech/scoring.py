"""A speech run's outputs, decoding and test scores: accuracy and confusion for isolated digits,
WER (and CER for sentences, with jiwer) for each CTC decoder: greedy, prefix beam search, and beam
search with the run's character n-gram LM."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from ...data.sequences import FeatureSequences
from ...decode.ctc import greedy, prefix_beam_search
from ...decode.ngram import CharNgram
from ...models.sequence import probabilities
from ...train.metrics import classification_scores
from . import data as corpora

if TYPE_CHECKING:
    from .task import SpeechConfig, SpeechData

LM_FILE = "lm.json"  # a CTC run's character n-gram, learned from its training transcripts
LM_SOURCES_FILE = "lm_sources.json"  # what else it read (rnnkit speech lm --text; lmtext.py)
EVAL_BATCH, EVAL_STEPS = 64, 40_000  # inference batches: at most 64 utterances, 40,000 frames


def outputs(
    model: nn.Module, dataset: FeatureSequences, progress: Callable[[int, int], None] | None = None
) -> list[np.ndarray]:
    """Per utterance: class probabilities (C,) for the clip head, log-probabilities (T_i, C+1)
    for the CTC head; in the dataset's order, through the core's inference loop."""
    log = model.config.head == "ctc"
    return probabilities([model], dataset, progress, EVAL_BATCH, EVAL_STEPS, log=log)


def decode(
    config: SpeechConfig, log_probs: np.ndarray, beam: int = 1, lm: CharNgram | None = None
) -> list[int]:
    """Symbol ids of one utterance: greedy (``beam`` 1) or prefix beam search, with ``lm`` weighted."""
    if beam <= 1:
        return greedy(log_probs)[0]
    weight = config.lm_weight if lm is not None else 0.0
    bonus = config.bonus if lm is not None else 0.0
    return list(prefix_beam_search(log_probs, beam, lm, weight, bonus, min_prob=1e-3)[0].prefix)


def error_rates(references: list[str], hypotheses: list[str], characters: bool) -> dict[str, float]:
    """WER (over words, or over digits for the strings) and, for text, CER, with jiwer."""
    import jiwer

    result = {"wer": float(jiwer.wer(references, [h or "" for h in hypotheses]))}
    if characters:
        result["cer"] = float(jiwer.cer(references, hypotheses))
    result["exact"] = float(np.mean([r == h for r, h in zip(references, hypotheses)]))
    return result


def score(config: SpeechConfig, model: nn.Module, data: SpeechData, lm: CharNgram | None) -> dict[str, Any]:
    """The test scores: accuracy and confusion (digits), or error rates for each decoder."""
    start = time.perf_counter()
    out = outputs(model, data.test)
    forward = time.perf_counter() - start
    if config.task == "digits":
        result = classification_scores(np.stack(out), data.test.labels, corpora.DIGIT_SYMBOLS)
        return {
            **{f"test_{name}": value for name, value in result.items()},
            "test_seconds_audio": data.test_seconds,
            "test_seconds_model": forward,
        }
    sentences = config.task == "sentences"
    decoders = {"greedy": (1, None), f"beam{config.beam}": (config.beam, None)}
    if lm is not None:
        decoders[f"beam{config.beam}+lm"] = (config.beam, lm)
    results: dict[str, Any] = {"test_seconds_audio": data.test_seconds, "test_seconds_model": forward}
    for name, (beam, model_lm) in decoders.items():
        begin = time.perf_counter()
        hypotheses = [config.transcript(decode(config, lp, beam, model_lm)) for lp in out]
        rates = error_rates(data.test_texts, hypotheses, sentences)
        results[f"test_{name}"] = {**rates, "seconds": time.perf_counter() - begin}
        results.setdefault(
            "test_examples",
            [{"reference": r, "greedy": h} for r, h in list(zip(data.test_texts, hypotheses))[:10]],
        )
    results["test_wer"] = results["test_greedy"]["wer"]
    if sentences:
        results["test_cer"] = results["test_greedy"]["cer"]
    return results


def load_lm(config: SpeechConfig, run_dir: Path | None) -> CharNgram | None:
    """The run's character n-gram for beam search, or None (digits, no LM, or none saved)."""
    if config.task == "digits" or not config.lm_order or run_dir is None:
        return None
    path = Path(run_dir) / LM_FILE
    return CharNgram.load(path) if path.is_file() else None


__all__ = [
    "EVAL_BATCH",
    "EVAL_STEPS",
    "LM_FILE",
    "LM_SOURCES_FILE",
    "decode",
    "error_rates",
    "load_lm",
    "outputs",
    "score",
]
