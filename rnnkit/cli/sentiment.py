"""``rnnkit sentiment``: train, evaluate, predict and summarise the IMDB models."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..config import apply_overrides
from ..errors import InputError
from ..summary import summary
from ..tasks import sentiment
from ..train import CountBar, ProgressBar


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("sentiment", help="IMDB sentiment: the lecture's TensorFlow demo")
    sub = parser.add_subparsers(dest="sentiment_command", required=True)

    train = sub.add_parser("train", help="train a preset on IMDB (resumes an interrupted --out)")
    _add_training_options(train)
    train.set_defaults(func=cmd_train)

    demo = sub.add_parser("demo", help="train the seed model briefly, score it, try the samples")
    _add_training_options(demo, out="runs/demo")
    demo.set_defaults(func=cmd_demo, preset="seed")

    evaluate = sub.add_parser("evaluate", help="test accuracy of a trained run")
    evaluate.add_argument("run", help="run directory (the --out of train)")
    evaluate.add_argument("--data", help="IMDB tarball or folder (default: $RNNKIT_DATA, then cache)")
    evaluate.set_defaults(func=cmd_evaluate)

    predict = sub.add_parser(
        "predict",
        help="probability that each review is positive",
        description="Print one row per review, in order: the probability that it is positive, the "
        "label and the start of the text. Reviews read from --file or standard input are one per line "
        "(\\n or \\r\\n); an empty or whitespace-only line gives a row with probability nan and "
        "label 'empty', and is not classified, so row k of the output is line k of the input.",
    )
    predict.add_argument("run", help="run directory (the --out of train)")
    predict.add_argument("texts", nargs="*", help="reviews; none or '-' reads stdin, one per line")
    predict.add_argument("--file", help="a UTF-8 file with one review per line (an empty line: nan, 'empty')")
    predict.set_defaults(func=cmd_predict)

    show = sub.add_parser("summary", help="the preset's model as a Keras-style table")
    show.add_argument("--preset", default="seed", choices=list(sentiment.PRESETS))
    show.set_defaults(func=cmd_summary)


def _add_training_options(parser: argparse.ArgumentParser, out: str | None = None) -> None:
    if out is None:
        parser.add_argument("--preset", default="seed", choices=list(sentiment.PRESETS))
    parser.add_argument("--data", help="IMDB tarball or folder (default: $RNNKIT_DATA, then cache)")
    parser.add_argument("--out", default=out, help="run directory (default: runs/PRESET)")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    parser.add_argument("--lr", type=float, help="override the preset's learning rate")
    parser.add_argument("--batch-size", type=int, help="override the preset's batch size")
    parser.add_argument("--subset", type=int, help="train on this many reviews (quick runs)")
    parser.add_argument("--device", help="auto (default), cpu or cuda")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set model.hidden_sizes=64,32 --set train.clip_norm=1",
    )
    parser.add_argument("--restart", action="store_true", help="start over even if --out holds a run")


def _config(args: argparse.Namespace) -> sentiment.SentimentConfig:
    config = sentiment.preset(args.preset)
    overrides = list(args.set)
    for flag, key in (
        ("epochs", "train.epochs"),
        ("lr", "train.lr"),
        ("batch_size", "train.batch_size"),
        ("subset", "train_subset"),
        ("device", "train.device"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    return apply_overrides(config, overrides)


def _train(args: argparse.Namespace, config: sentiment.SentimentConfig) -> tuple[Path, dict]:
    run_dir = Path(args.out or f"runs/{args.preset}")
    if args.restart:
        sentiment.RUNS.clear(run_dir)
    print(
        f"training preset {args.preset!r} into {run_dir} (threads: {torch.get_num_threads()})",
        file=sys.stderr,
    )
    try:
        results = sentiment.train(config, args.data, run_dir, callbacks=[ProgressBar()])
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: the last finished epoch is saved in {run_dir}; run the same command to resume",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    return run_dir, results


def _report(run_dir: Path, results: dict) -> None:
    print(
        f"test accuracy {results['test_accuracy']:.2%} (loss {results['test_loss']:.4f}) on 25,000 reviews; "
        f"{results['epochs']} epochs, {results['train_seconds_total'] / 60:.1f} min of training"
    )
    print(f"run: {run_dir}  (curves: {run_dir / 'curves.png'}, history: {run_dir / 'history.csv'})")


def cmd_train(args: argparse.Namespace) -> int:
    run_dir, results = _train(args, _config(args))
    _report(run_dir, results)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.epochs is None:  # the seed recipe's first 2 of its 10 epochs: about 2 minutes
        config = apply_overrides(config, ["train.epochs=2"])
    run_dir, results = _train(args, config)
    _report(run_dir, results)
    predictor = sentiment.Predictor.from_run(run_dir)
    _print_predictions(predictor, list(sentiment.SAMPLES))
    print("\nwith and without padding (the lecture's padded prediction differed; here it must not):")
    for text in sentiment.SAMPLES[:1]:
        alone, padded = sentiment.padding_check(predictor, text)
        diff = abs(alone - padded)
        print(f"  alone {alone:.6f}   padded to 200 tokens {padded:.6f}   |difference| {diff:.1e}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    metrics = sentiment.evaluate(args.run, args.data)
    seconds = time.perf_counter() - start
    print(f"test accuracy {metrics['accuracy']:.2%}  loss {metrics['loss']:.4f}  ({seconds:.0f} s)")
    return 0


def _read_lines(raw: bytes, source: str) -> list[str]:
    """The lines of ``raw``, each one review: "\n" or "\r\n" ends a line, and a final newline ends the
    last line rather than starting another, so line k of the input is row k of the output."""
    lines = raw.split(b"\n")
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


def cmd_predict(args: argparse.Namespace) -> int:
    if args.file:
        try:
            texts = _read_lines(Path(args.file).read_bytes(), args.file)
        except OSError as error:
            raise InputError(f"cannot read {args.file}: {error.strerror}") from None
    elif not args.texts or args.texts == ["-"]:
        texts = _read_lines(sys.stdin.buffer.read(), "standard input")
    else:
        texts = args.texts
        sentiment.check_texts(texts)  # a blank argument is a mistake, not a row to keep in place
    if not texts:
        raise InputError("no review to classify: give texts, --file, or lines on standard input")
    predictor = sentiment.Predictor.from_run(args.run)
    _print_predictions(predictor, texts)
    return 0


def _print_predictions(predictor: sentiment.Predictor, texts: list[str]) -> None:
    """One row per text, in order: probability, label, the text; a blank text gets ``nan  empty``
    and is not sent to the model."""
    kept = [i for i, text in enumerate(texts) if text.strip()]
    probs = np.full(len(texts), np.nan)
    # long work: say what is happening (on a terminal only; stdout stays the predictions)
    bar = CountBar("predicting", len(kept)) if len(kept) >= 1000 else None
    if bar is not None:
        bar.update(0)
    if kept:
        probs[kept] = predictor([texts[i] for i in kept], bar.update if bar is not None else None)
    if bar is not None:
        bar.close()
    for text, p in zip(texts, probs):
        label = "empty" if np.isnan(p) else "positive" if p > 0.5 else "negative"
        shown = " ".join(text.split())
        shown = shown if len(shown) <= 70 else shown[:67] + "..."
        print(f"{p:.3f}  {label}  {shown}".rstrip())


def cmd_summary(args: argparse.Namespace) -> int:
    config = sentiment.resolved(sentiment.preset(args.preset))
    model = sentiment.build_model(config)
    print(f"preset {args.preset!r}")
    print(summary(model, torch.randint(1, config.vocab_size, (2, 16))))
    return 0


__all__ = ["add_parser"]
