"""The scikit-learn baselines of docs/speech.md: MFCC statistics + logistic regression / RBF SVM on
FSDD's split and on each leave-one-speaker-out fold, and segment-at-silences + the SVM on the
digit strings the strings run tests on (the same seed, so the same strings).

    python benchmarks/speech_baselines.py --data ../shared/data/fsdd [--json runs/speech-baselines.json]

Prints a Markdown table; takes about a minute on 2 cores (most of it the features).
"""

from __future__ import annotations

import argparse
import json
import time

import jiwer
import numpy as np

from rnnkit.tasks.speech import data as corpora
from rnnkit.tasks.speech import task as speech
from rnnkit.tasks.speech.baselines import fit_classifier, mfcc_statistics, segment


def strings_error(corpus, train, test, features, config) -> dict:
    model = fit_classifier(features[train], corpus.digits[train], "svm")
    strings = corpora.make_strings(corpus, test, config.test_strings, config.split_seed + 2)
    hypotheses, right_count = [], 0
    for wave, digits in zip(strings.waves, strings.digits):
        pieces = segment(wave, corpora.FSDD_RATE)
        right_count += len(pieces) == len(digits)
        x = [mfcc_statistics(wave[a:b], config.features) for a, b in pieces]
        hypotheses.append(" ".join(str(d) for d in model.predict(np.stack(x))) if x else "")
    references = [" ".join(map(str, d)) for d in strings.digits]
    return {
        "der": float(jiwer.wer(references, hypotheses)),
        "segment_count_right": right_count / len(references),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/fsdd")
    parser.add_argument("--json")
    args = parser.parse_args()
    start = time.perf_counter()
    corpus = corpora.read_fsdd(args.data)
    config = speech.preset("strings")
    features = np.stack([mfcc_statistics(w, config.features) for w in corpus.waves])  # (N, 104)
    results = {}
    splits = {"dataset split": corpus.dataset_split()}
    splits.update({f"held out: {s}": corpus.speaker_split(s) for s in corpus.speaker_names})
    for name, (train, test) in splits.items():
        row = {}
        for kind in ("logistic", "svm"):
            model = fit_classifier(features[train], corpus.digits[train], kind)
            row[kind] = float((model.predict(features[test]) == corpus.digits[test]).mean())
        row.update(strings_error(corpus, train, test, features, config))
        results[name] = row
    print(
        "| test part | MFCC stats + logistic | MFCC stats + SVM | strings: segment + SVM, DER "
        "| segment count right |"
    )
    print("|---|---|---|---|---|")
    for name, row in results.items():
        print(
            f"| {name} | {row['logistic']:.2%} | {row['svm']:.2%} | {row['der']:.2%} | "
            f"{row['segment_count_right']:.1%} |"
        )
    folds = [row for name, row in results.items() if name.startswith("held out")]
    mean = {k: float(np.mean([row[k] for row in folds])) for k in ("logistic", "svm", "der")}
    print(f"| speaker mean | {mean['logistic']:.2%} | {mean['svm']:.2%} | {mean['der']:.2%} | |")
    print(f"\n{time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"splits": results, "speaker_mean": mean}, f, indent=1)


if __name__ == "__main__":
    main()
