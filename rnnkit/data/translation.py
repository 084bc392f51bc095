"""Sentence pairs for translation: the Tatoeba files of manythings.org/anki, read from their zip.

``fra-eng.zip`` holds ``fra.txt`` (``english<TAB>french``), ``kor-eng.zip`` holds ``kor.txt``
(``english<TAB>korean<TAB>attribution``). A pair name says the direction, source first:
``"fra-eng"`` translates French into English, ``"eng-fra"`` English into French.

Cleaning: Unicode NFC, runs of white space as one space, ends stripped; a pair with an empty side
is dropped, and so are exact duplicate pairs.

Splitting by *meaning*: Tatoeba holds paraphrases on both sides. An English sentence has several
French translations and each of those may have English translations of its own, so a split that
only keeps a source sentence's pairs together still trains on a test pair's reference through a
paraphrase of its source ("Je sais que vous ..." in test, "Je sais que tu ..." in training, one
English sentence for both). :func:`split_by_component` links every pair's source and target
*keys* (:func:`match_key`: NFKC, case, English contractions, accents, punctuation, apostrophe
and quote variants and spacing ignored) and keeps each connected group of pairs in one split, so
that no key of a test or validation pair, on either side, is trained on (:func:`shared_keys`
checks it).
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


# English contractions spelled out, so that "I'm here." and "I am here." have one key (a paraphrase
# the split must keep together); "'s" (is, has or a possessive) is left as it is.
CONTRACTIONS = (
    (r"\bcan't\b", "can not"),
    (r"\bcannot\b", "can not"),
    (r"\bwon't\b", "will not"),
    (r"\bshan't\b", "shall not"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'m\b", " am"),
    (r"'ll\b", " will"),
    (r"'ve\b", " have"),
    (r"'d\b", " would"),
)


def match_key(sentence: str) -> str:
    """The sentence as the split compares it: NFKC, case-folded, English contractions spelled out,
    accents dropped, punctuation (apostrophes and quotes of every kind, commas, final marks) and
    spacing ignored, i.e. its words joined by single spaces. "Je sais qu’il l’a fait !" and "je
    sais qu'il l'a fait" have one key, and so have "I'm sure." and "I am sure"."""
    text = unicodedata.normalize("NFKC", sentence).casefold()
    text = re.sub("[\u2018\u2019\u02bc`\u00b4]", "'", text)  # apostrophe variants
    for pattern, spelled in CONTRACTIONS:
        text = re.sub(pattern, spelled, text)
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    words = " ".join(re.findall(r"\w+", unicodedata.normalize("NFC", bare)))
    return words or " ".join(text.split())  # no words ("?!", an emoji): the spelling itself, not ""


def components(pairs: list[Pair]) -> list[list[int]]:
    """Groups of pair indices joined by a shared source key or a shared target key (the connected
    components of the graph whose nodes are keys and whose edges are pairs), each group in the
    pairs' order, groups in the order of their first pair."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]  # path halving
            node = parent[node]
        return node

    ends = [("s" + match_key(p.source), "t" + match_key(p.target)) for p in pairs]
    for source, target in ends:
        a, b = root(source), root(target)
        if a != b:
            parent[a] = b
    groups: dict[str, list[int]] = {}
    for index, (source, _) in enumerate(ends):
        groups.setdefault(root(source), []).append(index)
    return list(groups.values())


def split_by_component(pairs: list[Pair], test: int, validation: int, seed: int = 0) -> Splits:
    """Train/validation/test with every connected group of pairs (:func:`components`) in one split.

    Groups are shuffled with ``seed``; test takes whole groups until it holds at least ``test``
    pairs, then validation until ``validation``, and training the rest. No source or target key
    of a test or validation pair appears in another split (:func:`shared_keys` is empty)."""
    if test < 1 or validation < 0:
        raise DataError(f"test must be >= 1 and validation >= 0 pairs, got {test} and {validation}")
    if len(pairs) < test + validation + 1:
        raise DataError(
            f"{len(pairs)} pairs cannot make {test} test and {validation} validation pairs and a training set"
        )
    groups = components(pairs)
    order = np.random.default_rng(seed).permutation(len(groups))
    splits: list[list[Pair]] = [[], [], []]  # test, validation, train
    wanted = (test, validation)
    current = 0
    for index in order:
        while current < 2 and len(splits[current]) >= wanted[current]:
            current += 1
        splits[current] += [pairs[i] for i in groups[index]]
    if not splits[2]:
        raise DataError(
            f"{len(pairs)} pairs in {len(groups)} groups of paraphrases leave no training set after "
            f"{test} test and {validation} validation pairs; ask for fewer"
        )
    return Splits(train=splits[2], validation=splits[1], test=splits[0])


def shared_keys(first: list[Pair], second: list[Pair]) -> dict[str, set[str]]:
    """The source keys and the target keys (:func:`match_key`) that two lists of pairs share."""

    def keys(pairs: list[Pair], side: str) -> set[str]:
        return {match_key(getattr(p, side)) for p in pairs}

    return {side: keys(first, side) & keys(second, side) for side in ("source", "target")}


def references(pairs: list[Pair]) -> tuple[list[str], list[list[str]]]:
    """The distinct source sentences of ``pairs`` (by :func:`match_key`, the first spelling kept,
    in order) and, for each, every target the pairs give it: the references of multi-reference
    scoring."""
    sources: dict[str, str] = {}
    targets: dict[str, list[str]] = {}
    for p in pairs:
        key = match_key(p.source)
        sources.setdefault(key, p.source)
        if p.target not in targets.setdefault(key, []):
            targets[key].append(p.target)
    return list(sources.values()), list(targets.values())
