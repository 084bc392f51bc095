"""``rnnkit speech``: spoken digits, digit strings and read sentences: train, evaluate, transcribe.

``rnnkit speech RUN a.wav b.opus`` is short for ``rnnkit speech predict RUN ...`` (see
:func:`rewrite_argv`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError
from . import catalog, common
from .task_command import TaskCommand, add_format, add_inputs, write_answers

SPEAKER = common.Override(
    "--speaker",
    "speaker",
    str,
    "FSDD: hold this speaker out and test on all their recordings (one leave-one-speaker-out fold); "
    "default: the dataset's split (recordings 0-4 of every speaker test)",
)
INIT = common.Override(
    "--init",
    "init",
    str,
    "start the encoder from another speech run of the same features and sizes, e.g. a sentences "
    "run on FSDD's features (docs/speech.md); the head starts new",
)
OPTIONS = (SPEAKER, INIT, *common.BUDGETED_TRAINING)
FORMATS = ("pretty", "json")
TASK = TaskCommand(
    "speech",
    ("train", "evaluate", "predict", "ensemble", "lm"),
    data_help="the corpus folder: fsdd/ (digits, strings) or speechocean762/ (sentences); default: "
    "$RNNKIT_DATA/fsdd or $RNNKIT_DATA/speechocean762",
)
rewrite_argv = TASK.rewrite_argv


def add_parser(commands: argparse._SubParsersAction) -> None:
    sub = TASK.add_parser(
        commands,
        "speech recognition: FSDD digits and digit strings, speechocean762 sentences (CTC)",
        "a.wav b.opus transcribes files",
    )
    train = sub.add_parser(
        "train",
        help="train: --task digits (isolated FSDD digits), strings (spliced FSDD digit strings, CTC) or "
        "sentences (speechocean762, character CTC)",
    )
    train.add_argument(
        "--task",
        default="digits",
        choices=catalog.PRESETS["speech"],
        help="what to recognise, and the preset trained (default: %(default)s)",
    )
    TASK.add_data(train)
    train.add_argument(
        "--loso",
        action="store_true",
        help="FSDD: leave-one-speaker-out, one model per speaker (folds/01..06), mean and sd reported",
    )
    train.add_argument("--out", help="run directory (default: runs/speech-TASK)")
    train.add_argument("--restart", action="store_true", help="start over even if --out holds a run")
    common.add_overrides(train, OPTIONS, "override any config field, e.g. --set model.hidden_size=96")
    train.set_defaults(func=cmd_train)

    evaluate = TASK.add_run_command(
        sub, "evaluate", "the run's test scores again (accuracy, or WER/CER per decoder)", data=True
    )
    evaluate.add_argument("--beam", type=int, help="beam width of the beam decoders (default: the run's)")
    evaluate.set_defaults(func=cmd_evaluate)

    ensemble = sub.add_parser(
        "ensemble",
        help="join finished --task digits runs into one that answers with the mean of their "
        "probabilities (each member at its own features); evaluate, predict and serve read it as a run "
        "(one of --loso runs: evaluate only)",
    )
    ensemble.add_argument("runs", nargs="+", metavar="RUN", help="finished digits runs (all --loso, or none)")
    ensemble.add_argument(
        "--out", required=True, help="the new ensemble's directory (the runs are copied into it)"
    )
    ensemble.set_defaults(func=cmd_ensemble)

    lm = TASK.add_run_command(
        sub,
        "lm",
        "refit a sentences run's character LM on its training transcripts and more text (one sentence "
        "a line; lines holding a validation or test sentence are left out); the acoustic model is unchanged",
        data=True,
    )
    lm.add_argument(
        "--text",
        action="append",
        required=True,
        metavar="FILE",
        help="a UTF-8 text file, one sentence a line",
    )
    lm.add_argument("--weight", type=float, help="the LM's weight in the beam search (default: the run's)")
    lm.add_argument("--bonus", type=float, help="the per-symbol bonus with the LM (default: the run's)")
    lm.set_defaults(func=cmd_lm)

    predict = TASK.add_run_command(sub, "predict", "transcribe audio files (also: rnnkit speech RUN FILE...)")
    add_inputs(
        predict,
        "files",
        "WAV, FLAC or Ogg (Vorbis/Opus) files, any rate, up to 30 s",
        file="a text file naming one audio file a line",
    )
    add_format(
        predict,
        FORMATS,
        "pretty: one line per file, 'name<TAB>transcript'; json: one JSON object per line, with "
        "'error' for a file that cannot be read (default: %(default)s). Either way line k answers "
        "file k, and the exit status is 1 when any file could not be read",
    )
    predict.add_argument(
        "--beam",
        type=int,
        help="prefix beam width, with the run's character LM (1: greedy; default: the run's, 8)",
    )
    predict.add_argument(
        "--align",
        metavar="PNG",
        help="draw the spectrogram and, under it, the frames that emitted each symbol (several "
        "files: PNG-1.png, PNG-2.png, ...)",
    )
    common.add_inference_threads(predict)
    predict.set_defaults(func=cmd_predict)


def cmd_train(args: argparse.Namespace) -> int:
    from ..tasks import speech

    if args.loso:
        args.set = [*args.set, "loso=true"]
    config = common.config_from_args(speech.preset(args.task), args, OPTIONS)
    args.preset = args.task
    suffix = "-loso" if config.loso else f"-{config.speaker}" if config.speaker else ""
    args.out = args.out or f"runs/speech-{args.task}{suffix}"
    split = f"speaker {config.speaker} held out" if config.speaker else "the dataset's split"
    split = "leave-one-speaker-out" if config.loso else split
    run_dir, results = common.train_task(
        speech, config, args, args.data, title=f"training speech --task {args.task} on {split}"
    )
    minutes = f"{results['train_seconds_total'] / 60:.1f} min of training"
    if config.loso:
        metric = "test_accuracy" if config.task == "digits" else "test_wer"
        for fold in results["folds"]:
            print(f"  held out {fold['name']:>10s}: {metric} {fold[metric]:.2%}")
        mean, sd = results[f"{metric}_mean"], results[f"{metric}_sd"]
        print(f"leave-one-speaker-out {metric} {mean:.2%} +- {sd:.2%} (mean +- sd over speakers)")
    else:
        _print_scores(results, config.task)
    print(minutes)
    common.print_run(run_dir, scores="results.json")
    return 0


def _print_scores(results: dict, task: str) -> None:
    if task == "digits":
        print(f"test accuracy {results['test_accuracy']:.2%} on {results['sizes']['test']:,} recordings")
        print("true digit (rows) as predicted (columns):")
        print("     " + "".join(f"{d:>5d}" for d in range(10)))
        for digit, row in enumerate(results["test_confusion"]):
            print(f"  {digit:>3d}" + "".join(f"{count:>5d}" for count in row))
        return
    what = "digit error rate" if task == "strings" else "WER"
    for name, value in results.items():
        if name.startswith("test_") and isinstance(value, dict) and "wer" in value:
            cer = f"  CER {value['cer']:.2%}" if "cer" in value else ""
            print(f"{name[5:]:>12s}: {what} {value['wer']:.2%}{cer}  exact {value['exact']:.2%}")


def cmd_ensemble(args: argparse.Namespace) -> int:
    from ..tasks.speech import ensemble

    members = ensemble.create(args.runs, args.out)
    print(f"ensemble of {len(members)} runs in {args.out}: rnnkit speech evaluate {args.out}; "
          f"rnnkit speech {args.out} FILE...")  # fmt: skip
    return 0


def cmd_lm(args: argparse.Namespace) -> int:
    from ..tasks.speech import lmtext

    print(f"reading {', '.join(args.text)} ...", file=sys.stderr, flush=True)
    record = lmtext.refit(args.run, args.text, args.data, args.weight, args.bonus)
    print(
        f"character {record['order']}-gram LM of {args.run}: {record['transcripts']:,} training transcripts "
        f"and {record['kept']:,} of {record['sentences']:,} sentences ({record['left_out']:,} left out: they "
        f"hold a validation or test sentence); weight {record['lm_weight']}, bonus {record['bonus']}"
    )
    common.print_run(Path(args.run), lm="lm.json", sources="lm_sources.json")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..tasks.speech.predict import evaluate

    result = evaluate(args.run, args.data, args.beam)
    for fold in result["folds"] or [result]:
        if result["folds"]:
            print(f"held out {fold['name']}:")
        _print_scores(fold, fold["task"])
        if "members" in fold:
            each = ", ".join(f"{m['test_accuracy']:.2%}" for m in fold["members"])
            print(
                f"validation accuracy {fold['validation_accuracy']:.2%}; the members' test accuracy: {each}"
            )
    if "test_accuracy_mean" in result:
        mean, sd = result["test_accuracy_mean"], result["test_accuracy_sd"]
        print(f"leave-one-speaker-out test_accuracy {mean:.2%} +- {sd:.2%} (mean +- sd over speakers)")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..tasks.speech.predict import Predictor, plot_alignment

    names = list(args.files)
    if args.file:
        names += [line.strip() for line in common.input_lines(args.file, []) if line.strip()]
    if not names:
        raise InputError("give audio files to transcribe (arguments or --file LIST)")
    if args.beam is not None and args.beam < 1:
        raise InputError(f"--beam must be >= 1 (1: greedy), got {args.beam}")
    common.use_inference_threads(args.threads, len(names))
    predictor = Predictor.from_run(args.run)
    with common.counting("transcribing", len(names), "files") as progress:
        answers = predictor([(name, name) for name in names], args.beam, progress, keep=bool(args.align))
    if args.align:
        if predictor.config.task == "digits":
            print("warning: --align needs a CTC run (strings, sentences); no picture drawn", file=sys.stderr)
        else:
            drawn = [a for a in answers if "error" not in a]
            for k, answer in enumerate(drawn, 1):
                target = args.align if len(drawn) == 1 else f"{Path(args.align).with_suffix('')}-{k}.png"
                plot_alignment(answer, predictor.config, target)
                print(f"alignment of {answer['name']}: {target}", file=sys.stderr)
    for answer in answers:
        answer.pop("features", None)
        answer.pop("outputs", None)
    return write_answers(answers, args.format, _pretty, "file", rows="lines")


def _pretty(answers: list[dict]) -> Iterator[str]:
    """The lines of ``--format pretty``: ``name<TAB>transcript`` (or ``error: why``) per file."""
    for answer in answers:
        if "error" in answer:
            yield f"{answer['name']}\terror: {answer['error'].removeprefix(answer['name'] + ': ')}"
        else:
            yield f"{answer['name']}\t{answer['transcript']}"


__all__ = ["add_parser", "rewrite_argv"]
