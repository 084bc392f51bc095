"""The Large Movie Review Dataset (Maas et al., ACL 2011), read as its official tarball.

``aclImdb/{train,test}/{pos,neg}/ID_RATING.txt`` (12,500 reviews each), ``aclImdb/train/unsup/``
(50,000 unlabelled reviews). The reader streams ``aclImdb_v1.tar.gz`` member by member without
unpacking it, or reads the extracted ``aclImdb/`` folder. ``<br />`` tags become spaces.

The validation split is a fixed 10% of ``train/`` (the same reviews whatever the training seed);
the test set is for the final score only.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .locate import DataError, cache_dir, candidates, download

FILENAME = "aclImdb_v1.tar.gz"
URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
MD5 = "7c2ac02c03563afcf9b574c7e56c153a"  # of the official download
VALIDATION_SHARE = 0.1
VALIDATION_SEED = 20111  # fixed: the split never moves with the training seed

_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


@dataclass
class Split:
    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # 1 positive, 0 negative
    ratings: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: np.ndarray | list[int]) -> Split:
        return Split(
            [self.texts[i] for i in indices],
            [self.labels[i] for i in indices],
            [self.ratings[i] for i in indices],
        )


@dataclass
class Imdb:
    train: Split
    validation: Split
    test: Split
    unsup: list[str]
    source: Path


def clean(text: str) -> str:
    return _BREAK.sub(" ", text)


def resolve(data: str | os.PathLike | None = None, allow_download: bool = True) -> Path:
    """The tarball or extracted folder to read; downloads into the cache if nowhere else."""
    for path in candidates(FILENAME, data):
        if path.is_file():
            return path
        if path.is_dir() and (path / "aclImdb").is_dir():
            return path / "aclImdb"
        if path.is_dir() and path.name == "aclImdb" and (path / "train").is_dir():
            return path
    if data is not None:
        raise DataError(f"no IMDB data at {data}: expected {FILENAME} or an extracted aclImdb/ folder")
    target = cache_dir() / FILENAME
    if not allow_download:
        raise DataError(f"IMDB not found; put {FILENAME} in {cache_dir()} or pass --data PATH")
    try:
        return download(URL, target, MD5)
    except OSError as error:
        raise DataError(
            f"IMDB not found and the download failed ({error}); download {URL} yourself and put it "
            f"in {cache_dir()}, set RNNKIT_DATA to its folder, or pass --data PATH"
        ) from None


def _iter_tarball(path: Path, unsup: bool) -> Iterator[tuple[str, str, int, int, str]]:
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                match = _MEMBER.search(member.name)
                if not member.isfile() or match is None:
                    continue
                split, label, review_id, rating = match.groups()
                if label == "unsup" and not unsup:
                    continue
                raw = archive.extractfile(member).read()
                yield split, label, int(review_id), int(rating), raw.decode("utf-8", errors="replace")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DataError(f"{path} is not a readable tar.gz archive ({error})") from None


def _iter_folder(root: Path, unsup: bool) -> Iterator[tuple[str, str, int, int, str]]:
    for path in sorted(root.glob("*/*/*.txt")):
        match = _MEMBER.search(path.as_posix())
        if match is None or (match.group(2) == "unsup" and not unsup):
            continue
        split, label, review_id, rating = match.groups()
        yield split, label, int(review_id), int(rating), path.read_text("utf-8", errors="replace")


def load(
    data: str | os.PathLike | None = None,
    unsup: bool = False,
    allow_download: bool = True,
) -> Imdb:
    """Read train (minus validation), validation and test; ``unsup=True`` adds the 50,000."""
    source = resolve(data, allow_download)
    reader = _iter_folder(source, unsup) if source.is_dir() else _iter_tarball(source, unsup)
    rows: dict[str, list[tuple[int, int, int, str]]] = {"train": [], "test": []}
    unlabelled: list[tuple[int, str]] = []
    for split, label, review_id, rating, text in reader:
        if label == "unsup":
            unlabelled.append((review_id, clean(text)))
        else:
            rows[split].append((int(label == "pos"), review_id, rating, clean(text)))
    if not rows["train"] or not rows["test"]:
        raise DataError(
            f"{source} is not the IMDB layout: found {len(rows['train'])} train and "
            f"{len(rows['test'])} test reviews under aclImdb/{{train,test}}/{{pos,neg}}/ID_RATING.txt"
        )
    splits = {}
    for name, items in rows.items():
        items.sort(key=lambda r: (r[0], r[1]))  # archive order is not guaranteed
        splits[name] = Split([r[3] for r in items], [r[0] for r in items], [r[2] for r in items])
    order = np.random.default_rng(VALIDATION_SEED).permutation(len(splits["train"]))
    n_val = round(VALIDATION_SHARE * len(order))
    unlabelled.sort()
    return Imdb(
        train=splits["train"].subset(np.sort(order[n_val:])),
        validation=splits["train"].subset(np.sort(order[:n_val])),
        test=splits["test"],
        unsup=[text for _, text in unlabelled],
        source=source,
    )


def pretraining_texts(data: str | os.PathLike | None = None) -> Iterator[tuple[str, str]]:
    """The reviews a language model may learn from, streamed: ``("train", text)`` for the labelled
    training reviews :func:`load` trains on, ``("validation", text)`` for its validation reviews
    (held out: the language model's validation text), ``("unsup", text)`` for the 50,000 unlabelled.

    The test reviews are never read: their archive members are skipped by name, before their
    bytes are extracted (asserted by the tests). A first pass over the names finds the training
    reviews that :func:`load` holds out for validation (the same seeded draw); a second yields the
    texts, one review in memory at a time."""
    source = resolve(data)
    names = sorted(source.glob("*/*/*.txt")) if source.is_dir() else []

    def members() -> Iterator[tuple[str, str, int, Any]]:
        if source.is_dir():
            for path in names:
                match = _MEMBER.search(path.as_posix())
                if match is not None and match.group(1) == "train":
                    yield match.group(2), match.group(2), int(match.group(3)), path
            return
        try:
            with tarfile.open(source, "r:*") as archive:
                for member in archive:
                    match = _MEMBER.search(member.name)
                    if member.isfile() and match is not None and match.group(1) == "train":
                        yield match.group(2), match.group(2), int(match.group(3)), (archive, member)
        except (tarfile.TarError, OSError, EOFError) as error:
            raise DataError(f"{source} is not a readable tar.gz archive ({error})") from None

    def read(handle: Any) -> str:
        if isinstance(handle, Path):
            return handle.read_text("utf-8", errors="replace")
        archive, member = handle
        return archive.extractfile(member).read().decode("utf-8", errors="replace")

    labelled = sorted(
        (int(label == "pos"), review_id) for label, _, review_id, _ in members() if label != "unsup"
    )
    if not labelled:
        raise DataError(f"{source} holds no training reviews under aclImdb/train/{{pos,neg}}/")
    order = np.random.default_rng(VALIDATION_SEED).permutation(len(labelled))
    held_out = {labelled[i] for i in order[: round(VALIDATION_SHARE * len(order))]}
    for label, _, review_id, handle in members():
        if label == "unsup":
            yield "unsup", clean(read(handle))
        else:
            key = (int(label == "pos"), review_id)
            yield ("validation" if key in held_out else "train"), clean(read(handle))
