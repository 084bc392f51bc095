"""The DTW class probabilities of :mod:`rnnkit.tasks.activity.dtw` (issue 28's three-way fusion,
measured by ``benchmarks/activity_sweep.py --fuse3``): aeon's distances equal a brute-force NumPy
DTW, and the probabilities are the softmax of minus each class's nearest distance over the median."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from activity_baselines import dtw
from test_activity import msr  # noqa: F401 (module fixture: a folder of made-up skeleton files)

from rnnkit.cli import main
from rnnkit.errors import ConfigError
from rnnkit.tasks import activity
from rnnkit.tasks.activity.dtw import DTWReference, dtw_distances, dtw_probs

pytest.importorskip("aeon")


def brute_dtw(x: np.ndarray, y: np.ndarray) -> float:
    """DTW of clips x (T, E) and y (U, E): the least sum of squared Euclidean frame distances
    along a monotone path from (0, 0) to (T-1, U-1), full window."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
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


# -- the product: a run that fuses DTW (dtw > 0, --preset fused3) ------------------------------------


def test_the_saved_reference_reads_back_without_pickle_and_answers_the_formula(tmp_path):
    rng = np.random.default_rng(2)
    reference = DTWReference(clips(rng, 7), np.array([0, 1, 2, 0, 1, 2, 0]), 4)
    reference.save(tmp_path / "dtw.npz")
    with np.load(tmp_path / "dtw.npz", allow_pickle=False) as saved:  # plain arrays only
        assert all(saved[k].dtype != object for k in saved.files)
    back = DTWReference.load(tmp_path / "dtw.npz")
    assert back.num_classes == 4 and back.labels.tolist() == reference.labels.tolist()
    for x, y in zip(back.clips, reference.clips, strict=True):
        np.testing.assert_array_equal(x, y)
    test = clips(rng, 3)
    distances = np.array([[brute_dtw(x, y) for y in reference.clips] for x in test])  # (3, 7)
    for s in (1.0, 4.0):
        d = np.stack([distances[:, reference.labels == c].min(axis=1) for c in range(3)], axis=1)  # (3, 3)
        z = np.exp(-d * s / np.median(d, axis=1, keepdims=True))
        want = np.concatenate([z / z.sum(axis=1, keepdims=True), np.zeros((3, 1))], axis=1)
        np.testing.assert_allclose(back.probs(test, s), want, rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("damage", [b"not an npz", "missing"])
def test_a_damaged_reference_is_a_checkpoint_error_naming_it(tmp_path, damage):
    from rnnkit.train.checkpoint import CheckpointError

    path = tmp_path / "dtw.npz"
    if damage == "missing":
        np.savez(path, frames=np.zeros((3, 2)), lengths=np.array([3]))  # no labels
    else:
        path.write_bytes(damage)
    with pytest.raises(CheckpointError, match="dtw.npz is not a saved DTW reference"):
        DTWReference.load(path)


def test_the_fused3_preset_and_the_weights_refused():
    config = activity.preset("fused3")
    assert (config.fusion, config.dtw, config.dtw_sharpness) == (0.25, 0.5, 4.0)
    assert config.ensemble and config.validation_subject == -1  # the fused preset's members
    with pytest.raises(ConfigError, match=r"dtw \(DTW's weight\) must be in \[0, 1 - fusion\)"):
        activity.ActivityConfig(fusion=0.5, dtw=0.5)
    with pytest.raises(ConfigError, match="dtw_sharpness must be > 0, got 0"):
        activity.ActivityConfig(dtw=0.2, dtw_sharpness=0)


def by_hand(run: Path, data, models, fusion: float, dtw_weight: float, sharpness: float) -> np.ndarray:
    """(N, C): the test clips' three-way answer from its parts, each computed here: the models' mean,
    the logistic refitted on the training clips, DTW by brute force against the kept clips."""
    reference = DTWReference.load(run / "dtw.npz")
    rnn = np.stack([c for c, _ in activity.predict_frames(models, data.test)])  # (N, C)
    test = list(data.test.features)
    logistic = activity.Logistic.fit(list(data.train.features), data.train.labels, 8).probs(test)  # (N, C)
    distances = np.array([[brute_dtw(x, y) for y in reference.clips] for x in test])  # (N, M)
    p_dtw = dtw_probs(distances, reference.labels, 8, sharpness)  # the formula, tested above
    return (1 - fusion - dtw_weight) * rnn + fusion * logistic + dtw_weight * p_dtw


def test_a_three_way_run_answers_its_parts_weighted_in_evaluate_predict_and_files(msr, tmp_path):  # noqa: F811
    """dtw=0.5, fusion=0.2, dtw_sharpness=4: the run keeps its training clips (dtw.npz); evaluate
    gives the test scores of training, every answer is 0.3 RNN + 0.2 logistic + 0.5 DTW (the frames
    the RNN's alone), and a file's answer is its clip's."""
    run = tmp_path / "fused3"
    small = ["--set", "model.hidden_size=8", "--set", "model.projection=0", "--set", "validation_subject=3"]
    three = ["--set", "fusion=0.2", "--set", "dtw=0.5", "--set", "dtw_sharpness=4"]
    args = ["activity", "train", "--data", str(msr), "--out", str(run), "--epochs", "2", *small, *three]
    assert main(args) == 0
    results = json.loads((run / "results.json").read_text())
    _, _, data = activity.predict.run_data(run)
    kept = DTWReference.load(run / "dtw.npz")
    assert kept.labels.tolist() == data.train.labels.tolist()  # the training clips, not others
    for x, y in zip(kept.clips, data.train.features, strict=True):
        np.testing.assert_array_equal(x, y)
    scored = activity.evaluate(run, png=tmp_path / "confusion.png")
    assert scored["accuracy"] == results["test_accuracy"] and scored["loss"] == results["test_loss"]
    fused = activity.Predictor.from_run(run)
    expected = by_hand(run, data, fused.models, 0.2, 0.5, 4.0)  # (12, 8)
    answers = fused.answer_clips(data.test)
    np.testing.assert_allclose(np.stack([c for c, _ in answers]), expected, atol=1e-12)
    two_way = activity.Predictor(fused.models, fused.adapter, fused.config, fused.logistic)
    assert not np.allclose(np.stack([c for c, _ in two_way.answer_clips(data.test)]), expected, atol=1e-3)
    for (_, frames), (_, own) in zip(answers, two_way.answer_clips(data.test)):
        np.testing.assert_array_equal(frames, own)
    answer = fused([msr / data.names[data.splits[0].test[0]]])[0]  # the first test clip's file
    np.testing.assert_allclose(list(answer["probabilities"].values()), expected[0], atol=1e-7)


def test_a_three_way_ensemble_keeps_every_training_clip_and_scores_as_evaluate(msr, tmp_path):  # noqa: F811
    run = tmp_path / "fused3-seeds"
    small = ["--set", "model.hidden_size=8", "--set", "model.projection=0", "--set", "ensemble=true"]
    seeded = ["--set", "validation_subject=-1", "--set", "members=2", "--set", "train.monitor=loss"]
    three = ["--set", "fusion=0.25", "--set", "dtw=0.5", "--set", "dtw_sharpness=4"]
    args = ["activity", "train", "--data", str(msr), "--out", str(run), "--epochs", "1", *small, *seeded]
    assert main([*args, *three]) == 0
    results = json.loads((run / "results.json").read_text())
    _, _, data = activity.predict.run_data(run)
    assert len(DTWReference.load(run / "dtw.npz").clips) == len(data.train) == 13  # every training clip
    scored = activity.evaluate(run, png=tmp_path / "confusion.png")
    assert scored["accuracy"] == results["test_accuracy"] and scored["loss"] == results["test_loss"]
    fused = activity.Predictor.from_run(run)
    expected = by_hand(run, data, fused.models, 0.25, 0.5, 4.0)
    np.testing.assert_allclose(np.stack([c for c, _ in fused.answer_clips(data.test)]), expected, atol=1e-12)
