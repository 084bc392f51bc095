"""What the ``rnnkit`` commands share: options that override config fields, the run-directory
options (``--nproc N`` among them: the same command as N processes under torchrun), training with a
progress bar that Ctrl-C stops cleanly, reading lines of input, and a count on stderr for long
predictions.

A training command is a few lines with these::

    OPTIONS = (common.EPOCHS, common.LR, common.BATCH_SIZE, common.DEVICE)

    def add_parser(commands):
        train = commands.add_parser("train")
        common.add_run_options(train, catalog.PRESETS["task"], default_preset="small")
        common.add_overrides(train, OPTIONS)
        train.set_defaults(func=cmd_train)

    def cmd_train(args):
        from ..tasks import task

        config = common.config_from_args(task.preset(args.preset), args, OPTIONS)
        run_dir = common.run_dir(args, task.RUNS)
        results = common.train_with_progress(
            lambda callbacks: task.train(config, run_dir, callbacks), run_dir, f"training {args.preset!r}"
        )

Building a parser imports nothing heavy (no torch, no task): ``rnnkit --help`` answers at once. The
tasks, and torch, are imported by the command that runs (``cmd_*``), and here by the functions that
use them.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import apply_overrides
from ..errors import ConfigError, InputError
from ..runtime import PARALLEL_ROWS

if TYPE_CHECKING:
    from ..train import RunKind

R = TypeVar("R")


class CommandParser(argparse.ArgumentParser):
    """The parser of ``rnnkit`` and, through ``add_subparsers``, of each of its commands.

    A command (a parser without subcommands) takes its options anywhere on the line: before,
    between or after its positional arguments, as in ``rnnkit translate RUN --beam 1 "Bonjour."``
    (``parse_intermixed_args``; a plain parser gives ``RUN`` and no text to ``run texts*``, then
    refuses ``"Bonjour."``). What it does not recognise is an error of the command itself, with
    the command's usage, instead of being handed up to ``rnnkit``'s."""

    _has_subcommands = False
    _intermixing = False

    def add_subparsers(self, **kwargs: Any) -> argparse._SubParsersAction:
        self._has_subcommands = True
        return super().add_subparsers(**kwargs)

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._has_subcommands or self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True  # parse_known_intermixed_args calls parse_known_args (Python < 3.13)
        try:
            namespace, extras = self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def device_name(text: str) -> str:
    """``--device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, refused at parsing if torch cannot use it."""
    if text == "auto":
        return text
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"expected auto, cpu or cuda, got {text!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError("cuda was asked for but torch sees no GPU; use --device cpu")
    return text


@dataclasses.dataclass(frozen=True)
class Override:
    """A command-line option that sets one config field: ``--epochs 3`` is ``--set train.epochs=3``."""

    flag: str
    key: str  # the dotted config field
    type: Callable[[str], Any] = int
    help: str | None = None
    choices: Sequence[str] | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def with_help(self, help: str) -> Override:
        return dataclasses.replace(self, help=help)


EPOCHS = Override("--epochs", "train.epochs", int, "override the preset's epochs")
LR = Override("--lr", "train.lr", float, "override the preset's learning rate")
BATCH_SIZE = Override("--batch-size", "train.batch_size", int, "override the preset's batch size")
MINUTES = Override("--minutes", "train.time_limit", float, "training time budget (the cosine decays over it)")
DEVICE = Override("--device", "train.device", device_name, "auto (default), cpu or cuda")
SEED = Override("--seed", "train.seed", int, "random seed (default 0)")
# The options of a task trained by the shared trainer (dna, activity), and on a time budget
# (tag, translate, speech).
TRAINING = (EPOCHS, LR, BATCH_SIZE, DEVICE, SEED)
BUDGETED_TRAINING = (EPOCHS, LR, BATCH_SIZE, MINUTES, DEVICE, SEED)


def add_overrides(
    parser: argparse.ArgumentParser, options: Sequence[Override], set_help: str = "override any config field"
) -> None:
    """The ``options``, then ``--set KEY=VALUE`` (repeatable) for any field."""
    for option in options:
        parser.add_argument(option.flag, type=option.type, choices=option.choices, help=option.help)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)


def config_from_args(config: Any, args: argparse.Namespace, options: Sequence[Override]) -> Any:
    """``config`` with the ``--set`` overrides, then the options given (an option wins over ``--set``)."""
    overrides = list(args.set)
    for option in options:
        value = getattr(args, option.dest)
        if value is not None:
            overrides.append(f"{option.key}={value}")
    return apply_overrides(config, overrides)


def process_count(text: str) -> int:
    """``--nproc``: a whole number of processes, at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes >= 1, got {text!r}")
    return value


def add_run_options(
    parser: argparse.ArgumentParser,
    presets: Sequence[str] | None = None,
    default_preset: str | None = None,
    out: str | None = None,
    nproc: bool = False,
) -> None:
    """``--preset`` (when ``presets`` are given), ``--out`` and ``--restart``, for a resumable run;
    with ``nproc``, ``--nproc N`` too, for a task whose training shards its batches."""
    if presets is not None:
        parser.add_argument(
            "--preset",
            default=default_preset,
            choices=list(presets),
            help="named configuration (default: %(default)s)",
        )
    where = "%(default)s" if out is not None else "runs/PRESET"
    parser.add_argument("--out", default=out, help=f"run directory (default: {where})")
    parser.add_argument("--restart", action="store_true", help="start over even if --out holds a run")
    if nproc:
        parser.add_argument(
            "--nproc",
            type=process_count,
            metavar="N",
            help="train as N processes on this machine (torchrun, DDP), cores/N threads each; each "
            "step's global batch is the one process's, so results match (docs/distributed.md)",
        )


def run_dir(args: argparse.Namespace, runs: RunKind) -> Path:
    """``--out`` (default ``runs/PRESET``), emptied of its run first with ``--restart``.

    With ``--nproc N`` (N > 1) the command line runs again as N processes under torchrun, and this
    process ends with their exit status. Under torchrun, rank 0 alone empties the directory, and
    every process waits for it."""
    from ..train import distributed

    if getattr(args, "nproc", None) is not None and args.nproc > 1:
        raise SystemExit(_relaunch(args.nproc))
    path = Path(args.out or f"runs/{args.preset}")
    if args.restart:
        if distributed.is_main():
            runs.clear(path)
        distributed.barrier()
    return path


def _relaunch(nproc: int) -> int:
    """``rnnkit ARGS`` again, without ``--nproc``, as ``nproc`` processes under torchrun."""
    from ..train import distributed

    if distributed.world_size() > 1:
        raise ConfigError(
            f"this command already runs under torchrun ({distributed.world_size()} processes); "
            "--nproc starts torchrun itself: leave it out"
        )
    argv = sys.argv[1:]
    rest = without_nproc(argv)
    if rest == argv:
        raise ConfigError(
            "--nproc runs the command line again under torchrun, so it must be on the command line; "
            "from Python, start torchrun yourself (docs/distributed.md)"
        )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if nproc > cores:
        print(
            f"warning: --nproc {nproc} is more processes than the {cores} cores this command may use; "
            f"they will take turns on them (--nproc {cores} or fewer is faster)",
            file=sys.stderr,
        )
    threads = int(os.environ.get("OMP_NUM_THREADS") or max(cores // nproc, 1))
    return distributed.launch_local(rest, nproc, threads)


def without_nproc(argv: list[str]) -> list[str]:
    """``argv`` without ``--nproc N`` (or ``--nproc=N``, or an abbreviation argparse accepts)."""
    out, skip = [], False
    for arg in argv:
        name = arg.split("=", 1)[0]
        if skip:
            skip = False
        elif len(name) > 3 and "--nproc".startswith(name):
            skip = "=" not in arg
        else:
            out.append(arg)
    return out


def train_with_progress(train: Callable[[list], R], run_dir: Path, title: str, resumable: bool = True) -> R:
    """``train(callbacks)`` with a progress bar, after a line on stderr: ``title into run_dir``.

    Ctrl-C ends the command with exit status 130 and a line that says what was kept: for a
    ``resumable`` run, the last finished epoch and that the same command resumes it. Under torchrun,
    rank 0 alone shows progress and reports: the other processes end here once training is done."""
    import torch

    from ..train import ProgressBar, distributed

    main = distributed.is_main()
    threads = torch.get_num_threads()
    world = distributed.world_size()
    processes = f"{world} processes x {threads} thread(s)" if world > 1 else f"threads: {threads}"
    if main:
        print(f"{title} into {run_dir} ({processes})", file=sys.stderr)
    try:
        result = train([ProgressBar()] if main else [])
    except KeyboardInterrupt:
        if resumable:
            kept = f"the last finished epoch is saved in {run_dir}; run the same command to resume"
        else:
            kept = f"the run in {run_dir} is incomplete; run the command again to start it over"
        if main:
            print(f"\ninterrupted: {kept}", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        distributed.teardown()
    if not main:
        raise SystemExit(0)
    return result


def train_task(
    task: Any, config: Any, args: argparse.Namespace, *inputs: Any, title: str | None = None
) -> tuple[Path, dict]:
    """``task.train(config, *inputs, run_dir, callbacks)`` into the run directory of ``args``
    (:func:`run_dir`, of the task's ``RUNS``) with a progress bar (:func:`train_with_progress`,
    ``title`` by default ``training 'PRESET'``). Returns the run directory and the results."""
    path = run_dir(args, task.RUNS)
    results = train_with_progress(
        lambda callbacks: task.train(config, *inputs, path, callbacks),
        path,
        title or f"training {args.preset!r}",
    )
    return path, results


def print_run(run_dir: Path, **files: str) -> None:
    """The last line of a training command: the run directory and where its ``files`` are in it,
    as in ``run: runs/fast  (curves: runs/fast/curves.png, scores: runs/fast/results.json)``."""
    where = ", ".join(f"{name}: {run_dir / file}" for name, file in files.items())
    print(f"run: {run_dir}  ({where})" if files else f"run: {run_dir}")


def add_defaulted(parser: argparse.ArgumentParser, *options: tuple) -> None:
    """Options whose help ends with their default: each ``(flag, type, default, help)`` or
    ``(flag, type, default, help, note)``, shown as "help (default: 200; note)"."""
    for flag, kind, default, text, *note in options:
        shown = "; ".join(["default: %(default)s", *note])
        parser.add_argument(flag, type=kind, default=default, help=f"{text} ({shown})")


def add_threads(parser: argparse.ArgumentParser, why: str) -> None:
    parser.add_argument(
        "--threads", type=int, default=1, help=f"torch CPU threads (default %(default)s: {why})"
    )


def set_threads(args: argparse.Namespace) -> None:
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    import torch

    torch.set_num_threads(args.threads)


# The help of --threads on the commands that predict (see use_inference_threads).
INFERENCE_THREADS_HELP = (
    f"torch CPU threads (default: 1 for fewer than {PARALLEL_ROWS} texts side by side, too little work "
    "per step to share; else the cores that other work leaves idle, at most torch's default; "
    "OMP_NUM_THREADS, when set, is kept; docs/threads.md)"
)


def add_inference_threads(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` for a command that predicts; without it the work decides
    (:func:`use_inference_threads`)."""
    parser.add_argument("--threads", type=int, metavar="N", help=INFERENCE_THREADS_HELP)


def use_inference_threads(requested: int | None, rows: int, spare: int = 0, flag: str = "--threads") -> int:
    """Set torch's intra-op threads for inference over ``rows`` sequences side by side, as
    :func:`rnnkit.runtime.inference_threads` decides (``requested``, the ``flag``'s value, wins);
    returns the count."""
    if requested is not None and requested < 1:
        raise InputError(f"{flag} must be >= 1, got {requested}; leave it out to let the work decide")
    import torch

    from ..runtime import inference_threads

    threads = inference_threads(rows, requested, spare=spare)
    torch.set_num_threads(threads)
    return threads


@contextlib.contextmanager
def counting(
    title: str, total: int, unit: str, least: int = 1000
) -> Iterator[Callable[[int, int], None] | None]:
    """A count on stderr for long work (``total >= least`` items), so that stdout stays the results.

    On a terminal, the count is redrawn as the work goes: this yields its ``update(done, total)``.
    Elsewhere (a log, a pipe) it yields None and writes one line once the work is done, as in
    ``translating: 1,234 sentences in 5.2 s``, and nothing if the work fails. Short work is done
    in a moment: it yields None and writes nothing."""
    if total < least:
        yield None
        return
    if not getattr(sys.stderr, "isatty", lambda: False)():
        start = time.perf_counter()
        yield None
        print(f"{title}: {total:,} {unit} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        return
    from ..train import CountBar

    bar = CountBar(title, total)
    bar.update(0)
    try:
        yield bar.update
    finally:
        bar.close()


def read_lines(raw: bytes, source: str) -> list[str]:
    """The lines of UTF-8 ``raw``, one string each: ``\\n`` or ``\\r\\n`` ends a line, and a final
    newline ends the last line rather than starting another, so line k of the input is element k
    (blank lines included). A byte-order mark before the first line (Notepad and Excel write one)
    is not text and is dropped. A line that is not UTF-8 is an error naming it."""
    lines = raw.removeprefix(codecs.BOM_UTF8).split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    texts = []
    for number, line in enumerate(lines, 1):
        try:
            texts.append(line.removesuffix(b"\r").decode("utf-8"))
        except UnicodeDecodeError as error:
            raise InputError(
                f"{source}, line {number} is not UTF-8 ({error.reason} at byte {error.start})"
            ) from None
    return texts


def rewrite_subcommand(argv: list[str], command: str, subcommands: Sequence[str]) -> list[str]:
    """``COMMAND RUN ARGS...`` -> ``COMMAND predict RUN ARGS...`` when the word after ``command`` is
    neither one of its ``subcommands`` nor ``-h``/``--help``: a run directory is not a subcommand,
    and an option there is one of predict's (``COMMAND --format json RUN TEXT``)."""
    at = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if (
        at is None
        or argv[at] != command
        or at + 1 == len(argv)
        or argv[at + 1] in (*subcommands, "-h", "--help")
    ):
        return argv
    return [*argv[: at + 1], "predict", *argv[at + 1 :]]


# The rule for empty texts, in the help of each command that reads texts (see input_lines).
EMPTY_TEXTS = "an empty text argument is an error; an empty line gives an empty row in its place"


def input_lines(file: str | None, texts: list[str]) -> list[str]:
    """The lines of ``file`` if given, else ``texts``, else (none, or ``-``) the lines of stdin.

    An empty (or whitespace-only) line of a file or of stdin is kept, so that row k of the output
    is line k of the input; an empty text on the command line is refused (:data:`EMPTY_TEXTS`):
    typed there, it is more likely a mistake (an unset shell variable) than a row to keep."""
    if file:
        try:
            return read_lines(Path(file).read_bytes(), file)
        except OSError as error:
            raise InputError(f"cannot read {file}: {error.strerror}") from None
    if not texts or texts == ["-"]:
        return read_lines(sys.stdin.buffer.read(), "standard input")
    for number, text in enumerate(texts, 1):
        if not text.strip():
            raise InputError(
                f"text {number} of the command line is empty or only whitespace (got {text!r}); give it "
                "words, or pass the texts through --file or standard input, where an empty line gives an "
                "empty row in its place"
            )
    return texts
