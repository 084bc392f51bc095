"""``rnnkit activity``: actions from body skeletons (MSR Action3D) or any multichannel sequences
(.ts, CSV folders): train, evaluate, baseline, and label clips and their frames.

``rnnkit activity RUN FILE...`` is short for ``rnnkit activity predict RUN FILE...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import catalog, common

SUBSET = common.Override(
    "--subset", "subset", str, "MSR Action3D actions: AS1, AS2, AS3 (Li et al. 2010) or all (default AS1)",
    choices=("AS1", "AS2", "AS3", "all"),
)  # fmt: skip
OPTIONS = (SUBSET, common.EPOCHS, common.LR, common.BATCH_SIZE, common.DEVICE, common.SEED)
COMMANDS = ("train", "evaluate", "baseline", "predict")
FORMATS = ("pretty", "json")


def rewrite_argv(argv: list[str]) -> list[str]:
    """``activity RUN FILE...`` -> ``activity predict RUN FILE...``."""
    return common.rewrite_subcommand(argv, "activity", COMMANDS)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "activity",
        help="actions from body skeletons (MSR Action3D) or multichannel sequences, per clip and frame",
        description="rnnkit activity RUN FILE... labels clips and their frames "
        "(short for 'rnnkit activity predict RUN ...').",
    )
    sub = parser.add_subparsers(dest="activity_command", required=True)

    train = sub.add_parser(
        "train",
        help="train on MSR Action3D (--data, cross-subject), a .ts pair (--ts, --test) or --csv FOLDER",
    )
    source = train.add_mutually_exclusive_group()
    source.add_argument(
        "--data", help="the MSR Action3D skeleton folder (default: $RNNKIT_DATA/msr_action3d)"
    )
    source.add_argument("--ts", help="a UEA/UCR .ts training file (needs --test)")
    source.add_argument("--csv", help="a folder of LABEL/NAME.csv files (one per case; a seeded split tests)")
    train.add_argument("--test", help="the .ts test file of --ts")
    common.add_run_options(train, catalog.PRESETS["activity"], default_preset="fast", out="runs/activity")
    common.add_overrides(train, OPTIONS, "override any config field, e.g. --set augment.rotate_deg=0")
    train.set_defaults(func=cmd_train)

    for name, help, func in (
        (
            "evaluate",
            "accuracy, per-class scores and the confusion matrix (PNG) on the run's test part",
            cmd_evaluate,
        ),
        ("baseline", "per-feature statistics + logistic regression on the run's own split", cmd_baseline),
    ):
        command = sub.add_parser(name, help=help)
        command.add_argument("run", help="run directory (the --out of train)")
        command.add_argument("--data", help="where the run's data is now, if it moved (folder or .ts file)")
        command.add_argument("--test", help="where a .ts run's test file is now, if it moved")
        if name == "evaluate":
            command.add_argument("--png", help="the confusion matrix picture (default: RUN/confusion.png)")
        command.set_defaults(func=func)

    predict = sub.add_parser(
        "predict", help="label clips and their frames (also: rnnkit activity RUN FILE...)"
    )
    predict.add_argument("run", help="run directory (the --out of train)")
    predict.add_argument(
        "files", nargs="+", help="skeleton files (a skeleton run) or .ts / .csv files (a multichannel run)"
    )
    predict.add_argument(
        "--format",
        default="pretty",
        choices=FORMATS,
        help="pretty: the action, its probability and the frames' labels; json: one object per clip "
        "(default: %(default)s). The exit status is 1 when a file cannot be read",
    )
    predict.add_argument(
        "--animate", metavar="GIF", help="draw the first skeleton clip moving, each frame's label under it"
    )
    common.add_inference_threads(predict)
    predict.set_defaults(func=cmd_predict)


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
    run_dir = common.run_dir(args, activity.RUNS)
    what = {
        "msr": f"MSR Action3D {config.subset}, cross-subject",
        "ts": "the .ts files",
        "csv": "the CSV folder",
    }
    results = common.train_with_progress(
        lambda callbacks: activity.train(config, inputs, run_dir, callbacks),
        run_dir,
        f"training {args.preset!r} on {what[inputs.kind]}",
    )
    sizes, minutes = results["sizes"], f"{results['train_seconds_total'] / 60:.1f} min of training"
    if "folds" in results:  # an ensemble
        k, mean, sd = len(results["folds"]), results["test_accuracy_mean"], results["test_accuracy_sd"]
        print(
            f"test accuracy {results['test_accuracy']:.2%} on {sizes['test']} clips: the mean of {k} "
            f"members, each validated on one training subject of the {sizes['train']} training clips "
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
    print(f"run: {run_dir}")
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
        if args.format == "json":
            print(json.dumps(answer))
        elif "error" in answer:
            print(f"{answer['name']}  error: {answer['error']}")
        else:
            top = sorted(answer["probabilities"].items(), key=lambda kv: -kv[1])[:3]
            print(f"{answer['name']}  {answer['class']}  " + ", ".join(f"{c} {p:.1%}" for c, p in top))
            print(f"  frames ({answer['frames']}): {_runs(answer['frame_labels'])}")
    errors = sum("error" in a for a in answers)
    if errors:
        print(f"{errors} of {len(answers)} file(s) could not be read (their rows say why)", file=sys.stderr)
    return 1 if errors else 0


def _runs(labels: list[str]) -> str:
    """The frames' labels as runs: 'bend x12, pick up & throw x30'."""
    out, start = [], 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            out.append(f"{labels[start]} x{t - start}")
            start = t
    return ", ".join(out)


__all__ = ["add_parser", "rewrite_argv"]
