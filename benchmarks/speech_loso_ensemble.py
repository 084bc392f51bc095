"""FSDD digits: the mean probabilities of several finished runs on validation and on the test:
``--loso`` runs fold by fold (each fold's models share its validation and test speakers), or runs
on the dataset's split (one "fold": recordings 0-4). The runs may differ in features and shape:
each member reads the recordings at its own features. Nothing is trained.

    python benchmarks/speech_loso_ensemble.py --data ../shared/data/fsdd runs/loso60-none runs/loso60-big-none
    python benchmarks/speech_loso_ensemble.py --data ../shared/data/fsdd runs/split60-none runs/split60-init

Prints, per fold and as the mean over folds, each member's and the ensemble's validation and test
accuracy (the members' best weights, as their runs scored them). ``rnnkit speech ensemble RUN...
--out ENS`` then ``rnnkit speech evaluate ENS`` gives the ensemble's figures as a product run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rnnkit.tasks.speech import data as corpora
from rnnkit.tasks.speech import ensemble
from rnnkit.train import folds
from rnnkit.train.cv import mean_sd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/fsdd")
    parser.add_argument(
        "runs", nargs="+", help="finished rnnkit speech train --task digits runs (all --loso or none)"
    )
    args = parser.parse_args(argv)
    corpus = corpora.read_fsdd(args.data)
    names = [Path(r).name for r in args.runs] + ["ensemble"]
    table = {name: {"validation": [], "test": []} for name in names}
    speakers = []
    loso = (Path(args.runs[0]) / folds.FOLDS).is_dir()
    for k in range(1, len(corpus.speaker_names) + 1 if loso else 2):
        members = []
        for run in args.runs:
            fold = Path(run) / folds.FOLDS / f"{k:02d}" if loso else Path(run)
            member = ensemble.part_probabilities(fold, args.data, corpus)
            members.append(member)
            if len(members) > 1:  # the same recordings in the same order, or the mean means nothing
                for part in ("validation", "test"):
                    np.testing.assert_array_equal(member[part + "_labels"], members[0][part + "_labels"])
        speakers.append(member["name"])
        for part in ("validation", "test"):
            labels = members[0][part + "_labels"]
            each = [m[part] for m in members] + [np.mean([m[part] for m in members], axis=0)]
            for name, p in zip(names, each):
                table[name][part].append(float((p.argmax(1) == labels).mean()))
        print(f"fold {k} ({speakers[-1]} held out): " + ", ".join(
            f"{n} {table[n]['validation'][-1]:.2%}/{table[n]['test'][-1]:.2%}" for n in names
        ), flush=True)  # fmt: skip
    print("| model | validation mean | test mean (sd) | test per speaker (" + ", ".join(speakers) + ") |")
    print("|---|---|---|---|")
    for name in names:
        (val, _), (test, sd) = mean_sd(table[name]["validation"]), mean_sd(table[name]["test"])
        each = ", ".join(f"{t:.2%}" for t in table[name]["test"])
        print(f"| {name} | {val:.2%} | {test:.2%} ({sd:.2%}) | {each} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
