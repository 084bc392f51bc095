"""The baselines of docs/activity.md (issue 28) on MSR Action3D's cross-subject split: per-feature
statistics + logistic regression (``rnnkit activity baseline``'s model) and 1-nearest-neighbour with
dynamic time warping (aeon's ``KNeighborsTimeSeriesClassifier``, full window), on the preset's
normalised skeletons. Neither has a setting chosen here. For each: the mean accuracy over the five
training subjects held out one at a time (trained on the other four, as the sweep validates), and
the test accuracy (trained on all five training subjects, scored on subjects 2, 4, 6, 8, 10).
From the repository root, one thread, under the CPU lock:

    OMP_NUM_THREADS=1 flock /tmp/rnnkit-cpu.lock .venv/bin/python benchmarks/activity_baselines.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rnnkit.tasks import activity
from rnnkit.tasks.activity.data import TRAIN_SUBJECTS, read_msr
from rnnkit.tasks.activity.predict import statistics


def logistic(train: list[np.ndarray], labels: np.ndarray, test: list[np.ndarray]) -> np.ndarray:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    model.fit(np.stack([statistics(x) for x in train]), labels)
    return model.predict(np.stack([statistics(x) for x in test]))


def dtw(train: list[np.ndarray], labels: np.ndarray, test: list[np.ndarray]) -> np.ndarray:
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

    model = KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw")
    model.fit([x.T for x in train], labels)  # each (E, T): aeon's channels-first, lengths may differ
    return model.predict([x.T for x in test])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/msr_action3d")
    parser.add_argument("--subsets", nargs="+", default=["AS1", "AS2", "AS3", "all"])
    parser.add_argument("--no-test", action="store_true", help="the held-out training subjects only")
    args = parser.parse_args()
    config = activity.preset("fast").skeleton
    print(f"{'model':10s}{'subset':>8s}{'validation':>12s}{'test':>9s}{'seconds':>9s}")
    for subset in args.subsets:
        corpus = read_msr(args.data, subset)
        x = [activity.features(activity.normalise(P, config), config) for P in corpus.skeletons]
        y, subjects = corpus.actions, corpus.subjects
        for name, classify in (("logistic", logistic), ("1-NN DTW", dtw)):
            start = time.perf_counter()
            held = []
            for v in TRAIN_SUBJECTS:
                fit = np.flatnonzero(np.isin(subjects, TRAIN_SUBJECTS) & (subjects != v))
                score = np.flatnonzero(subjects == v)
                held.append(np.mean(classify([x[i] for i in fit], y[fit], [x[i] for i in score]) == y[score]))
            test_accuracy = float("nan")
            if not args.no_test:
                fit = np.flatnonzero(np.isin(subjects, TRAIN_SUBJECTS))
                score = np.flatnonzero(~np.isin(subjects, TRAIN_SUBJECTS))
                test_accuracy = np.mean(
                    classify([x[i] for i in fit], y[fit], [x[i] for i in score]) == y[score]
                )
            seconds = time.perf_counter() - start
            print(
                f"{name:10s}{subset:>8s}{np.mean(held):12.2%}{test_accuracy:9.2%}{seconds:9.1f}", flush=True
            )


if __name__ == "__main__":
    main()
