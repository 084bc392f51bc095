"""The shell commands that README.md and docs/*.md show, read in one place for the test that parses
every ``rnnkit`` command (tests/test_docs_commands.py) and the trial that runs them all on a fresh
clone (benchmarks/docs_trial.py).

A command is a line of a code block (a ``$ `` prompt stripped, a line ending in ``\\`` joined to
the next) whose program is one a reader runs: ``rnnkit``, ``python``, ``make``, ``pip``, ``curl``, ``sh``,
``torchrun``, after any ``VAR=value``, ``time``, ``nice`` or ``flock LOCKFILE`` in front, with or
without ``.venv/bin/``. In a block that shows a session with ``$ `` prompts, only the prompted lines
are commands; the rest is what they print. ``python`` blocks are code, not commands."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

PROGRAMS = {"rnnkit", "python", "make", "pip", "curl", "torchrun", "sh", "bash"}
INLINE = re.compile(r"`((?:\.venv/bin/)?rnnkit\s[^`]+)`")
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")


@dataclass(frozen=True)
class Shown:
    page: str  # relative to the repository: README.md, docs/tag.md
    line: int  # where the command starts
    command: str  # as shown, continued lines joined, without the prompt
    inline: bool = False  # inline code in prose, not a code block


def pages(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def program(words: list[str]) -> tuple[str, list[str]]:
    """The program a command runs and its arguments, past ``VAR=value``, ``time``, ``nice [-n N]``
    and ``flock LOCKFILE`` in front and a ``.venv/bin/`` before the program's name."""
    i = 0
    while i < len(words):
        word = words[i]
        if ASSIGNMENT.match(word) or word == "time":
            i += 1
        elif word == "nice":
            i += 3 if i + 1 < len(words) and words[i + 1] == "-n" else 1
        elif word == "flock":
            i += 2
        else:
            return word.removeprefix(".venv/bin/"), words[i + 1 :]
    return "", []


def _is_command(text: str) -> bool:
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        return False
    return program(words)[0] in PROGRAMS


def _block_commands(page: str, lines: list[tuple[int, str]]) -> list[Shown]:
    prompted = any(line.startswith("$ ") for _, line in lines)
    found, pending, start = [], "", 0
    for number, line in lines:
        text = pending + line.strip()
        if text.endswith("\\"):  # a continued line
            pending, start = text[:-1].rstrip() + " ", start or number
            continue
        pending, first = "", start or number
        start = 0
        if prompted:
            if not text.startswith("$ "):
                continue  # what a command printed
            text = text[2:]
        if _is_command(text):
            found.append(Shown(page, first, text))
    return found


def shell_commands(root: Path) -> list[Shown]:
    """Every command of the pages' code blocks, in page order (README.md, then docs/*.md)."""
    found = []
    for path in pages(root):
        page = path.relative_to(root).as_posix()
        fenced, language, block = False, "", []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("```"):
                if fenced and language != "python":
                    found += _block_commands(page, block)
                fenced, language, block = not fenced, line[3:].strip(), []
            elif fenced:
                block.append((number, line))
    return found


def inline_commands(root: Path) -> list[Shown]:
    """The ``rnnkit ...`` commands in inline code of the pages' prose."""
    found = []
    for path in pages(root):
        page = path.relative_to(root).as_posix()
        fenced = False
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("```"):
                fenced = not fenced
            elif not fenced:
                for inline in INLINE.findall(line):
                    found.append(Shown(page, number, inline.removeprefix(".venv/bin/"), inline=True))
    return found


def commands(words: list[str]) -> list[list[str]]:
    """The words of a shell line cut into its commands, joined by ';' or '&&' (an empty one kept)."""
    out, part = [], []
    for word in [*words, ";"]:
        if word.endswith(";") or word == "&&":
            if word.endswith(";") and word[:-1]:
                part.append(word[:-1])
            out.append(part)
            part = []
        else:
            part.append(word)
    return out


def argvs(command: str) -> list[list[str]]:
    """The arguments after ``rnnkit`` of each rnnkit command of a shown line (commands joined by
    ';' or '&&'; ``torchrun ... -m rnnkit`` too), up to a comment, a pipe or a redirect."""
    out = commands(shlex.split(command.replace("\\|", "|"), comments=True))
    found = []
    for words in out:
        for stop in ("|", ">", "2>"):
            if stop in words:
                words = words[: words.index(stop)]
        name, rest = program(words)
        if (
            name == "torchrun"
            and "rnnkit" in rest
            and rest.index("rnnkit") > 0
            and rest[rest.index("rnnkit") - 1] == "-m"
        ):
            name, rest = "rnnkit", rest[rest.index("rnnkit") + 1 :]
        if name == "rnnkit":
            found.append(rest)
    return found


def is_synopsis(words: list[str]) -> bool:
    """A usage line (``[--cell rnn|lstm|gru]``, ``...``) rather than a command to run."""
    return any("..." in w or w.startswith("[") or "|" in w for w in words)
