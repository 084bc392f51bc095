"""``rnnkit sentiment``: train, evaluate, predict and summarise the IMDB models."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import apply_overrides
from ..errors import InputError
from . import catalog, common
from .task_command import add_inputs, add_run_command

if TYPE_CHECKING:
    from ..tasks import sentiment

OPTIONS = (
    common.EPOCHS,
    common.LR,
    common.BATCH_SIZE,
    common.Override("--subset", "train_subset", int, "train on this many reviews (quick runs)"),
    common.Override(
        "--init",
        "init",
        str,
        "start from a pretrained run (rnnkit sentiment pretrain): its vocabulary, "
        "embedding and LSTMs (use --preset pretrained, or a preset with its sizes)",
    ),
    common.DEVICE,
)
PRETRAIN_OPTIONS = (
    common.EPOCHS,
    common.LR,
    common.BATCH_SIZE,
    common.MINUTES,
    common.DEVICE,
    common.Override(
        "--init",
        "init",
        str,
        "go on from a pretrained run (its tokenizer, sizes and weights) on new text, e.g. "
        "--text-dir: adapts the language model to that text (ULMFiT's second stage)",
    ),
)
SET_HELP = "override any config field, e.g. --set model.hidden_sizes=64,32 --set train.clip_norm=1"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("sentiment", help="IMDB sentiment: the lecture's TensorFlow demo")
    sub = parser.add_subparsers(dest="sentiment_command", required=True)

    train = sub.add_parser("train", help="train a preset on IMDB (resumes an interrupted --out)")
    common.add_run_options(train, catalog.PRESETS["sentiment"], default_preset="seed", nproc=True)
    _add_data(train)
    common.add_overrides(train, OPTIONS, SET_HELP)
    train.set_defaults(func=cmd_train)

    pretrain = sub.add_parser(
        "pretrain",
        help="pretrain forward and backward language models on unlabelled reviews (resumable)",
        description="Learn the language of reviews before the task: a forward and a backward subword "
        "LSTM language model on IMDB's 50,000 unlabelled reviews and the labelled training reviews "
        "(never the test reviews), or on --text-dir. Then: rnnkit sentiment train --init RUN "
        "--preset pretrained.",
    )
    common.add_run_options(
        pretrain, catalog.PRESETS["pretrain"], default_preset="imdb", out="runs/pretrain", nproc=True
    )
    _add_data(pretrain)
    pretrain.add_argument("--text-dir", help="pretrain on the .txt files under this folder instead of IMDB")
    common.add_overrides(
        pretrain, PRETRAIN_OPTIONS, "override any config field, e.g. --set model.hidden_size=512"
    )
    pretrain.set_defaults(func=cmd_pretrain)

    demo = sub.add_parser("demo", help="train the seed model briefly, score it, try the samples")
    common.add_run_options(demo, out="runs/demo")
    _add_data(demo)
    common.add_overrides(demo, OPTIONS, SET_HELP)
    demo.set_defaults(func=cmd_demo, preset="seed")

    evaluate = sub.add_parser(
        "evaluate",
        help="test accuracy of a trained run, or of an ensemble of runs",
        description="Test accuracy of RUN. With several runs: each one's, and that of their ensemble "
        "(the mean of their logits).",
    )
    evaluate.add_argument("run", nargs="+", help="run directory (the --out of train); several: an ensemble")
    _add_data(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    predict = add_run_command(
        sub,
        "predict",
        "probability that each review is positive",
        description="Print one row per review, in order: the probability that it is positive, the "
        "label and the start of the text. Reviews read from --file or standard input are one per line "
        "(\\n or \\r\\n); an empty or whitespace-only line gives a row with probability nan and "
        "label 'empty', and is not classified, so row k of the output is line k of the input. An empty "
        "review given on the command line is an error.",
    )
    add_inputs(
        predict,
        "texts",
        f"reviews; none or '-' reads stdin, one per line ({common.EMPTY_TEXTS})",
        file="a UTF-8 file with one review per line (an empty line: nan, 'empty')",
    )
    common.add_inference_threads(predict)
    predict.set_defaults(func=cmd_predict)

    show = sub.add_parser("summary", help="the preset's model as a Keras-style table")
    show.add_argument(
        "--preset",
        default="seed",
        choices=catalog.PRESETS["sentiment"],
        help="named configuration (default: %(default)s)",
    )
    show.set_defaults(func=cmd_summary)


def _add_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="IMDB tarball or folder (default: $RNNKIT_DATA, then cache)")


def _train(args: argparse.Namespace, config: sentiment.SentimentConfig) -> tuple[Path, dict]:
    from ..tasks import sentiment

    return common.train_task(sentiment, config, args, args.data, title=f"training preset {args.preset!r}")


def _report(run_dir: Path, results: dict) -> None:
    print(
        f"test accuracy {results['test_accuracy']:.2%} (loss {results['test_loss']:.4f}) on "
        f"{results['test_reviews']:,} reviews; {results['epochs']} epochs, "
        f"{results['train_seconds_total'] / 60:.1f} min of training"
    )
    common.print_run(run_dir, curves="curves.png", history="history.csv")


def cmd_train(args: argparse.Namespace) -> int:
    from ..tasks import sentiment

    config = common.config_from_args(sentiment.preset(args.preset), args, OPTIONS)
    _report(*_train(args, config))
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from ..tasks import pretrain

    config = common.config_from_args(pretrain.preset(args.preset), args, PRETRAIN_OPTIONS)
    run_dir = common.run_dir(args, pretrain.RUNS)
    results = common.train_with_progress(
        lambda callbacks: pretrain.train(config, args.data, run_dir, args.text_dir, callbacks),
        run_dir,
        f"pretraining preset {args.preset!r}",
    )
    shown = [f"forward {results['best_val_perplexity_forward']:.1f}"]
    if "best_val_perplexity_backward" in results:
        shown.append(f"backward {results['best_val_perplexity_backward']:.1f}")
    directions = ", ".join(shown)
    print(
        f"validation perplexity {results['best_val_perplexity']:.1f} ({directions}) after "
        f"{results['passes']:.2f} passes over {results['corpus']['tokens']['train']:,} pieces, "
        f"{results['train_seconds_total'] / 60:.1f} min of training"
    )
    print(f"run: {run_dir}  next: rnnkit sentiment train --init {run_dir} --preset pretrained")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..tasks import sentiment

    config = common.config_from_args(sentiment.preset(args.preset), args, OPTIONS)
    if args.epochs is None:  # the seed recipe's first 2 of its 10 epochs (docs/RESULTS.md: make demo)
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
    from ..tasks import sentiment

    start = time.perf_counter()
    if len(args.run) > 1:
        with common.counting("scoring the test reviews", 25_000 * len(args.run), "predictions") as progress:
            result = sentiment.evaluate_ensemble(args.run, args.data, progress)
        for run, accuracy in zip(result["runs"], result["alone"]):
            print(f"{run}: test accuracy {accuracy:.2%}")
        seconds = time.perf_counter() - start
        print(
            f"ensemble of {len(args.run)} (mean logit): test accuracy {result['accuracy']:.2%}  "
            f"({seconds:.0f} s)"
        )
        return 0
    where = args.data or "the IMDB data"
    print(f"scoring {args.run[0]} on the test reviews of {where} ...", file=sys.stderr, flush=True)
    metrics = sentiment.evaluate(args.run[0], args.data)
    seconds = time.perf_counter() - start
    print(f"test accuracy {metrics['accuracy']:.2%}  loss {metrics['loss']:.4f}  ({seconds:.0f} s)")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..tasks import sentiment

    texts = common.input_lines(args.file, args.texts)
    if not texts:
        raise InputError("no review to classify: give texts, --file, or lines on standard input")
    reviews = sum(1 for text in texts if text.strip())  # the batch: the reviews, at most EVAL_BATCH
    common.use_inference_threads(args.threads, min(reviews, sentiment.EVAL_BATCH))
    predictor = sentiment.Predictor.from_run(args.run)
    _print_predictions(predictor, texts)
    return 0


def _print_predictions(predictor: sentiment.Predictor, texts: list[str]) -> None:
    """One row per text, in order: probability, label, the text; a blank text gets ``nan  empty``
    and is not sent to the model."""
    import numpy as np

    kept = [i for i, text in enumerate(texts) if text.strip()]
    probs = np.full(len(texts), np.nan)
    if kept:
        with common.counting("predicting", len(kept), "reviews") as progress:
            probs[kept] = predictor([texts[i] for i in kept], progress)
    for text, p in zip(texts, probs):
        label = "empty" if np.isnan(p) else "positive" if p > 0.5 else "negative"
        shown = " ".join(text.split())
        shown = shown if len(shown) <= 70 else shown[:67] + "..."
        print(f"{p:.3f}  {label}  {shown}".rstrip())


def cmd_summary(args: argparse.Namespace) -> int:
    import torch

    from ..summary import summary
    from ..tasks import sentiment

    config = sentiment.resolved(sentiment.preset(args.preset))
    model = sentiment.build_model(config)
    print(f"preset {args.preset!r}")
    print(summary(model, torch.randint(1, config.vocab_size, (2, 16))))
    return 0


__all__ = ["add_parser"]
