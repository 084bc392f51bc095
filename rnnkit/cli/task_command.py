"""The usual ``rnnkit TASK`` command, for the tasks that train runs and then answer inputs with them
(tag, translate, dna, activity, speech): ``train``, subcommands that read a run (``evaluate RUN``),
``predict RUN INPUTS...``, and ``rnnkit TASK RUN INPUTS...`` read as ``rnnkit TASK predict RUN ...``.

A task's command module declares what is its own and builds its parser with these::

    TASK = TaskCommand("dna", ("train", "evaluate", "predict"), data_help="splice.data or its folder")

    def add_parser(commands):
        sub = TASK.add_parser(commands, "splice junctions from DNA", "ACGT... classifies sequences")
        TASK.add_train(sub, "train on splice.data", OPTIONS, "override any config field").set_defaults(...)
        evaluate = TASK.add_run_command(sub, "evaluate", "accuracy on the run's test part", data=True)
        predict = TASK.add_run_command(sub, "predict", "classify sequences")
        add_inputs(predict, "sequences", "DNA sequences; none or '-' reads stdin", file="one a line")
        add_format(predict, ("pretty", "json"), "pretty: a table; json: an object a line")
        ...

and answers with :func:`write_answers`. Like the rest of the command line, this imports no task.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import catalog, common

RUN_HELP = "run directory (the --out of train)"


@dataclasses.dataclass(frozen=True)
class TaskCommand:
    """``rnnkit NAME``: its ``subcommands``, and the help of its ``--data`` option (None: it has none)."""

    name: str
    subcommands: tuple[str, ...]
    data_help: str | None = None

    def rewrite_argv(self, argv: list[str]) -> list[str]:
        """``NAME RUN INPUT...`` -> ``NAME predict RUN INPUT...`` (a run directory is not a subcommand)."""
        return common.rewrite_subcommand(argv, self.name, self.subcommands)

    def add_parser(
        self, commands: argparse._SubParsersAction, help: str, short: str
    ) -> argparse._SubParsersAction:
        """``rnnkit NAME``; returns its subcommands to add to. ``short`` says what ``rnnkit NAME RUN
        ...`` does, as in ``"'a sentence' tags it"``."""
        parser = commands.add_parser(
            self.name,
            help=help,
            description=f"rnnkit {self.name} RUN {short} (short for 'rnnkit {self.name} predict RUN ...').",
        )
        return parser.add_subparsers(dest=f"{self.name}_command", required=True)

    def add_data(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data", help=self.data_help)

    def add_train(
        self,
        sub: argparse._SubParsersAction,
        help: str,
        options: Sequence[common.Override],
        set_help: str,
        data: Callable[[argparse.ArgumentParser], None] | None = None,
        **run_options,
    ) -> argparse.ArgumentParser:
        """``train``: what it reads (``data`` adds those options; by default ``--data``), the run
        options of :func:`common.add_run_options` (the task's presets, ``run_options`` such as
        ``out`` or ``nproc``), the ``options`` and ``--set``."""
        train = sub.add_parser("train", help=help)
        (data or self.add_data)(train)
        common.add_run_options(train, catalog.PRESETS[self.name], **{"default_preset": "fast", **run_options})
        common.add_overrides(train, options, set_help)
        return train

    def add_run_command(
        self,
        sub: argparse._SubParsersAction,
        name: str,
        help: str,
        data: bool = False,
        run_help: str = RUN_HELP,
    ) -> argparse.ArgumentParser:
        """:func:`add_run_command`, with ``data``, ``--data`` too."""
        parser = add_run_command(sub, name, help, run_help)
        if data:
            self.add_data(parser)
        return parser


def add_run_command(
    sub: argparse._SubParsersAction, name: str, help: str, run_help: str = RUN_HELP, **kwargs: Any
) -> argparse.ArgumentParser:
    """A subcommand that reads a trained run: ``NAME RUN`` (``kwargs``: more of ``add_parser``'s)."""
    parser = sub.add_parser(name, help=help, **kwargs)
    parser.add_argument("run", help=run_help)
    return parser


def add_inputs(
    parser: argparse.ArgumentParser, name: str, help: str, file: str | None = None, nargs: str = "*"
) -> None:
    """The inputs to answer, ``NAME...`` (see :func:`common.input_lines`), and with ``file`` (its
    help) ``--file``, a file that holds them."""
    parser.add_argument(name, nargs=nargs, help=help)
    if file is not None:
        parser.add_argument("--file", help=file)


def add_format(parser: argparse.ArgumentParser, formats: Sequence[str], help: str) -> None:
    """``--format``, one of ``formats`` (the first by default)."""
    parser.add_argument("--format", default=formats[0], choices=formats, help=help)


def write_answers(
    answers: list[dict],
    form: str,
    pretty: Callable[[list[dict]], Iterable[str]],
    unit: str,
    rows: str = "rows",
) -> int:
    """The answers on stdout, in the inputs' order: one JSON object a line (``form`` json), else the
    lines of ``pretty(answers)``. An answer with an ``error`` is an input that could not be read;
    returns :func:`report_errors`'s exit status."""
    for line in (json.dumps(answer) for answer in answers) if form == "json" else pretty(answers):
        print(line)
    return report_errors(sum("error" in answer for answer in answers), len(answers), unit, rows)


def report_errors(errors: int, total: int, unit: str, rows: str = "rows", verb: str = "read") -> int:
    """The exit status of a command that answered ``total`` inputs, ``errors`` of them with an
    error row: 1 after a line on stderr that counts them (``3 of 10 file(s) could not be read
    (their rows say why)``), else 0."""
    if errors:
        print(f"{errors} of {total} {unit}(s) could not be {verb} (their {rows} say why)", file=sys.stderr)
    return 1 if errors else 0
