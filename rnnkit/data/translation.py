"""Sentence pairs for translation: the Tatoeba files of manythings.org/anki, read from their zip.

``fra-eng.zip`` holds ``fra.txt`` (``english<TAB>french``), ``kor-eng.zip`` holds ``kor.txt``
(``english<TAB>korean<TAB>attribution``). A pair name says the direction, source first:
``"fra-eng"`` translates French into English, ``"eng-fra"`` English into French.

Cleaning: Unicode NFC, runs of white space as one space, ends stripped; a pair with an empty side
is dropped, and so are exact duplicate pairs.

Splitting by *source sentence*: many English sentences have several French translations and the
other way round, so a random split of pairs would put paraphrases of a test sentence in training
and inflate the test score. :func:`split_by_source` puts all pairs of one source sentence in the
same split, so no test source is ever seen in training.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .locate import DataError

FILES = {"fra": ("fra-eng.zip", "fra.txt"), "kor": ("kor-eng.zip", "kor.txt")}


@dataclass(frozen=True)
class Pair:
    source: str
    target: str


def normalize(text: str) -> str:
    """NFC, white space runs as one space, ends stripped."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def parse_pair_name(pair: str) -> tuple[str, str]:
    """``"fra-eng"`` -> ``("fra", "eng")``; one side must be English, the other a language we ship."""
    parts = pair.split("-")
    if len(parts) != 2 or "eng" not in parts or not ({p for p in parts if p != "eng"} <= set(FILES)):
        choices = ", ".join(f"{lang}-eng, eng-{lang}" for lang in FILES)
        raise DataError(f"unknown language pair {pair!r}; choose one of {choices}")
    return parts[0], parts[1]


def read_pairs(folder: str | Path, pair: str) -> list[Pair]:
    """The cleaned, de-duplicated pairs of ``pair`` from the zip in ``folder`` (or a ``tatoeba``
    folder inside it), in the file's order."""
    source, target = parse_pair_name(pair)
    other = source if source != "eng" else target
    archive, member = FILES[other]
    folder = Path(folder)
    path = next((p for p in (folder / archive, folder / "tatoeba" / archive) if p.is_file()), None)
    if path is None:
        raise DataError(f"no {archive} in {folder} or {folder / 'tatoeba'}; pass the folder that holds it")
    try:
        with zipfile.ZipFile(path) as zipped:
            raw = zipped.read(member)
    except (zipfile.BadZipFile, KeyError) as error:
        raise DataError(f"{path} is not the expected zip with {member} ({error})") from None
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise DataError(f"{path}:{member} is not UTF-8 ({error.reason})") from None
    seen: set[Pair] = set()
    pairs = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(
                f"{path}:{member}, line {number}: expected english<TAB>{other}, got {line[:80]!r}"
            )
        english, foreign = normalize(fields[0]), normalize(fields[1])
        if not english or not foreign:
            continue
        item = Pair(foreign, english) if source != "eng" else Pair(english, foreign)
        if item not in seen:
            seen.add(item)
            pairs.append(item)
    return pairs


@dataclass
class Splits:
    train: list[Pair]
    validation: list[Pair]
    test: list[Pair]


def split_by_source(pairs: list[Pair], test: int, validation: int, seed: int = 0) -> Splits:
    """Train/validation/test with every source sentence's pairs in one split.

    Source sentences are shuffled with ``seed``; test takes whole groups until it holds at least
    ``test`` pairs, then validation until ``validation``, and training the rest. Sentences are
    grouped after lowercasing and dropping the final punctuation, so that "Go." and "Go!" (the
    same source for a model) land together."""
    if test < 1 or validation < 0:
        raise DataError(f"test must be >= 1 and validation >= 0 pairs, got {test} and {validation}")
    groups: dict[str, list[Pair]] = {}
    for item in pairs:
        groups.setdefault(_group_key(item.source), []).append(item)
    keys = list(groups)
    if sum(map(len, groups.values())) < test + validation + 1:
        raise DataError(
            f"{len(pairs)} pairs cannot make {test} test and {validation} validation pairs and a training set"
        )
    order = np.random.default_rng(seed).permutation(len(keys))
    splits: list[list[Pair]] = [[], [], []]  # test, validation, train
    wanted = (test, validation)
    current = 0
    for index in order:
        while current < 2 and len(splits[current]) >= wanted[current]:
            current += 1
        splits[current] += groups[keys[index]]
    return Splits(train=splits[2], validation=splits[1], test=splits[0])


def _group_key(sentence: str) -> str:
    return re.sub("[\\s.!?\u3002\uff01\uff1f\u2026]+$", "", sentence.lower())  # also 。！？…
