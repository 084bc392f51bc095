"""Every ``rnnkit`` command that README.md and docs/*.md show (in code blocks and inline code) is
accepted by the command line as written: its subcommand, its options and their values. A renamed
option or a changed argument order fails here instead of on a reader's machine. (Parsing runs no
command: what the commands print is measured in the docs beside them.)

What is not a command is told apart: a synopsis (``[--cell rnn|lstm|gru]``, ``...``) is skipped,
and inline code that names a command in prose (`rnnkit serve`) may leave its required arguments
out; a command in a code block may not."""

import re
import shlex
from pathlib import Path

import pytest

from rnnkit.cli import parse_args

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROMPT = re.compile(r"^(?:\$ )?(?:\.venv/bin/)?(rnnkit\s.*)$")
INLINE = re.compile(r"`((?:\.venv/bin/)?rnnkit\s[^`]+)`")


def commands() -> list[tuple[str, int, str]]:
    """(page, line, command) for each rnnkit command line of the pages."""
    found = []
    for page in PAGES:
        fenced, pending, start = False, "", 0
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("```"):
                fenced = not fenced
                continue
            if fenced:
                text = pending + line.strip()
                if text.endswith("\\"):  # a continued line
                    pending, start = text[:-1] + " ", start or number
                    continue
                pending = ""
                match = PROMPT.match(text)
                if match:
                    found.append((page.name, start or number, match.group(1)))
                start = 0
            else:
                for inline in INLINE.findall(line):
                    found.append((page.name, number, "inline " + inline.removeprefix(".venv/bin/")))
    return found


def argvs(command: str) -> list[list[str]]:
    """The arguments of each rnnkit command of a shown line (commands joined by ';'), after
    'rnnkit', up to a comment, a pipe or a redirect."""
    out, words = [], []
    for word in [*shlex.split(command, comments=True), ";"]:
        if word.endswith(";"):
            words.append(word[:-1]) if word[:-1] else None
            out.append(words)
            words = []
        else:
            words.append(word)
    found = []
    for words in out:
        for stop in ("|", ">", "2>", "&&"):
            if stop in words:
                words = words[: words.index(stop)]
        if words and words[0] == "rnnkit":
            found.append(words[1:])
    return found


SHOWN = commands()


def test_the_pages_show_commands():
    pages = {page for page, _, _ in SHOWN}
    assert "README.md" in pages and len(SHOWN) > 50, (pages, len(SHOWN))


@pytest.mark.parametrize(("page", "line", "command"), SHOWN, ids=[f"{p}:{n}" for p, n, _ in SHOWN])
def test_a_shown_command_parses_as_written(page, line, command, capsys):
    inline = command.startswith("inline ")
    command = command.removeprefix("inline ")
    for words in argvs(command.replace("\\|", "|")):
        if not words or any("..." in w or w.startswith("[") or "|" in w for w in words):
            continue  # a synopsis, not a command
        try:
            parse_args(words)
        except SystemExit as stop:
            if stop.code:  # --help exits with 0
                error = capsys.readouterr().err.strip().splitlines()[-1]
                if inline and any(part in error for part in ("are required", "is required", "expected one")):
                    continue  # prose naming a command
                pytest.fail(f"{page}:{line}: `{command}` is refused: {error}")
