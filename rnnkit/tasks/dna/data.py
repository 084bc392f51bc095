"""DNA in: the UCI splice-junction file, a user's sequences (FASTA or one a line), and the adapter
that turns bases into the ``(T, 4)`` features of the sequence core.

The adapter is a one-hot over A, C, G, T, and an IUPAC ambiguity code is the mixture of the bases it
stands for, not a symbol of its own: N = (0.25, 0.25, 0.25, 0.25), R (A or G) = (0.5, 0, 0.5, 0),
D (A, G or T) = (1/3, 0, 1/3, 1/3). A model then reads an unknown base as the average of the known
ones, and the four-letter alphabet stays the one it was trained on. Either case is read.

Anything else is an :class:`InputError` of one line that names the sequence and the 1-based
position: a digit, U (RNA's base; write T), a gap, a space, another letter, an empty sequence.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...data import DataError
from ...errors import InputError

BASES = "ACGT"
CLASSES = ("EI", "IE", "N")  # exon->intron (donor), intron->exon (acceptor), neither
DATA_FILE = "splice.data"
WINDOW = 60  # the splice data's sequences: positions -30..+30 around the (candidate) junction

# IUPAC nucleotide codes: the bases each one stands for
IUPAC = {
    "A": "A",
    "C": "C",
    "G": "G",
    "T": "T",
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}


def _mixtures() -> np.ndarray:
    """(256, 4): the features of each byte, NaN for a byte that is no base nor IUPAC code."""
    table = np.full((256, 4), np.nan, dtype=np.float32)
    for code, bases in IUPAC.items():
        row = np.array([base in bases for base in BASES], dtype=np.float32) / len(bases)
        table[ord(code)] = table[ord(code.lower())] = row
    return table


MIXTURES = _mixtures()


def encode(sequence: str, name: str) -> np.ndarray:
    """``sequence`` as its (T, 4) features over A, C, G, T; an :class:`InputError` naming ``name``
    and the position of the first character that is not a base or an IUPAC code."""
    if not sequence.strip():
        raise InputError(f"{name} is empty; give a DNA sequence (A, C, G, T and IUPAC codes)")
    try:
        raw = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        raw = None
    if raw is not None:
        features = MIXTURES[raw]  # (T, 4)
        if not np.isnan(features[:, 0]).any():
            return features
    position, char = next((i, c) for i, c in enumerate(sequence, 1) if c.upper() not in IUPAC)
    raise InputError(f"{name}: {char!r} at position {position} is not a DNA base{_hint(char)}")


def _hint(char: str) -> str:
    if char in "Uu":
        return " (U is RNA's uracil; write T for DNA)"
    if char.isdigit():
        return " (a digit: remove numbering from the sequence)"
    if char in "-.":
        return " (a gap: remove alignment gaps, or write N for an unknown base)"
    if char.isspace():
        return " (a space inside the sequence: remove it)"
    return " (expected A, C, G, T or an IUPAC code: R Y S W K M B D H V N)"


@dataclass
class SpliceData:
    """The splice-junction sequences in file order: names, bases, their (T, 4) features, and
    class indices into CLASSES."""

    names: list[str]
    sequences: list[str]
    features: list[np.ndarray]
    labels: np.ndarray  # (N,) int64
    source: str  # "sha256:..." of the file: which data a run's splits point into


def find(data: str | Path | None) -> Path:
    """``splice.data`` in ``data`` (the file, its folder, or a folder holding ``splice/``), else
    in ``$RNNKIT_DATA/splice``."""
    roots = [Path(data)] if data is not None else []
    if data is None and os.environ.get("RNNKIT_DATA"):
        roots.append(Path(os.environ["RNNKIT_DATA"]))
    for root in roots:
        if root.is_file():
            return root
        for path in (root / DATA_FILE, root / "splice" / DATA_FILE):
            if path.is_file():
                return path
    where = ", ".join(str(r) for r in roots) or "nowhere (no --data, no $RNNKIT_DATA)"
    raise DataError(f"no {DATA_FILE} found in {where}; pass --data FOLDER (the UCI splice-junction data)")


def read_splice(path: str | Path) -> SpliceData:
    """The UCI file: ``CLASS, NAME, SEQUENCE`` a line (``EI,  ATRINS-DONOR-521,  CCAGCTGCAT...``)."""
    path = Path(path)
    raw = path.read_bytes()
    names, sequences, features, labels = [], [], [], []
    for number, line in enumerate(raw.decode("ascii", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 3:
            raise DataError(
                f"{path}, line {number}: expected CLASS, NAME, SEQUENCE, got {len(fields)} fields"
            )
        label, name, sequence = fields
        if label.upper() not in CLASSES:
            raise DataError(f"{path}, line {number}: class {label!r} is not one of {', '.join(CLASSES)}")
        try:
            features.append(encode(sequence, name))
        except InputError as error:
            raise DataError(f"{path}, line {number}: {error}") from None
        names.append(name)
        sequences.append(sequence)
        labels.append(CLASSES.index(label.upper()))
    if not names:
        raise DataError(f"{path} holds no sequences")
    source = "sha256:" + hashlib.sha256(raw).hexdigest()
    return SpliceData(names, sequences, features, np.asarray(labels, dtype=np.int64), source)


def read_inputs(lines: list[str], numbered: str = "sequence") -> list[tuple[str, str]]:
    """``(name, sequence)`` pairs from the lines of a file, of stdin or of the command line.

    FASTA when the first line that is not blank starts with ``>`` (read with Biopython's
    ``SeqIO``; the name is the record's id), else one sequence a line, named ``{numbered} k`` (k
    from 1), blank lines included, so that answer k is line k. Nothing is checked here: a bad
    sequence is refused by :func:`encode`, in its place."""
    first = next((line for line in lines if line.strip()), "")
    if not first.lstrip().startswith(">"):
        return [(f"{numbered} {k}", line.strip()) for k, line in enumerate(lines, 1)]
    from Bio import SeqIO

    text = "\n".join(lines[next(i for i, line in enumerate(lines) if line.strip()) :])
    records = SeqIO.parse(io.StringIO(text), "fasta")
    return [(record.id or f"record {k}", str(record.seq)) for k, record in enumerate(records, 1)]


__all__ = [
    "BASES",
    "CLASSES",
    "DATA_FILE",
    "IUPAC",
    "WINDOW",
    "SpliceData",
    "encode",
    "find",
    "read_inputs",
    "read_splice",
]
