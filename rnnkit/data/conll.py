"""CoNLL-2003 named entities: the column file format, tag schemes, and vocabularies for a tagger.

The file holds one token per line, ``TOKEN POS CHUNK TAG`` separated by spaces, a blank line between
sentences, and ``-DOCSTART-`` lines between documents. The original English files tag entities in
**IOB1**: ``I-X`` inside an entity of type X, ``B-X`` only where an X entity starts right after
another X entity. rnnkit converts to **IOB2** (BIO: every entity starts with ``B-X``), the scheme
that seqeval's conlleval-compatible scoring reads, and can train in **IOBES** (S- for a
single-token entity, E- for the last token), which some taggers learn better::

    tokens  Yesterday  ,  Harry  Potter  met  Hermione  Granger  .
    IOB1    O          O  I-PER  I-PER   O    I-PER     I-PER    O
    IOB2    O          O  B-PER  I-PER   O    B-PER     I-PER    O
    IOBES   O          O  B-PER  E-PER   O    B-PER     E-PER    O

Two adjacent entities of the same type are the tricky case: IOB1 writes ``I-PER I-PER B-PER``
for "[Harry Potter] [Hermione]" with no gap, IOB2 ``B-PER I-PER B-PER``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .locate import DataError

SCHEMES = ("iob2", "iobes")
PAD, UNK = "<pad>", "<unk>"


@dataclass
class Sentence:
    tokens: list[str]
    tags: list[str]  # IOB2 once read
    document: int = 0  # which document of the file (the count of -DOCSTART- lines before it, less one)


def read_conll(path: str | Path, tag_column: int = -1, scheme: str = "iob1") -> list[Sentence]:
    """The sentences of a CoNLL column file, tags converted to IOB2.

    ``scheme`` is the file's own: "iob1" (CoNLL-2003's English files) or "iob2". A line with the
    wrong number of columns, or a tag that is not ``O`` / ``B-X`` / ``I-X``, raises a
    :class:`DataError` naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no CoNLL file at {path}")
    if scheme not in ("iob1", "iob2"):
        raise DataError(f"scheme must be 'iob1' or 'iob2', got {scheme!r}")
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    columns, document = None, -1
    with path.open(encoding="utf-8", errors="strict") as file:
        try:
            lines = list(file)
        except UnicodeDecodeError as error:
            raise DataError(f"{path} is not UTF-8 text ({error.reason})") from None
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                iob2 = _to_iob2(tags, scheme, path, number - len(tags))
                sentences.append(Sentence(tokens, iob2, max(document, 0)))
            tokens, tags = [], []
            document += bool(fields)
            continue
        if columns is None:
            columns = len(fields)
            if columns < 2:
                raise DataError(f"{path}, line {number}: expected a token and a tag, got {line.strip()!r}")
        if len(fields) != columns:
            raise DataError(
                f"{path}, line {number}: expected {columns} columns like the lines before, "
                f"got {len(fields)}: {line.strip()!r}"
            )
        tag = fields[tag_column]
        if not (tag == "O" or re.fullmatch(r"[BI]-\S+", tag)):
            raise DataError(
                f"{path}, line {number}: tag {tag!r} is not O, B-TYPE or I-TYPE (scheme {scheme})"
            )
        tokens.append(fields[0])
        tags.append(tag)
    if tokens:
        iob2 = _to_iob2(tags, scheme, path, len(lines) - len(tags) + 1)
        sentences.append(Sentence(tokens, iob2, max(document, 0)))
    if not sentences:
        raise DataError(f"{path} holds no sentence")
    return sentences


def _to_iob2(tags: list[str], scheme: str, path: Path, first_line: int) -> list[str]:
    if scheme == "iob1":
        return iob1_to_iob2(tags)
    for offset, (prev, tag) in enumerate(zip(["O", *tags], tags)):
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            raise DataError(
                f"{path}, line {first_line + offset}: {tag} follows {prev}, which IOB2 does not allow "
                "(is the file IOB1? pass scheme='iob1')"
            )
    return list(tags)


def iob1_to_iob2(tags: list[str]) -> list[str]:
    """IOB1 -> IOB2: an ``I-X`` that does not continue an X entity starts one (``B-X``)."""
    out = []
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (i == 0 or tags[i - 1][2:] != tag[2:]):
            out.append("B-" + tag[2:])
        else:
            out.append(tag)
    return out


def iob2_to_iobes(tags: list[str]) -> list[str]:
    """IOB2 -> IOBES: an entity of one token is ``S-X``; a longer one ends with ``E-X``."""
    out = []
    for i, tag in enumerate(tags):
        continues = i + 1 < len(tags) and tags[i + 1] == "I-" + tag[2:]
        if tag.startswith("B-"):
            out.append(tag if continues else "S-" + tag[2:])
        elif tag.startswith("I-"):
            out.append(tag if continues else "E-" + tag[2:])
        else:
            out.append(tag)
    return out


def iobes_to_iob2(tags: list[str]) -> list[str]:
    """IOBES -> IOB2 (S- becomes B-, E- becomes I-); the inverse of :func:`iob2_to_iobes` on
    well-formed input, and a best reading of a decoder's ill-formed output."""
    return ["B-" + t[2:] if t.startswith("S-") else "I-" + t[2:] if t.startswith("E-") else t for t in tags]


def entity_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """``(type, start, end)`` of each entity in IOB2 tags, ``end`` exclusive. An ``I-X`` that does
    not continue an X entity starts one (conlleval's reading)."""
    spans: list[tuple[str, int, int]] = []
    for i, tag in enumerate(tags):
        if tag == "O":
            continue
        kind = tag[2:]
        if tag.startswith("B-") or not spans or spans[-1][0] != kind or spans[-1][2] != i:
            spans.append((kind, i, i + 1))
        else:
            spans[-1] = (kind, spans[-1][1], i + 1)
    return spans


def normalize_digits(word: str) -> str:
    """Every digit as 0: "1996-08-22" -> "0000-00-00", so dates and numbers share embeddings."""
    return re.sub(r"\d", "0", word)


CASINGS = ("lower", "upper", "title", "mixed", "numeric", "other", "pad")


def casing(word: str) -> int:
    """The index in :data:`CASINGS` of the word's shape: lowercased embeddings lose it.

    "numeric" also takes words made only of ``. , - /`` without a digit: the measured runs
    (docs/tag.md) were trained so, and a run's features must not change under it."""
    if word.isdigit() or re.fullmatch(r"[\d.,-/]+", word):
        return CASINGS.index("numeric")
    if word.islower():
        return CASINGS.index("lower")
    if word.isupper():
        return CASINGS.index("upper")
    if word.istitle():
        return CASINGS.index("title")
    if any(c.isalpha() for c in word):
        return CASINGS.index("mixed")
    return CASINGS.index("other")


class Vocab:
    """Strings to ids: 0 is padding, 1 unknown, then the strings in the order given."""

    def __init__(self, items: Iterable[str]) -> None:
        self.items = [PAD, UNK, *[item for item in items if item not in (PAD, UNK)]]
        self.index = {item: i for i, item in enumerate(self.items)}
        if len(self.index) != len(self.items):
            raise ValueError("a Vocab needs distinct items")

    @classmethod
    def build(cls, counts: Counter, min_count: int = 1) -> Vocab:
        """Items seen at least ``min_count`` times, the most frequent first (ties by string)."""
        kept = sorted((item for item, n in counts.items() if n >= min_count), key=lambda s: (-counts[s], s))
        return cls(kept)

    def __len__(self) -> int:
        return len(self.items)

    def __call__(self, item: str) -> int:
        """The id of ``item``: 1 (unknown) if unseen, and never 0 (padding), even for "<pad>"."""
        return self.index.get(item, 1) or 1


class TagSet:
    """The tags of a scheme, ``O`` first, then B-/I- (and E-/S- for IOBES) per entity type."""

    def __init__(self, types: Iterable[str], scheme: str = "iob2") -> None:
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
        self.types = sorted(set(types))
        self.scheme = scheme
        prefixes = ("B", "I") if scheme == "iob2" else ("B", "I", "E", "S")
        self.tags = ["O", *[f"{p}-{t}" for t in self.types for p in prefixes]]
        self.index = {tag: i for i, tag in enumerate(self.tags)}

    @classmethod
    def from_sentences(cls, sentences: list[Sentence], scheme: str = "iob2") -> TagSet:
        return cls({tag[2:] for s in sentences for tag in s.tags if tag != "O"}, scheme)

    def __len__(self) -> int:
        return len(self.tags)

    def encode(self, iob2_tags: list[str]) -> list[int]:
        """IOB2 tags -> ids in this scheme; an unknown entity type is a ValueError."""
        tags = iob2_to_iobes(iob2_tags) if self.scheme == "iobes" else iob2_tags
        try:
            return [self.index[tag] for tag in tags]
        except KeyError as error:
            raise ValueError(
                f"tag {error.args[0]!r} is not in this tag set ({', '.join(self.tags)})"
            ) from None

    def decode(self, ids: list[int]) -> list[str]:
        """Ids -> IOB2 tags (IOBES read back as IOB2)."""
        tags = [self.tags[i] for i in ids]
        return iobes_to_iob2(tags) if self.scheme == "iobes" else tags
