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


def dtw_distances(train: list[np.ndarray], test: list[np.ndarray], window: float | None = None) -> np.ndarray:
    """(N_test, N_train): the DTW distance of each test clip to each training clip, aeon's (the
    distance of :func:`dtw`'s 1-NN), on clips (T, E) of any lengths; ``window``: aeon's Sakoe-Chiba
    band as a fraction of the length (None: the full window, as :func:`dtw`)."""
    from aeon.distances import dtw_pairwise_distance

    return dtw_pairwise_distance([x.T for x in test], [x.T for x in train], window=window)


def dtw_probs(
    distances: np.ndarray, labels: np.ndarray, num_classes: int, sharpness: float = 1.0
) -> np.ndarray:
    """(N, C) class probabilities from (N, M) distances to M training clips of classes ``labels``:

        d_c = min over the training clips j of class c of distances[:, j]
        p   = softmax(-d / tau),   tau = m / sharpness,
        m   = the clip's median of d_c over the classes that have clips

    tau makes p scale-free (multiplying every distance by a constant leaves p unchanged); a larger
    ``sharpness`` (> 0) gives a peakier p with the same argmax. A class with no training clip gets 0.
    argmax p is :func:`dtw`'s 1-NN answer (up to ties)."""
    if not sharpness > 0:
        raise ValueError(f"dtw_probs: sharpness must be > 0 (tau = median / sharpness), got {sharpness!r}")
    seen = np.isin(np.arange(num_classes), labels)  # (C,): the classes that have training clips
    d = np.full((len(distances), num_classes), np.inf)  # (N, C)
    for c in np.flatnonzero(seen):
        d[:, c] = distances[:, labels == c].min(axis=1)
    median = np.median(d[:, seen], axis=1, keepdims=True)  # (N, 1)
    tau = np.maximum(median / sharpness, np.finfo(float).tiny)  # (N, 1)
    z = np.where(seen, -d / tau, -np.inf)
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


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
