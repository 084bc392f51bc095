"""``rnnkit translate``: train, evaluate, and translate sentences (Tatoeba, fra-eng and kor-eng).

``rnnkit translate RUN "Voulez-vous chanter avec moi ?"`` is short for
``rnnkit translate predict RUN ...`` (see :func:`rewrite_argv`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from ..errors import InputError
from . import common
from .task_command import TaskCommand, add_format, add_inputs

OPTIONS = (
    common.Override(
        "--pair", "pair", str, "source-target: fra-eng, eng-fra, kor-eng, eng-kor (default: the preset's)"
    ),
    *common.BUDGETED_TRAINING,
)
FORMATS = ("text", "json")
DEVICE_HELP = "auto (the default: cuda if torch sees a GPU, else cpu), cpu, cuda or cuda:N"
TASK = TaskCommand(
    "translate",
    ("train", "evaluate", "predict"),
    data_help="folder with the Tatoeba zips (default: $RNNKIT_DATA/tatoeba)",
)
rewrite_argv = TASK.rewrite_argv


def add_parser(commands: argparse._SubParsersAction) -> None:
    sub = TASK.add_parser(
        commands,
        "machine translation (Tatoeba): a BiGRU encoder, a GRU decoder with attention, beam search",
        "'a sentence' translates it",
    )
    train = TASK.add_train(
        sub,
        "train, select on the validation BLEU, score the test split",
        OPTIONS,
        "override any config field, e.g. --set model.dropout=0.3",
        nproc=True,
    )
    train.set_defaults(func=cmd_train)

    evaluate = TASK.add_run_command(
        sub, "evaluate", "BLEU and chrF (sacrebleu) on the test split, greedy and beam", data=True
    )
    evaluate.add_argument("--beam", type=int, help="the beam compared with greedy (default: the run's, 5)")
    evaluate.add_argument(
        "--split", default="test", choices=("test", "validation"), help="default: %(default)s"
    )
    evaluate.add_argument("--samples", type=int, default=8, help="sample translations to show (default 8)")
    evaluate.add_argument("--limit", type=int, help="score only the first N pairs of the split")
    evaluate.add_argument("--device", default="auto", type=common.device_name, help=DEVICE_HELP)
    evaluate.set_defaults(func=cmd_evaluate)

    predict = TASK.add_run_command(
        sub, "predict", "translate sentences (also: rnnkit translate RUN 'sentence')"
    )
    add_inputs(
        predict,
        "texts",
        f"sentences; none or '-' reads stdin, one per line ({common.EMPTY_TEXTS})",
        file="a UTF-8 file with one sentence per line",
    )
    predict.add_argument("--beam", type=int, help="beam size (1: greedy; default: the run's, 5)")
    predict.add_argument(
        "--attention",
        metavar="IMAGE",
        help="save the attention heatmap of the (first) sentence as an image, of the type its extension "
        "names (.png, .svg, .pdf...; none: .png is added); a missing folder is created",
    )
    add_format(
        predict,
        FORMATS,
        "text: one translation per line; json: one object per line: text, pieces, log_prob (the "
        "summed log-probability of the n tokens written, </s> included when written), score (log_prob / "
        "((5 + n) / 6) ** alpha, GNMT's length penalty, alpha the run's length_penalty: what beam search "
        "ranks by, computed alike for greedy) and truncated (default: %(default)s)",
    )
    predict.add_argument("--device", default="auto", type=common.device_name, help=DEVICE_HELP)
    common.add_inference_threads(predict)
    predict.set_defaults(func=cmd_predict)


def cmd_train(args: argparse.Namespace) -> int:
    from ..tasks import translate

    config = common.config_from_args(translate.preset(args.preset), args, OPTIONS)
    run_dir, results = common.train_task(
        translate, config, args, args.data, title=f"training {args.preset!r} ({config.pair})"
    )
    for name, scores in results["test"].items():
        print(
            f"test {name}: BLEU {scores['bleu']:.2f}  chrF {scores['chrf']:.2f}  "
            f"({scores['sentences_per_second']:,.0f} sentences/s)"
        )
    print(
        f"best validation BLEU (greedy) {results['best_val_bleu']:.2f} at epoch {results['best_epoch']}, "
        f"{results['train_seconds_total'] / 60:.1f} min of training; "
        f"{results['test']['beam1']['bleu_signature']}"
    )
    common.print_run(run_dir, curves="curves.png", scores=translate.RESULTS_FILE)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..tasks import translate

    config = translate.RUNS.load_config(args.run)
    beam = args.beam or config.beam
    beams = (1,) if beam == 1 else (1, beam)
    result = translate.evaluate(args.run, args.data, beams, args.split, args.device, args.limit)
    pairs = result["pairs"]
    first = next(iter(result["scores"].values()))
    print(
        f"{config.pair} {args.split}: {len(pairs):,} pairs, {first['sources']:,} distinct sources, each "
        f"scored once against all of its {first['references']:,} references (per pair: one reference)"
    )
    print(f"  {'search':10s}{'BLEU':>8s}{'chrF':>8s}{'BLEU/pair':>11s}{'sentences/s':>14s}")
    for b, scores in result["scores"].items():
        name = "greedy" if b == 1 else f"beam {b}"
        speed = scores["sentences_per_second"]
        row = f"{scores['bleu']:>8.2f}{scores['chrf']:>8.2f}{scores['bleu_per_pair']:>11.2f}{speed:>14,.0f}"
        print(f"  {name:10s}{row}")
    print(f"  {first['bleu_signature']}\n  {first['chrf_signature']}")
    shown = result["scores"][beams[-1]]["translations"]
    for pair, text in list(zip(pairs, shown))[: args.samples]:
        print(f"\n  source:     {pair.source}\n  reference:  {pair.target}\n  translated: {text}")
    return 0


def attention_path(text: str) -> Path:
    """``--attention``'s file, checked before any model loads so that a bad path fails at once
    rather than after the translation: its extension must be a type matplotlib writes (none: .png
    is added, as matplotlib would), and its folder is created if missing."""
    from matplotlib.figure import Figure

    path = Path(text)
    if path.is_dir():
        raise InputError(f"--attention {path} is a folder; give a file name, e.g. {path / 'attention.png'}")
    if not path.suffix:
        path = path.with_name(path.name + ".png")
    types = sorted(Figure().canvas.get_supported_filetypes())
    if path.suffix.lower().removeprefix(".") not in types:
        raise InputError(
            f"--attention {path} ends in {path.suffix!r}, an image type matplotlib cannot write; end it "
            f"in one of {', '.join('.' + name for name in types)} (none: .png is added)"
        )
    folder = path.parent
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise InputError(f"--attention {path}: {existing} is a file, not a folder; give a path in a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"--attention {path}: cannot create the folder {folder} ({error.strerror}); give a path in a "
            "folder you can write to"
        ) from None
    if not os.access(folder, os.W_OK):
        raise InputError(
            f"--attention {path}: cannot write in {folder}; give a path in a folder you can write to"
        )
    return path


def cmd_predict(args: argparse.Namespace) -> int:
    from ..tasks import translate
    from ..tasks.translate.translator import BEAM_BATCH, GREEDY_BATCH

    figure = attention_path(args.attention) if args.attention is not None else None
    lines = common.input_lines(args.file, args.texts)
    translator = translate.Translator.from_run(args.run, args.device)
    beam = args.beam if args.beam is not None else translator.config.beam
    sentences = sum(1 for line in lines if line.strip())  # the batch: the sentences times the beam
    most = GREEDY_BATCH if beam == 1 else BEAM_BATCH
    common.use_inference_threads(args.threads, min(sentences, most) * max(beam, 1))
    with common.counting("translating", len(lines), "sentences") as progress:
        translations = translator.translate(lines, beam=beam, attention=figure is not None, progress=progress)
    cut = [i + 1 for i, t in enumerate(translations) if t.truncated]
    if cut:
        print(
            f"warning: line(s) {', '.join(map(str, cut[:5]))} have more than {translate.MAX_SOURCE_TOKENS} "
            f"source pieces; only the first {translate.MAX_SOURCE_TOKENS} were translated",
            file=sys.stderr,
        )
    for t in translations:
        if args.format == "json":
            record = {
                "text": t.text,
                "pieces": t.target_tokens,
                "score": t.score,
                "log_prob": t.log_prob,
                "truncated": t.truncated,
            }
            print(json.dumps(record, ensure_ascii=False))
        else:
            print(t.text)
    if figure is not None:
        first = next((t for t in translations if t.source_tokens), None)
        if first is None:
            print("no attention figure: every line was empty", file=sys.stderr)
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                translate.attention_figure(first, figure)
            for warning in caught:
                print(f"warning: {warning.message}", file=sys.stderr)
            print(f"attention heatmap: {figure}", file=sys.stderr)
    return 0


__all__ = ["add_parser", "rewrite_argv"]
