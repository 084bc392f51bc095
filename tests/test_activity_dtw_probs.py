"""The DTW class probabilities of ``benchmarks/activity_baselines.py`` (issue 28's three-way fusion,
measured by ``benchmarks/activity_sweep.py --fuse3``): aeon's distances equal a brute-force NumPy
DTW, and the probabilities are the softmax of minus each class's nearest distance over the median."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from activity_baselines import dtw, dtw_distances, dtw_probs

pytest.importorskip("aeon")


def brute_dtw(x: np.ndarray, y: np.ndarray) -> float:
    """DTW of clips x (T, E) and y (U, E): the least sum of squared Euclidean frame distances
    along a monotone path from (0, 0) to (T-1, U-1), full window."""
    T, U = len(x), len(y)
    D = np.full((T + 1, U + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(1, T + 1):
        for j in range(1, U + 1):
            cost = float(((x[i - 1] - y[j - 1]) ** 2).sum())
            D[i, j] = cost + min(D[i - 1, j], D[i, j - 1], D[i - 1, j - 1])
    return float(D[T, U])


def clips(rng, n: int) -> list[np.ndarray]:
    return [rng.normal(size=(int(rng.integers(3, 8)), 2)) for _ in range(n)]


def test_distances_equal_brute_force_dtw_on_clips_of_different_lengths():
    rng = np.random.default_rng(0)
    train, test = clips(rng, 5), clips(rng, 3)
    got = dtw_distances(train, test)
    want = np.array([[brute_dtw(x, y) for y in train] for x in test])
    assert got.shape == (3, 5)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_probs_are_the_softmax_of_the_nearest_distance_per_class_over_its_median():
    distances = np.array([[4.0, 1.0, 6.0, 2.0, 9.0], [3.0, 8.0, 0.5, 7.0, 2.0]])  # (N=2, M=5)
    labels = np.array([0, 1, 0, 2, 2])  # class 3 has no training clip
    p = dtw_probs(distances, labels, 4)
    for row, want_d in zip(p, ([4.0, 1.0, 2.0], [0.5, 8.0, 2.0])):
        z = np.exp(-np.array(want_d) / np.median(want_d))
        np.testing.assert_allclose(row, [*(z / z.sum()), 0.0], rtol=1e-12)
    np.testing.assert_allclose(dtw_probs(7.5 * distances, labels, 4), p, rtol=1e-12)  # scale-free
    assert list(p.argmax(axis=1)) == [1, 0]


@pytest.mark.parametrize("sharpness", [2.0, 4.0, 8.0])
def test_sharpness_divides_the_median_and_stays_scale_free(sharpness):
    distances = np.array([[4.0, 1.0, 6.0, 2.0, 9.0], [3.0, 8.0, 0.5, 7.0, 2.0]])  # (N=2, M=5)
    labels = np.array([0, 1, 0, 2, 2])  # class 3 has no training clip
    p = dtw_probs(distances, labels, 4, sharpness)
    for row, want_d in zip(p, ([4.0, 1.0, 2.0], [0.5, 8.0, 2.0])):
        z = np.exp(-np.array(want_d) * sharpness / np.median(want_d))  # tau = median / sharpness
        np.testing.assert_allclose(row, [*(z / z.sum()), 0.0], rtol=1e-12)
    np.testing.assert_allclose(dtw_probs(7.5 * distances, labels, 4, sharpness), p, rtol=1e-12)
    flat = dtw_probs(distances, labels, 4)
    assert np.all(p.max(axis=1) > flat.max(axis=1))  # peakier than sharpness 1
    np.testing.assert_array_equal(p.argmax(axis=1), flat.argmax(axis=1))  # the same 1-NN answer
    np.testing.assert_allclose(dtw_probs(distances, labels, 4, 1.0), flat, rtol=0)  # 1 is the default


@pytest.mark.parametrize("sharpness", [0.0, -2.0])
def test_a_sharpness_not_above_zero_is_refused(sharpness):
    with pytest.raises(ValueError, match="sharpness must be > 0"):
        dtw_probs(np.ones((1, 2)), np.array([0, 1]), 2, sharpness)


def test_the_most_probable_class_is_the_1nn_baselines_answer():
    rng = np.random.default_rng(1)
    train, test = clips(rng, 12), clips(rng, 6)
    labels = np.arange(12) % 3
    p = dtw_probs(dtw_distances(train, test), labels, 3)
    np.testing.assert_array_equal(p.argmax(axis=1), dtw(train, labels, test))
