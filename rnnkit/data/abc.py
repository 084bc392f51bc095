"""ABC music notation (the Nottingham folk tunes): reading a collection, checking a generated tune.

A tune starts with ``X:`` (its number) and a header of ``Field:value`` lines, of which rnnkit
requires ``X:``, ``T:`` (title), ``M:`` (metre) and ``K:`` (key);
the body follows, with bar lines ``|``. Tunes are separated by blank lines.
"""

from __future__ import annotations

import re
from pathlib import Path

from .locate import DataError

REQUIRED = ("X", "T", "M", "K")
_FIELD = re.compile(r"^([A-Za-z]):")
_NOTE = re.compile(r"[A-Ga-gz]")


def split_tunes(text: str) -> list[str]:
    """The tunes of an ABC text, each from its ``X:`` line up to the next one."""
    starts = [m.start() for m in re.finditer(r"^X:", text, flags=re.MULTILINE)]
    return [text[a:b].strip() for a, b in zip(starts, [*starts[1:], len(text)])]


def read_collection(path: str | Path) -> str:
    """All tunes of an ``.abc`` file or of every ``.abc`` file in a folder (sorted), blank-line separated."""
    path = Path(path)
    files = sorted(path.glob("*.abc")) if path.is_dir() else [path]
    if not files or not files[0].is_file():
        raise DataError(f"no .abc files at {path}")
    tunes = []
    for file in files:
        try:
            tunes += split_tunes(file.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            tunes += split_tunes(file.read_text(encoding="latin-1"))
    if not tunes:
        raise DataError(f"no tune (a line starting with X:) in {path}")
    return "\n\n".join(tunes) + "\n"


def check_tune(tune: str) -> list[str]:
    """What makes ``tune`` invalid (an empty list for a valid one): a missing header field, a header
    not starting with X:, or a body without notes or bar lines. (K: should close the header, but the
    Nottingham files themselves put M: and P: after it, so that is not checked.)"""
    lines = [line for line in tune.strip().splitlines() if line.strip() and not line.startswith("%")]
    if not lines:
        return ["empty"]
    problems = []
    fields = []
    body_start = len(lines)
    for index, line in enumerate(lines):
        match = _FIELD.match(line)
        if not match:
            body_start = index
            break
        fields.append(match.group(1))
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        problems.append("header lacks " + ", ".join(f"{name}:" for name in missing))
    if fields and fields[0] != "X":
        problems.append("does not start with X:")
    body = "\n".join(lines[body_start:])
    if not _NOTE.search(body) or "|" not in body:
        problems.append("body has no notes or no bar lines")
    return problems
