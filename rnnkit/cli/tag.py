"""``rnnkit tag``: named entities on CoNLL-2003: train, evaluate, and tag sentences.

``rnnkit tag RUN "Yesterday, Harry Potter met Hermione Granger."`` is short for
``rnnkit tag predict RUN ...`` (see :func:`rewrite_argv`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys

from . import catalog, common
from .task_command import TaskCommand, add_format, add_inputs

OPTIONS = (
    *common.BUDGETED_TRAINING,
    common.Override(
        "--lm",
        "lm",
        str,
        "contextual word features from a pretrained language model run (rnnkit sentiment pretrain), "
        "frozen; preset best reads runs/lm-conll (docs/tag.md)",
    ),
)
FORMATS = ("pretty", "conll", "json")
TASK = TaskCommand(
    "tag",
    ("train", "evaluate", "predict", "text"),
    data_help="folder with eng.train/testa/testb (default: $RNNKIT_DATA/conll2003)",
)
rewrite_argv = TASK.rewrite_argv


def add_parser(commands: argparse._SubParsersAction) -> None:
    sub = TASK.add_parser(
        commands, "named entities (CoNLL-2003): a BiLSTM-CRF tagger", "'a sentence' tags it"
    )
    train = TASK.add_train(
        sub,
        "train on eng.train, select on eng.testa, score eng.testb",
        OPTIONS,
        "override any config field, e.g. --set model.hidden_size=200",
        nproc=True,
    )
    train.set_defaults(func=cmd_train)

    evaluate = TASK.add_run_command(
        sub, "evaluate", "precision, recall and F1 per entity type on eng.testb", data=True
    )
    evaluate.add_argument(
        "--split", default="test", choices=list(catalog.TAG_SPLITS), help="default: test (testb)"
    )
    evaluate.add_argument("--errors", type=int, default=5, help="sentences with errors to show (default 5)")
    _add_bf16(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    text = sub.add_parser(
        "text",
        help="write a split's words as plain text (one file per document), to adapt a language model",
        description="The words of eng.train's documents (no tags), one .txt file per document, for "
        "'rnnkit sentiment pretrain --init RUN --text-dir OUT' (docs/tag.md, preset best).",
    )
    TASK.add_data(text)
    text.add_argument("--out", required=True, help="a new (or empty) folder")
    text.add_argument("--split", default="train", choices=list(catalog.TAG_SPLITS), help="default: train")
    text.set_defaults(func=cmd_text)

    predict = TASK.add_run_command(sub, "predict", "tag sentences (also: rnnkit tag RUN 'sentence')")
    add_inputs(
        predict,
        "texts",
        f"sentences; none or '-' reads stdin, one per line ({common.EMPTY_TEXTS})",
        file="a UTF-8 file with one sentence per line",
    )
    add_format(
        predict,
        FORMATS,
        "pretty: the sentence with [entities]TYPE and a table of spans; conll: TOKEN TAG lines, a "
        "blank line after each sentence; json: one JSON object per line (default: %(default)s)",
    )
    predict.add_argument("--tokenized", action="store_true", help="words are already split by spaces")
    predict.add_argument(
        "--documents",
        action="store_true",
        help="consecutive lines up to an empty line form one document, which a tagger whose language "
        "model reads documents (lm_context=document) reads as a whole; without it each line stands alone",
    )
    _add_bf16(predict)
    common.add_inference_threads(predict)
    predict.set_defaults(func=cmd_predict)


def _add_bf16(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="run the model in bfloat16 (autocast): faster on CPUs with native bfloat16 "
        "(AVX512-BF16, AMX) and GPUs; F1 measured in docs/tag.md",
    )


def cmd_train(args: argparse.Namespace) -> int:
    from ..tasks import tag

    config = common.config_from_args(tag.preset(args.preset), args, OPTIONS)
    run_dir, results = common.train_task(tag, config, args, args.data)
    test = results["test"]
    scored = (
        f"test (eng.testb) F1 {test['f1']:.2%}  precision {test['precision']:.2%}  "
        f"recall {test['recall']:.2%}; "
    )
    minutes = f"{results['train_seconds_total'] / 60:.1f} min of training"
    if "members" in results:
        alone = ", ".join(f"{m['test_f1']:.2%}" for m in results["members"])
        print(f"{scored}validation F1 {results['val_f1']:.2%}; the members alone {alone}; {minutes}")
    else:
        best = f"best validation F1 {results['best_val_f1']:.2%} at epoch {results['best_epoch']}"
        print(f"{scored}{best}, {minutes}")
    curves = "members/*/curves.png" if "members" in results else "curves.png"
    common.print_run(run_dir, curves=curves, scores=tag.RESULTS_FILE)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..tasks import tag

    result = tag.evaluate(args.run, args.data, args.split, bf16=args.bf16)
    name = tag.SPLITS[args.split]
    n = len(result["sentences"])
    print(f"{name}: {n:,} sentences tagged in {result['seconds']:.1f} s ({n / result['seconds']:,.0f}/s)")
    print(_table(result))
    print(
        "\nentity types of the gold spans (rows) as predicted (columns; 'missed': no entity with that span):"
    )
    print(_confusion(tag.confusion(result["sentences"], result["predicted"])))
    shown = 0
    for sentence, predicted in zip(result["sentences"], result["predicted"]):
        if shown >= args.errors:
            break
        if predicted != sentence.tags:
            shown += 1
            print(f"\n  gold:      {tag.marked(sentence.tokens, sentence.tags)}")
            print(f"  predicted: {tag.marked(sentence.tokens, predicted)}")
    return 0


def cmd_text(args: argparse.Namespace) -> int:
    from ..tasks import tag

    counts = tag.write_text(args.data, args.out, args.split)
    name = tag.SPLITS[args.split]
    print(f"{counts['documents']:,} documents, {counts['words']:,} words of {name} in {args.out}")
    return 0


def _table(result: dict) -> str:
    rows = [f"  {'type':8s}{'precision':>10s}{'recall':>10s}{'F1':>10s}{'support':>10s}"]
    for kind, m in sorted(result["per_type"].items()):
        rows.append(
            f"  {kind:8s}{m['precision']:>10.2%}{m['recall']:>10.2%}{m['f1-score']:>10.2%}{m['support']:>10,}"
        )
    support = sum(m["support"] for m in result["per_type"].values())
    overall = f"{result['precision']:>10.2%}{result['recall']:>10.2%}{result['f1']:>10.2%}"
    rows.append(f"  {'overall':8s}{overall}{support:>10,}")
    return "\n".join(rows)


def _confusion(table: dict) -> str:
    columns = [*sorted(table), "missed"]
    rows = ["  " + " " * 8 + "".join(f"{c:>8s}" for c in columns)]
    for kind in sorted(table):
        rows.append(f"  {kind:8s}" + "".join(f"{table[kind].get(c, 0):>8,}" for c in columns))
    return "\n".join(rows)


def cmd_predict(args: argparse.Namespace) -> int:
    from ..tasks import tag

    lines = common.input_lines(args.file, args.texts)
    sentences = [line.split() if args.tokenized else tag.tokenize(line) for line in lines]
    long = [i + 1 for i, s in enumerate(sentences) if len(s) > tag.MAX_WORDS]
    if long:
        print(
            f"warning: line(s) {', '.join(map(str, long[:5]))} have more than {tag.MAX_WORDS} words; "
            f"tagged in pieces of {tag.MAX_WORDS} (an entity across a boundary is split)",
            file=sys.stderr,
        )
    kept = [s for s in sentences if s]  # an empty line gets an empty record, in its place
    pieces = sum(-(-len(s) // tag.MAX_WORDS) for s in kept)  # the batch: the pieces, at most EVAL_BATCH
    common.use_inference_threads(args.threads, min(pieces, tag.EVAL_BATCH))
    tagger = tag.Tagger.from_run(args.run, bf16=args.bf16)
    documents = None
    if args.documents:  # an empty line ends a document
        breaks = list(itertools.accumulate(not s for s in sentences))  # empty lines up to each line
        documents = [breaks[i] for i, s in enumerate(sentences) if s]
    with common.counting("tagging", len(kept), "sentences") as progress:
        tagged = iter(tagger(kept, progress, documents) if kept else [])
    for tokens in sentences:
        tags = next(tagged) if tokens else []
        _print(tokens, tags, args.format)
    return 0


def _print(tokens: list[str], tags: list[str], form: str) -> None:
    from ..tasks import tag

    if form == "json":
        print(
            json.dumps(
                {"tokens": tokens, "tags": tags, "entities": tag.entities(tokens, tags)}, ensure_ascii=False
            )
        )
    elif form == "conll":
        for token, label in zip(tokens, tags):
            print(f"{token} {label}")
        print()
    else:
        print(tag.marked(tokens, tags))
        for entity in tag.entities(tokens, tags):
            first, last = entity["start"] + 1, entity["end"]
            where = f"word {first}" if first == last else f"words {first}-{last}"
            print(f"    {entity['type']:5s} {entity['text']}  ({where})")


__all__ = ["add_parser", "rewrite_argv"]
