"""Every ``rnnkit`` command that README.md and docs/*.md show (in code blocks and inline code) is
accepted by the command line as written: its subcommand, its options and their values. A renamed
option or a changed argument order fails here instead of on a reader's machine. (Parsing runs no
command: what the commands print is measured in the docs beside them.)

What is not a command is told apart: a synopsis (``[--cell rnn|lstm|gru]``, ``...``) is skipped,
and inline code that names a command in prose (`rnnkit serve`) may leave its required arguments
out; a command in a code block may not."""

from pathlib import Path

import pytest
from docs_commands import argvs, inline_commands, is_synopsis, shell_commands

from rnnkit.cli import parse_args

ROOT = Path(__file__).resolve().parent.parent


def commands() -> list[tuple[str, int, str]]:
    """(page, line, command) for each command line of the pages' code blocks and each inline
    ``rnnkit ...`` of their prose (marked ``inline``)."""
    shown = [(s.page, s.line, s.command) for s in shell_commands(ROOT) if argvs(s.command)]
    return shown + [(s.page, s.line, "inline " + s.command) for s in inline_commands(ROOT)]


SHOWN = commands()


def test_the_pages_show_commands():
    pages = {page for page, _, _ in SHOWN}
    assert "README.md" in pages and len(SHOWN) > 50, (pages, len(SHOWN))


@pytest.mark.parametrize(("page", "line", "command"), SHOWN, ids=[f"{p}:{n}" for p, n, _ in SHOWN])
def test_a_shown_command_parses_as_written(page, line, command, capsys):
    inline = command.startswith("inline ")
    command = command.removeprefix("inline ")
    for words in argvs(command):
        if not words or is_synopsis(words):
            continue  # a synopsis, not a command
        try:
            parse_args(words)
        except SystemExit as stop:
            if stop.code:  # --help exits with 0
                error = capsys.readouterr().err.strip().splitlines()[-1]
                if inline and any(part in error for part in ("are required", "is required", "expected one")):
                    continue  # prose naming a command
                pytest.fail(f"{page}:{line}: `{command}` is refused: {error}")


def test_commands_are_told_from_output_and_code(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "```console\n$ rnnkit tag runs/x \\\n    'A sentence.'\npython is a snake (output)\n```\n"
        "```python\nimport rnnkit\n```\n"
        "```bash\n# a comment\ntime flock /tmp/lock rnnkit dna train --out runs/d   # two minutes\n"
        "OMP_NUM_THREADS=1 python benchmarks/b.py\nROMEO: words\n```\n"
    )
    (tmp_path / "docs" / "a.md").write_text("Run `rnnkit lm hello` first.\n```\nmake demo\n```\n")
    shown = [(s.page, s.line, s.command) for s in shell_commands(tmp_path)]
    assert shown == [
        ("README.md", 2, "rnnkit tag runs/x 'A sentence.'"),
        ("README.md", 11, "time flock /tmp/lock rnnkit dna train --out runs/d   # two minutes"),
        ("README.md", 12, "OMP_NUM_THREADS=1 python benchmarks/b.py"),
        ("docs/a.md", 3, "make demo"),
    ]
    assert argvs(shown[1][2]) == [["dna", "train", "--out", "runs/d"]]
    assert [(s.page, s.command) for s in inline_commands(tmp_path)] == [("docs/a.md", "rnnkit lm hello")]
