"""FSDD isolated digits on the dataset's split: a few seeds of one recipe, each a normal run
(``OUT/seedK``, as ``rnnkit speech train`` makes it), then their mean probabilities (an ensemble,
:func:`rnnkit.models.sequence.probabilities`) on validation and, once, on the test.

    python benchmarks/speech_digits_ensemble.py --data ../shared/data/fsdd --out runs/sd-ens \\
        --seeds 0,1,2 --minutes 3 [--set augment.variants=4 ...]

Prints each member's and the ensemble's validation accuracy and loss and test accuracy, and writes
them (with the ensemble's test confusion matrix) to OUT/ensemble.json. A finished member is kept
(run it again to add seeds).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from rnnkit.config import apply_overrides
from rnnkit.models.sequence import probabilities
from rnnkit.tasks.speech import data as corpora
from rnnkit.tasks.speech import task as speech
from rnnkit.tasks.speech.scoring import EVAL_BATCH, EVAL_STEPS
from rnnkit.train import ProgressBar, folds
from rnnkit.train.cv import Splits


def scores(models: list, dataset) -> tuple[float, float]:
    """(accuracy, mean negative log-likelihood) of the models' mean probabilities."""
    p = np.stack(probabilities(models, dataset, None, EVAL_BATCH, EVAL_STEPS))  # (N, 10)
    truth = dataset.labels
    return float((p.argmax(1) == truth).mean()), float(
        -np.log(p[np.arange(len(truth)), truth] + 1e-12).mean()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/fsdd")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    print(f"reading {args.data} ...", flush=True)
    corpus = corpora.read_fsdd(args.data)
    base = apply_overrides(speech.preset("digits"), [f"train.time_limit={args.minutes}", *args.set])
    out, rows, models = Path(args.out), [], []
    for seed in [int(s) for s in args.seeds.split(",")]:
        config = dataclasses.replace(base, train=dataclasses.replace(base.train, seed=seed))
        run = out / f"seed{seed}"
        print(f"seed {seed}: training into {run} ({args.minutes:g} min)", flush=True)
        results = speech.train(config, args.data, run, callbacks=[ProgressBar()], fsdd=corpus)
        model, saved = speech.RUNS.load_model(run, speech.build_model)
        models.append(model)
        rows.append(
            {"seed": seed, "epochs": results["epochs"], "minutes": results["train_seconds_total"] / 60}
        )
    data = speech.prepare(
        saved, args.data, corpus, Splits.load(out / f"seed{rows[0]['seed']}" / folds.SPLITS_FILE)
    )
    for row, model in zip(rows, models):
        row["val_accuracy"], row["val_loss"] = scores([model], data.validation)
        row["test_accuracy"], _ = scores([model], data.test)
    ensemble = {"seed": "ensemble"}
    ensemble["val_accuracy"], ensemble["val_loss"] = scores(models, data.validation)
    ensemble["test_accuracy"], _ = scores(models, data.test)
    predicted = np.stack(probabilities(models, data.test, None, EVAL_BATCH, EVAL_STEPS)).argmax(1)
    confusion = np.zeros((10, 10), dtype=int)  # rows: the digit said, columns: the digit heard
    np.add.at(confusion, (data.test.labels, predicted), 1)
    ensemble["test_confusion"] = confusion.tolist()
    print("| member | epochs | minutes | validation accuracy | validation loss | test accuracy |")
    print("|---|---|---|---|---|---|")
    for row in [*rows, ensemble]:
        epochs = f"{row['epochs']} | {row['minutes']:.1f}" if "epochs" in row else " | "
        print(
            f"| {row['seed']} | {epochs} | {row['val_accuracy']:.2%} | {row['val_loss']:.4f} "
            f"| {row['test_accuracy']:.2%} |"
        )
    (out / "ensemble.json").write_text(json.dumps({"members": rows, "ensemble": ensemble}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
