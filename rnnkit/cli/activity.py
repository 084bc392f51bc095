"""``rnnkit activity``: actions from body skeletons (MSR Action3D) or any multichannel sequences
(.ts, CSV folders): train, evaluate, baseline, and label clips and their frames.

``rnnkit activity RUN FILE...`` is short for ``rnnkit activity predict RUN FILE...``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from . import common
from .task_command import TaskCommand, add_format, add_inputs, write_answers

SUBSET = common.Override(
    "--subset", "subset", str, "MSR Action3D actions: AS1, AS2, AS3 (Li et al. 2010) or all (default AS1)",
    choices=("AS1", "AS2", "AS3", "all"),
)  # fmt: skip
OPTIONS = (SUBSET, *common.TRAINING)
FORMATS = ("pretty", "json")
TASK = TaskCommand(
    "activity",
    ("train", "evaluate", "baseline", "predict"),
    data_help="where the run's data is now, if it moved (folder or .ts file)",
)
rewrite_argv = TASK.rewrite_argv


def add_parser(commands: argparse._SubParsersAction) -> None:
    sub = TASK.add_parser(
        commands,
        "actions from body skeletons (MSR Action3D) or multichannel sequences, per clip and frame",
        "FILE... labels clips and their frames",
    )
    train = TASK.add_train(
        sub,
        "train on MSR Action3D (--data, cross-subject), a .ts pair (--ts, --test) or --csv FOLDER",
        OPTIONS,
        "override any config field, e.g. --set augment.rotate_deg=0",
        data=_add_sources,
        out="runs/activity",
    )
    train.set_defaults(func=cmd_train)

    for name, help, func in (
        (
            "evaluate",
            "accuracy, per-class scores and the confusion matrix (PNG) on the run's test part",
            cmd_evaluate,
        ),
        ("baseline", "per-feature statistics + logistic regression on the run's own split", cmd_baseline),
    ):
        command = TASK.add_run_command(sub, name, help, data=True)
        command.add_argument("--test", help="where a .ts run's test file is now, if it moved")
        if name == "evaluate":
            command.add_argument("--png", help="the confusion matrix picture (default: RUN/confusion.png)")
        command.set_defaults(func=func)

    predict = TASK.add_run_command(
        sub, "predict", "label clips and their frames (also: rnnkit activity RUN FILE...)"
    )
    add_inputs(
        predict,
        "files",
        "skeleton files (a skeleton run) or .ts / .csv files (a multichannel run)",
        nargs="+",
    )
    add_format(
        predict,
        FORMATS,
        "pretty: the action, its probability and the frames' labels; json: one object per clip "
        "(default: %(default)s). The exit status is 1 when a file cannot be read",
    )
    predict.add_argument(
        "--animate", metavar="GIF", help="draw the first skeleton clip moving, each frame's label under it"
    )
    common.add_inference_threads(predict)
    predict.set_defaults(func=cmd_predict)


def _add_sources(train: argparse.ArgumentParser) -> None:
    """What ``train`` reads: MSR Action3D, a .ts pair or a folder of CSV files."""
    source = train.add_mutually_exclusive_group()
    source.add_argument(
        "--data", help="the MSR Action3D skeleton folder (default: $RNNKIT_DATA/msr_action3d)"
    )
    source.add_argument("--ts", help="a UEA/UCR .ts training file (needs --test)")
    source.add_argument("--csv", help="a folder of LABEL/NAME.csv files (one per case; a seeded split tests)")
    train.add_argument("--test", help="the .ts test file of --ts")


def _inputs(args: argparse.Namespace):
    from ..data.locate import DataError
    from ..tasks import activity

    if args.ts:
        if not args.test:
            raise DataError("--ts needs its test file: --test TEST.ts")
        return activity.Inputs("ts", args.ts, args.test)
    if args.test:
        raise DataError("--test goes with --ts (a .ts training file)")
    if args.csv:
        return activity.Inputs("csv", args.csv)
    return activity.Inputs("msr", _msr_folder(args.data))


def _msr_folder(data: str | None) -> str:
    import os

    if data:
        return data
    root = os.environ.get("RNNKIT_DATA")
    candidates = [Path(root) / "msr_action3d"] if root else []
    candidates.append(Path("../shared/data/msr_action3d"))
    for candidate in candidates:
        if candidate.is_dir():
            return str(candidate)
    from ..data.locate import DataError

    raise DataError("no MSR Action3D folder found: pass --data FOLDER or set RNNKIT_DATA")


def cmd_train(args: argparse.Namespace) -> int:
    from ..tasks import activity

    config = common.config_from_args(activity.preset(args.preset), args, OPTIONS)
    inputs = _inputs(args)
    what = {
        "msr": f"MSR Action3D {config.subset}, cross-subject",
        "ts": "the .ts files",
        "csv": "the CSV folder",
    }
    run_dir, results = common.train_task(
        activity, config, args, inputs, title=f"training {args.preset!r} on {what[inputs.kind]}"
    )
    sizes, minutes = results["sizes"], f"{results['train_seconds_total'] / 60:.1f} min of training"
    if "folds" in results:  # an ensemble
        k, mean, sd = len(results["folds"]), results["test_accuracy_mean"], results["test_accuracy_sd"]
        n = sizes["train"]
        how = f"validated on one training subject of the {n} training clips"
        if config.validation_subject == -1:
            how = f"trained on all {n} training clips with its own seed"
        print(
            f"test accuracy {results['test_accuracy']:.2%} on {sizes['test']} clips: the mean of {k} "
            f"members, each {how} "
            f"(members alone: {mean:.2%} +- {sd:.2%}), {minutes}"
        )
    else:
        print(
            f"test accuracy {results['test_accuracy']:.2%} on {sizes['test']} clips "
            f"(trained on {sizes['train']}, {sizes['validation']} validated), {minutes}"
        )
    if inputs.kind == "msr":
        from ..tasks.activity.data import read_msr

        skipped = read_msr(inputs.data, config.subset).skipped
        for name, why in skipped:
            print(f"not trained on: {name}: {why}", file=sys.stderr)
    common.print_run(run_dir)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..tasks import activity

    result = activity.evaluate(args.run, args.data, args.test, args.png)
    print(f"test accuracy {result['accuracy']:.2%} on {result['tested']} clips")
    width = max(8, *(len(c) for c in result["classes"]))
    print(f"\n  {'class':{width}s}{'precision':>10s}{'recall':>10s}{'F1':>10s}{'support':>10s}")
    for name, m in result["per_class"].items():
        print(
            f"  {name:{width}s}{m['precision']:>10.2%}{m['recall']:>10.2%}{m['f1']:>10.2%}{m['support']:>10,}"
        )
    print("\ntrue class (rows) as predicted (columns), classes in the table's order:")
    for name, row in zip(result["classes"], result["confusion"]):
        print(f"  {name:{width}s}" + "".join(f"{count:>4d}" for count in row))
    print(f"\nconfusion matrix: {result['png']}")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from ..tasks import activity

    result = activity.baseline(args.run, args.data, args.test)
    print(
        f"baseline (per-feature statistics + logistic regression) test accuracy {result['accuracy']:.2%} "
        f"on {result['tested']} clips, {result['seconds']:.1f} s"
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..tasks import activity

    common.use_inference_threads(args.threads, len(args.files))
    predictor = activity.Predictor.from_run(args.run)
    with common.counting("labelling", len(args.files), "files") as progress:
        answers = predictor(args.files, progress)
    drawn = next((a for a in answers if a.get("joints") is not None), None)
    if args.animate:
        if drawn is None:
            print("warning: --animate draws skeletons; no skeleton clip was read", file=sys.stderr)
        else:
            name = drawn["name"].removesuffix(".txt").removesuffix("_skeleton3D")
            title = f"{name}: {drawn['class']} ({drawn['probabilities'][drawn['class']]:.0%})"
            activity.animate(drawn["joints"], drawn["frame_labels"], args.animate, title)
            print(f"animation: {args.animate}", file=sys.stderr)
    for answer in answers:
        answer.pop("joints", None)
    return write_answers(answers, args.format, _pretty, "file")


def _pretty(answers: list[dict]) -> Iterator[str]:
    """The lines of ``--format pretty``: per clip, its top three actions, then its frames' labels."""
    for answer in answers:
        if "error" in answer:
            yield f"{answer['name']}  error: {answer['error']}"
            continue
        top = sorted(answer["probabilities"].items(), key=lambda kv: -kv[1])[:3]
        yield f"{answer['name']}  {answer['class']}  " + ", ".join(f"{c} {p:.1%}" for c, p in top)
        yield f"  frames ({answer['frames']}): {_runs(answer['frame_labels'])}"


def _runs(labels: list[str]) -> str:
    """The frames' labels as runs: 'bend x12, pick up & throw x30'."""
    out, start = [], 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            out.append(f"{labels[start]} x{t - start}")
            start = t
    return ", ".join(out)


__all__ = ["add_parser", "rewrite_argv"]
