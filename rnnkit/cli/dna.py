"""``rnnkit dna``: splice junctions from nucleotides: train (a split or K folds), evaluate, classify.

``rnnkit dna RUN ACGT...`` is short for ``rnnkit dna predict RUN ...`` (see :func:`rewrite_argv`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from . import common
from .task_command import TaskCommand, add_format, add_inputs, write_answers

CV = common.Override(
    "--cv",
    "cv",
    int,
    "stratified K-fold cross-validation: one model per fold, the folds recorded in the run, the "
    "mean and standard deviation reported (default 0: the seeded 2,000/1,190 split)",
)
OPTIONS = (CV, *common.TRAINING)
FORMATS = ("pretty", "json")
TASK = TaskCommand(
    "dna",
    ("train", "evaluate", "predict", "baselines"),
    data_help="splice.data or its folder (default: $RNNKIT_DATA/splice)",
)
rewrite_argv = TASK.rewrite_argv


def add_parser(commands: argparse._SubParsersAction) -> None:
    sub = TASK.add_parser(
        commands,
        "splice junctions (EI donor, IE acceptor, neither) from 60-nt DNA windows",
        "ACGT... classifies sequences",
    )
    train = TASK.add_train(
        sub,
        "train on the UCI splice-junction data: a seeded 2,000/1,190 split, or --cv K folds",
        OPTIONS,
        "override any config field, e.g. --set model.hidden_size=32",
        out="runs/dna",
    )
    train.set_defaults(func=cmd_train)

    evaluate = TASK.add_run_command(
        sub,
        "evaluate",
        "accuracy on the run's own test part(s), per class, and the confusion matrix",
        data=True,
    )
    evaluate.set_defaults(func=cmd_evaluate)

    baselines = TASK.add_run_command(
        sub,
        "baselines",
        "the consensus rule, k-mer counts + logistic regression, one-hot + gradient boosting, "
        "scored on the run's own recorded splits beside the run (writes RUN/baselines.json)",
        data=True,
        run_help="run directory (the --out of train): its splits.json is used",
    )
    baselines.add_argument(
        "--only", nargs="+", metavar="NAME", help="score only these baselines (default: all three)"
    )
    baselines.set_defaults(func=cmd_baselines)

    predict = TASK.add_run_command(
        sub,
        "predict",
        "classify sequences (also: rnnkit dna RUN SEQUENCE...)",
        run_help="run directory (the --out of train); a --cv run averages its folds",
    )
    add_inputs(
        predict,
        "sequences",
        "DNA sequences (A, C, G, T, IUPAC codes, either case); none or '-' reads stdin. An empty "
        "argument is an error; an empty line of a file or stdin is answered by an error row in its place",
        file="FASTA (read with Biopython; the first line starts with '>') or one sequence a line",
    )
    add_format(
        predict,
        FORMATS,
        "pretty: a table, one row per sequence; json: one JSON object per line, with 'error' for a "
        "sequence that cannot be read (default: %(default)s). Either way row k answers input k, and the "
        "exit status is 1 when any row is an error",
    )
    predict.add_argument(
        "--explain",
        metavar="PNG",
        help="which bases decided it (saturation mutagenesis): the decisive bases marked in the output, "
        "the per-position scores in --format json, and a sequence logo with the mutation matrix written "
        "to PNG (several sequences: PNG's name with -1, -2, ... for input row k)",
    )
    predict.add_argument(
        "--scan",
        metavar="FILE",
        help="scan the sequences of FILE (FASTA, or one a line) window by window: the candidate donor and "
        "acceptor sites at or above --threshold, by position",
    )
    predict.add_argument(
        "--threshold",
        type=float,
        help="--scan: the least P(EI) or P(IE) reported as a site (default: 0.5)",
    )
    predict.add_argument(
        "--plot", metavar="PNG", help="--scan: a track plot of P(EI) and P(IE) along each sequence"
    )
    common.add_inference_threads(predict)
    predict.set_defaults(func=cmd_predict)


def cmd_train(args: argparse.Namespace) -> int:
    from ..tasks import dna

    config = common.config_from_args(dna.preset(args.preset), args, OPTIONS)
    split = f"{config.cv}-fold cross-validation" if config.cv else f"a split of {config.test_size:,} to test"
    run_dir, results = common.train_task(
        dna, config, args, args.data, title=f"training {args.preset!r} on {split}"
    )
    minutes = f"{results['train_seconds_total'] / 60:.1f} min of training"
    if config.cv:
        folds = " ".join(f"{f['test_accuracy']:.2%}" for f in results["folds"])
        mean, sd = results["test_accuracy_mean"], results["test_accuracy_sd"]
        print(f"{config.cv}-fold test accuracy {mean:.2%} +- {sd:.2%} (mean +- sd), {minutes}")
        print(f"  folds: {folds}")
    else:
        tested = results["sizes"]["test"]
        print(f"test accuracy {results['test_accuracy']:.2%} on {tested:,} sequences, {minutes}")
    common.print_run(run_dir, splits=dna.SPLITS_FILE, scores=dna.RESULTS_FILE)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..tasks import dna

    result = dna.evaluate(args.run, args.data)
    if len(result["folds"]) > 1:
        folds = " ".join(f"{a:.2%}" for a in result["folds"])
        k, mean, sd = len(result["folds"]), result["mean"], result["sd"]
        print(f"{k}-fold test accuracy {mean:.2%} +- {sd:.2%} (mean +- sd)")
        print(f"  folds: {folds}")
        print(f"pooled over the {result['tested']:,} tested sequences: accuracy {result['accuracy']:.2%}")
    else:
        print(f"test accuracy {result['accuracy']:.2%} on {result['tested']:,} sequences")
    print(f"\n  {'class':8s}{'precision':>10s}{'recall':>10s}{'F1':>10s}{'support':>10s}")
    for name, m in result["per_class"].items():
        print(f"  {name:8s}{m['precision']:>10.2%}{m['recall']:>10.2%}{m['f1']:>10.2%}{m['support']:>10,}")
    print("\ntrue class (rows) as predicted (columns):")
    print("  " + " " * 8 + "".join(f"{name:>8s}" for name in dna.CLASSES))
    for name, row in zip(dna.CLASSES, result["confusion"]):
        print(f"  {name:8s}" + "".join(f"{count:>8,}" for count in row))
    return 0


def cmd_baselines(args: argparse.Namespace) -> int:
    from ..tasks.dna import baselines

    names = args.only or baselines.BASELINES
    unknown = sorted(set(names) - set(baselines.BASELINES))
    if unknown:
        print(
            f"error: --only got {', '.join(unknown)}; choose from {', '.join(baselines.BASELINES)}",
            file=sys.stderr,
        )
        return 2
    result = baselines.score_run(args.run, args.data, names, lambda text: print(text, file=sys.stderr))
    rows = [("RNN (this run)", result["rnn"]), *result["baselines"].items()]
    what = f"{result['splits']} folds" if result["splits"] > 1 else "the test part"
    print(f"test accuracy on {what} of {args.run}/splits.json (mean +- sample sd over folds):")
    for name, r in rows:
        seconds = f"  {r['seconds']:.1f} s" if "seconds" in r else ""
        spread = f" +- {r['test_accuracy_sd']:.2%}" if result["splits"] > 1 else ""
        print(f"  {name:18s}{r['test_accuracy_mean']:>8.2%}{spread}{seconds}")
    print(f"written: {args.run}/{baselines.BASELINES_FILE}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..tasks import dna

    if args.scan or args.plot:
        from .dna_explain import cmd_scan

        return cmd_scan(args)
    if args.threshold is not None:
        print("error: --threshold is an option of --scan; add --scan FILE, or leave it out", file=sys.stderr)
        return 2
    lines = common.input_lines(args.file, args.sequences)
    named = "sequence" if args.sequences and not args.file and args.sequences != ["-"] else "line"
    entries = dna.read_inputs(lines, named)
    rows = sum(bool(sequence.strip()) for _, sequence in entries)  # an empty line is no work
    common.use_inference_threads(args.threads, min(rows, dna.EVAL_BATCH))
    if args.explain:
        from .dna_explain import cmd_explain

        return cmd_explain(args, entries)
    predictor = dna.Predictor.from_run(args.run)
    with common.counting("classifying", len(entries), "sequences") as progress:
        answers = predictor(entries, progress)
    other = sorted({a["length"] for a in answers if "length" in a} - {dna.WINDOW})
    if other:
        print(
            f"warning: the model was trained on {dna.WINDOW}-nt windows centred on the candidate junction; "
            f"sequences of other lengths ({', '.join(map(str, other[:5]))}) are classified as given",
            file=sys.stderr,
        )
    sequences = [sequence for _, sequence in entries]
    return write_answers(answers, args.format, lambda answers: _table(answers, sequences), "sequence")


def _table(answers: list[dict], sequences: list[str]) -> Iterator[str]:
    """The lines of ``--format pretty``: a header, then a row per sequence."""
    from ..tasks import dna

    width = max([4, *(len(a["name"]) for a in answers)])
    yield f"{'name':{width}s}  class " + "".join(f"{'P(' + c + ')':>7s}" for c in dna.CLASSES) + "  sequence"
    for answer, sequence in zip(answers, sequences):
        if "error" in answer:
            message = answer["error"].removeprefix(answer["name"] + ": ")
            yield f"{answer['name']:{width}s}  error: {message}"
            continue
        probs = "".join(f"{answer['probabilities'][c]:>7.3f}" for c in dna.CLASSES)
        shown = sequence if len(sequence) <= 64 else sequence[:61] + "..."
        yield f"{answer['name']:{width}s}  {answer['class']:5s} {probs}  {shown}"


__all__ = ["add_parser", "rewrite_argv"]
