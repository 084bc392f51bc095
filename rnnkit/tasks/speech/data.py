"""The speech corpora: FSDD (isolated digits and the digit strings made from them) and
speechocean762 (read sentences), with the checks that no test speaker or recording reaches training.

**FSDD** (Free Spoken Digit Dataset): ``recordings/{digit}_{speaker}_{index}.wav``, 8 kHz mono,
6 speakers x 10 digits x 50. Its own split is by index: 0-4 test (300), 5-49 training (2,700),
the same six speakers on both sides; leave-one-speaker-out holds a whole speaker out instead.

**Digit strings** (for CTC) are spliced, not spoken: :func:`make_strings` draws a speaker, then
2-7 of that speaker's recordings (of one part of a split only: the test strings from test
recordings alone), and joins them with silences of 50-300 ms (50-200 ms before and after), then adds
white noise 30 dB below the string's speech power. All draws come from one seeded generator, so
the same seed makes the same strings. Each recording was trimmed on its own, so a string has no
coarticulation between its digits: real connected speech is harder.

**speechocean762**: Kaldi-style ``train/`` and ``test/`` (``text``, ``wav.scp``, ``utt2spk``) over
``audio/SPEAKERnnnn/*.opus``; 125 speakers each, none in both. The task draws validation as whole
training speakers (:func:`rnnkit.train.cv.fixed_split`), as speaker-independent as the test.
Transcripts are upper case; the model writes :data:`CHARACTERS` (space, apostrophe, A-Z).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...audio import read_audio
from ...data.locate import DataError

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_SYMBOLS = tuple("0123456789")  # the strings' CTC symbols 1..10 are the digits 0..9
CHARACTERS = tuple(" 'ABCDEFGHIJKLMNOPQRSTUVWXYZ")  # the sentences' CTC symbols 1..28
FSDD_RATE = 8000
TEST_INDICES = range(0, 5)  # FSDD's own split: recordings 0-4 of each speaker and digit are test
_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def find_corpus(data: str | os.PathLike | None, folder: str, marker: str) -> Path:
    """``data`` (or ``$RNNKIT_DATA/folder``) as a folder holding ``marker``."""
    roots = [Path(data)] if data is not None else []
    if data is None and os.environ.get("RNNKIT_DATA"):
        roots.append(Path(os.environ["RNNKIT_DATA"]) / folder)
    for root in roots:
        for candidate in (root, root / folder):
            if (candidate / marker).exists():
                return candidate
    where = ", ".join(str(r) for r in roots) or "nowhere (no --data and no $RNNKIT_DATA)"
    raise DataError(
        f"no {folder} corpus ({marker}) found in {where}; pass --data pointing at the {folder} folder"
    )


# -- FSDD -------------------------------------------------------------------------------------------


@dataclass
class Fsdd:
    paths: list[Path]
    digits: np.ndarray  # (N,) 0..9
    speakers: np.ndarray  # (N,) names
    indices: np.ndarray  # (N,) the recording's index 0..49
    waves: list[np.ndarray]  # (n_i,) float32 at 8 kHz
    # the training voices' perturbed features, kept for the next fold: {recipe: {position: copies}}
    variants: dict = field(default_factory=dict, repr=False)

    @property
    def speaker_names(self) -> list[str]:
        return sorted(set(self.speakers.tolist()))

    def dataset_split(self) -> tuple[np.ndarray, np.ndarray]:
        """(train, test) positions of FSDD's own split: index 0-4 test, the rest training."""
        test = np.isin(self.indices, list(TEST_INDICES))
        return np.flatnonzero(~test), np.flatnonzero(test)

    def speaker_split(self, speaker: str) -> tuple[np.ndarray, np.ndarray]:
        """(train, test) positions with ``speaker`` held out."""
        if speaker not in self.speaker_names:
            raise DataError(f"no FSDD speaker {speaker!r}; the speakers are {', '.join(self.speaker_names)}")
        held = self.speakers == speaker
        return np.flatnonzero(~held), np.flatnonzero(held)


def read_fsdd(data: str | os.PathLike | None) -> Fsdd:
    """Every ``recordings/*.wav`` of the FSDD folder, read at 8 kHz, sorted by name."""
    root = find_corpus(data, "fsdd", "recordings")
    paths = sorted((root / "recordings").glob("*.wav"))
    parsed = [_NAME.match(p.name) for p in paths]
    bad = [p.name for p, m in zip(paths, parsed) if m is None]
    if bad or not paths:
        raise DataError(
            f"{root / 'recordings'}: expected files named digit_speaker_index.wav, "
            f"got {bad[:3] if bad else 'none'}"
        )
    return Fsdd(
        paths,
        np.array([int(m.group(1)) for m in parsed]),
        np.array([m.group(2) for m in parsed]),
        np.array([int(m.group(3)) for m in parsed]),
        [read_audio(p, FSDD_RATE) for p in paths],
    )


def check_disjoint(train: Sequence, test: Sequence, what: str) -> None:
    """Refuse a split whose test ``what`` (speakers, recordings, utterances) also occur in training."""
    shared = sorted(set(map(str, train)) & set(map(str, test)))
    if shared:
        raise DataError(
            f"{len(shared)} test {what} also occur in training ({', '.join(shared[:3])}); the split leaks"
        )


@dataclass
class Strings:
    waves: list[np.ndarray]  # (n_i,) float32 at 8 kHz
    digits: list[np.ndarray]  # (S_i,) 0..9
    sources: list[list[int]]  # the FSDD positions each string joins


def make_strings(
    corpus: Fsdd,
    positions: np.ndarray,
    count: int,
    seed: int,
    min_digits: int = 2,
    max_digits: int = 7,
    snr_db: float = 30.0,
) -> Strings:
    """``count`` digit strings spliced from the recordings at ``positions`` (see the module)."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[int]] = {}
    for i in np.asarray(positions).tolist():
        by_speaker.setdefault(str(corpus.speakers[i]), []).append(i)
    speakers = sorted(by_speaker)
    waves, digits, sources = [], [], []
    for _ in range(count):
        pool = by_speaker[speakers[int(rng.integers(len(speakers)))]]
        size = int(rng.integers(min_digits, max_digits + 1))
        chosen = [pool[int(j)] for j in rng.integers(0, len(pool), size=size)]
        pieces = [np.zeros(int(rng.uniform(0.05, 0.2) * FSDD_RATE), np.float32)]
        for k, i in enumerate(chosen):
            pieces.append(corpus.waves[i])
            gap = rng.uniform(0.05, 0.2) if k == len(chosen) - 1 else rng.uniform(0.05, 0.3)
            pieces.append(np.zeros(int(gap * FSDD_RATE), np.float32))
        speech = np.concatenate([corpus.waves[i] for i in chosen]).astype(np.float64)
        wave = np.concatenate(pieces)
        noise_power = np.mean(speech**2) / 10 ** (snr_db / 10)
        wave = wave + rng.normal(0.0, np.sqrt(noise_power), size=len(wave))
        waves.append(wave.astype(np.float32))
        digits.append(corpus.digits[chosen].copy())
        sources.append(chosen)
    return Strings(waves, digits, sources)


# -- speechocean762 ---------------------------------------------------------------------------------


@dataclass
class Utterances:
    ids: list[str]
    speakers: list[str]
    texts: list[str]  # normalised: CHARACTERS only, single spaces
    paths: list[Path]

    def subset(self, positions: Sequence[int]) -> Utterances:
        return Utterances(
            *([items[i] for i in positions] for items in (self.ids, self.speakers, self.texts, self.paths))
        )


def normalize_text(text: str) -> str:
    kept = "".join(c for c in text.upper() if c in CHARACTERS)
    return " ".join(kept.split())


def _kaldi_table(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise DataError(f"{path} is missing; expected a Kaldi-style folder with text, wav.scp and utt2spk")
    table = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.strip().split(maxsplit=1)
        if not parts:
            continue
        if len(parts) != 2:
            raise DataError(f"{path}, line {number}: expected 'utterance-id value', got {line!r}")
        table[parts[0]] = parts[1].strip()
    return table


def read_speechocean(data: str | os.PathLike | None, part: str) -> Utterances:
    """The ``part`` ("train" or "test") of speechocean762, in utterance-id order."""
    root = find_corpus(data, "speechocean762", "train/wav.scp")
    texts = _kaldi_table(root / part / "text")
    wavs = _kaldi_table(root / part / "wav.scp")
    speakers = _kaldi_table(root / part / "utt2spk")
    ids = sorted(texts)
    missing = [u for u in ids if u not in wavs or u not in speakers]
    if missing:
        raise DataError(f"{root / part}: utterances {', '.join(missing[:3])} lack a wav.scp or utt2spk line")
    return Utterances(
        ids,
        [speakers[u] for u in ids],
        [normalize_text(texts[u]) for u in ids],
        [root / wavs[u] for u in ids],
    )


__all__ = [
    "CHARACTERS",
    "DIGITS",
    "DIGIT_SYMBOLS",
    "FSDD_RATE",
    "TEST_INDICES",
    "Fsdd",
    "Strings",
    "Utterances",
    "check_disjoint",
    "find_corpus",
    "make_strings",
    "normalize_text",
    "read_fsdd",
    "read_speechocean",
]
