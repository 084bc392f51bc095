"""The ``rnnkit`` command line. Each subcommand parses its own options and calls the library.

A mistake the user can fix (an :class:`~rnnkit.errors.RnnkitError`, a damaged run directory, a
training that cannot go on) is printed as one line, ``error: ...``; anything else is a bug and
shows its traceback. ``rnnkit --debug ...`` shows the traceback of every error.

Building the parsers imports no task and not torch (see :mod:`.catalog`): each command imports
what it needs when it runs, so ``rnnkit --help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from ..errors import RnnkitError
from ..runtime import tune_allocator
from . import (
    activity,
    ball,
    common,
    core,
    dna,
    export,
    forecast,
    lab,
    lm,
    sentiment,
    serve,
    speech,
    tag,
    translate,
)


def cmd_tour(args: argparse.Namespace) -> int:
    status = 0
    for title, command in (
        ('1. The lecture\'s "hell" -> "o", by hand-written BPTT', core.cmd_scratch_hello),
        ("2. Gradient check of the NumPy BPTT", core.cmd_scratch_gradcheck),
        ("3. The lecture's model summary", core.cmd_summary),
        ("4. Exact masking", core.cmd_masking),
    ):
        print(f"\n== {title} ==")
        status |= command(args)
    return status


TOUR = {"word": "hello", "hidden": 8, "steps": 300, "seed": 0}  # the settings of scratch hello in the tour


def build_parser() -> argparse.ArgumentParser:
    parser = common.CommandParser(prog="rnnkit", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of every error, rnnkit's own included"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    settings = " ".join(f"--{name} {value}" for name, value in TOUR.items())
    tour = commands.add_parser(
        "tour",
        help="a short tour of the core: BPTT, summary, masking",
        description=f"Runs, in turn: rnnkit scratch hello {settings}; rnnkit scratch gradcheck --seed "
        f"{TOUR['seed']}; rnnkit summary; rnnkit masking --seed {TOUR['seed']}. It takes no options: "
        "run those commands to change the settings.",
    )
    tour.set_defaults(func=cmd_tour, **TOUR)

    scratch = commands.add_parser("scratch", help="NumPy BPTT from scratch")
    scratch_commands = scratch.add_subparsers(dest="scratch_command", required=True)
    hello = scratch_commands.add_parser("hello", help='train the lecture\'s "hell" -> "o" RNN')
    hello.add_argument("--word", default="hello", help="training word over h, e, l, o (default: %(default)s)")
    hello.add_argument("--hidden", type=int, default=8, help="hidden units H (default: %(default)s)")
    hello.add_argument("--steps", type=int, default=300, help="Adam steps (default: %(default)s)")
    hello.add_argument(
        "--seed", type=int, default=0, help="seed of the initial weights (default: %(default)s)"
    )
    hello.set_defaults(func=core.cmd_scratch_hello)
    check = scratch_commands.add_parser("gradcheck", help="BPTT vs finite differences")
    check.add_argument(
        "--seed", type=int, default=0, help="seed of the weights and inputs checked (default: %(default)s)"
    )
    check.set_defaults(func=core.cmd_scratch_gradcheck)

    summary = commands.add_parser(
        "summary",
        help="the lecture's model, Keras-style table",
        description="The lecture's IMDB model, Embedding(8185, 64) -> Bidirectional(LSTM(64)) -> "
        "Dense(64, relu) -> Dense(1), as a Keras-style table: layers, output shapes, parameters. It "
        "takes no options; rnnkit sentiment summary --preset NAME shows the sentiment presets.",
    )
    summary.set_defaults(func=core.cmd_summary)

    masking = commands.add_parser("masking", help="padded vs unpadded outputs, rnnkit vs torch")
    masking.add_argument(
        "--seed", type=int, default=0, help="seed of the layer and the sequences (default: %(default)s)"
    )
    masking.set_defaults(func=core.cmd_masking)

    sentiment.add_parser(commands)
    lab.add_parser(commands)
    ball.add_parser(commands)
    forecast.add_parser(commands)
    lm.add_parser(commands)
    tag.add_parser(commands)
    translate.add_parser(commands)
    dna.add_parser(commands)
    activity.add_parser(commands)
    speech.add_parser(commands)
    export.add_parser(commands)
    serve.add_parser(commands)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """``argv`` (without the program's name) parsed, ``tag RUN ...``, ``translate RUN ...`` and
    ``dna RUN ...`` read as ``tag predict RUN ...``, ``translate predict RUN ...`` and ``dna predict
    RUN ...``."""
    argv = dna.rewrite_argv(translate.rewrite_argv(tag.rewrite_argv(list(argv))))
    return build_parser().parse_args(speech.rewrite_argv(activity.rewrite_argv(argv)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    tune_allocator()
    if getattr(args, "word", None) is not None and set(args.word) - set("helo"):
        print(f"error: --word must use only the letters h, e, l, o, got {args.word!r}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except RnnkitError as error:
        if args.debug:
            traceback.print_exc()
        else:
            print(f"error: {error}", file=sys.stderr)
        return 1 if _is_training_error(error) else 2


def _is_training_error(error: RnnkitError) -> bool:
    """A :class:`~rnnkit.train.TrainingError` (exit status 1) can only come from a loaded trainer,
    so telling one needs no import of torch."""
    trainer = sys.modules.get("rnnkit.train.trainer")
    return trainer is not None and isinstance(error, trainer.TrainingError)


if __name__ == "__main__":
    sys.exit(main())
