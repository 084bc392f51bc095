"""More text for a sentences run's character LM (issue 29): the n-gram that the beam search
weighs (:mod:`rnnkit.decode.ngram`) learns from the run's training transcripts alone, 2,200
sentences; plain English text (a file of sentences, one a line, such as Tatoeba's English side)
teaches it far more spelling. ``rnnkit speech lm RUN --text FILE`` refits the run's ``lm.json`` on
its training transcripts and the file's sentences, without touching the acoustic model.

No sentence the run validates or tests on may teach the LM: the file's lines are normalised as the
transcripts are (typographic apostrophes made ``'``, upper case, the model's characters only,
single spaces), and a line that is, or holds as whole words, a validation or test sentence is left
out (:func:`unheard`), so the test stays disjoint from everything trained, and the LM weight
chosen on validation is not flattered.
``lm_sources.json`` beside ``lm.json`` records what the LM read.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...decode.ngram import CharNgram
from ...errors import ConfigError, InputError
from ...train import checkpoint as ckpt
from ...train import folds
from ...train.cv import Splits
from . import data as corpora
from .scoring import LM_FILE, LM_SOURCES_FILE
from .task import RUNS, SPEECHOCEAN_SOURCE, SpeechConfig, speechocean_utterances

# typographic apostrophes (Tatoeba's English side has "I’m falling.") are the transcripts' "'": dropped
# as unknown characters, "I’M A DOG" would read "IM A DOG", a misspelling that a heard "I'M A DOG" misses
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})


def read_sentences(paths: Iterable[str | Path]) -> list[str]:
    """The distinct normalised non-empty lines of the text files at ``paths``, in first-seen order."""
    seen: dict[str, None] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"no text file at {path}")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise InputError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
        for line in lines:
            text = corpora.normalize_text(line.translate(APOSTROPHES))
            if text:
                seen.setdefault(text)
    return list(seen)


def unheard(sentences: list[str], heard: Iterable[str]) -> tuple[list[str], int]:
    """``sentences`` less those that are, or hold as a run of whole words, one of ``heard`` (all
    normalised); returns what is kept and how many were left out."""
    heard = set(heard)
    longest = max((len(h.split()) for h in heard), default=0)
    kept = []
    for sentence in sentences:
        words = sentence.split()
        spans = (
            " ".join(words[i : i + n])
            for n in range(1, min(longest, len(words)) + 1)
            for i in range(len(words) - n + 1)
        )
        if not any(span in heard for span in spans):
            kept.append(sentence)
    return kept, len(sentences) - len(kept)


def run_sentences(run_dir: str | Path, data: str | Path | None) -> dict[str, list[str]]:
    """The sentences run's training, validation and test transcripts (its saved split; no audio read)."""
    config = RUNS.load_config(run_dir)
    if config.task != "sentences":
        raise ConfigError(f"{run_dir} is a --task {config.task} run; more LM text is for sentences runs")
    splits = Splits.load(Path(run_dir) / folds.SPLITS_FILE)
    everything, _ = speechocean_utterances(data)
    splits.check_source(len(everything.ids), SPEECHOCEAN_SOURCE, folds.SPLITS_FILE)
    split = splits[0]
    return {
        part: [everything.texts[i] for i in getattr(split, part)] for part in ("train", "validation", "test")
    }


def fit(config: SpeechConfig, transcripts: list[str], extra: list[str]) -> CharNgram:
    """The run's n-gram (its ``lm_order``) over its training transcripts and the ``extra`` sentences."""
    symbols = config.symbols
    order = config.lm_order or 6
    return CharNgram(order, len(symbols)).fit(
        [symbols.index(c) + 1 for c in s] for s in [*transcripts, *extra]
    )


def refit(
    run_dir: str | Path,
    texts: list[str | Path],
    data: str | Path | None,
    weight: float | None = None,
    bonus: float | None = None,
) -> dict[str, Any]:
    """Refit ``run_dir``'s ``lm.json`` on its training transcripts and the sentences of ``texts``
    that hold no validation or test sentence; returns (and saves as ``lm_sources.json``) the counts.
    ``weight`` and ``bonus`` replace the run's LM weight and per-symbol bonus (its decoding)."""
    run_dir = Path(run_dir)
    config = RUNS.load_config(run_dir)
    for name, value in (("weight", weight), ("bonus", bonus)):
        if value is not None and not value >= 0:
            raise InputError(f"--{name} must be >= 0, got {value}")
    parts = run_sentences(run_dir, data)
    offered = read_sentences(texts)
    kept, dropped = unheard(offered, [*parts["validation"], *parts["test"]])
    lm = fit(config, parts["train"], kept)
    lm.save(run_dir / LM_FILE)
    config.lm_order = lm.order  # the beam search reads the LM only with an order
    config.lm_weight = config.lm_weight if weight is None else weight
    config.bonus = config.bonus if bonus is None else bonus
    RUNS.save_config(config, run_dir)
    record = {
        "order": lm.order,
        "transcripts": len(parts["train"]),
        "texts": [str(t) for t in texts],
        "sentences": len(offered),
        "kept": len(kept),
        "left_out": dropped,
        "lm_weight": config.lm_weight,
        "bonus": config.bonus,
    }
    ckpt.save_json(record, run_dir / LM_SOURCES_FILE)
    return record


__all__ = ["fit", "read_sentences", "refit", "run_sentences", "unheard"]
