"""What the logistic of the late fusion reads of a clip (:class:`rnnkit.tasks.activity.StatisticsConfig`,
issue 28): the distances between joints do not depend on the view, the statistics have the shapes
and values of their formula (the default unchanged), and a run saves what its logistic read, so that
the saved run answers as at training."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_activity import clip, msr  # noqa: F401 (module fixture: a folder of made-up skeleton files)

from rnnkit.cli import main
from rnnkit.tasks import activity
from rnnkit.tasks.activity.logistic import frame_extras
from rnnkit.tasks.activity.skeleton import PAIRS, joint_angles, joint_distances, rotation_y


def test_distances_are_each_pairs_and_do_not_depend_on_a_turn_or_a_move():
    P = clip(2, np.random.default_rng(3), 9)  # (9, 20, 3)
    d = joint_distances(P)  # (9, 190)
    assert d.shape == (9, 190) == (9, len(PAIRS))
    for k in (0, 57, 189):
        i, j = PAIRS[k]
        np.testing.assert_allclose(d[:, k], np.linalg.norm(P[:, i] - P[:, j], axis=-1), rtol=1e-12)
    turned = (P - [0.4, -0.2, 2.0]) @ rotation_y(1.1)  # moved and turned about the vertical axis
    np.testing.assert_allclose(joint_distances(turned), d, atol=1e-12)
    np.testing.assert_allclose(joint_angles(1.7 * turned), joint_angles(P), atol=1e-12)


def test_the_default_statistics_are_unchanged_and_the_extras_are_their_formula():
    rng = np.random.default_rng(0)
    P = clip(3, rng, 11)
    x = activity.features(P, activity.preset("fast").skeleton)  # (11, 177): joints first
    thirds = [x[:4].mean(0), x[4:8].mean(0), x[8:].mean(0)]  # np.array_split's 4, 4, 3 frames
    default = np.concatenate([x.mean(0), x.std(0), x.min(0), x.max(0), *thirds])
    np.testing.assert_array_equal(activity.statistics(x), default)
    np.testing.assert_array_equal(activity.statistics(x, activity.StatisticsConfig()), default)

    everything = activity.StatisticsConfig(angles=True, distances=True, pyramid=True)
    wide = frame_extras(x, everything)  # (11, 177 + 18 + 190)
    joints = x[:, :60].reshape(11, 20, 3).astype(np.float64)
    np.testing.assert_array_equal(wide, np.concatenate([x, joint_angles(joints), joint_distances(joints)], 1))
    s = activity.statistics(x, everything)
    E = 177 + 18 + 190
    assert s.shape == (13 * E,)
    halves, quarters = (
        [wide[:6].mean(0), wide[6:].mean(0)],
        [wide[a:b].mean(0) for a, b in ((0, 3), (3, 6), (6, 9), (9, 11))],
    )
    thirds = [wide[:4].mean(0), wide[4:8].mean(0), wide[8:].mean(0)]
    pyramid = np.concatenate(
        [wide.mean(0), wide.std(0), wide.min(0), wide.max(0), *halves, *thirds, *quarters]
    )
    np.testing.assert_allclose(s, pyramid, rtol=1e-12)
    for config, size in (
        ({"angles": True}, 7 * 195),
        ({"distances": True}, 7 * 367),
        ({"pyramid": True}, 13 * 177),
    ):
        assert activity.statistics(x, activity.StatisticsConfig(**config)).shape == (size,)
    assert activity.statistics(x[:2], activity.StatisticsConfig(pyramid=True)).shape == (
        13 * 177,
    )  # 2 frames
    with pytest.raises(ValueError, match="read a skeleton's 60 joint columns, got a clip of 6 features"):
        activity.statistics(x[:, :6], activity.StatisticsConfig(distances=True))


def test_the_saved_logistic_keeps_what_it_read_and_answers_as_sklearn_on_those_statistics(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    config = activity.preset("fast").skeleton
    labels = np.array([0, 2] * 6)
    fit = [activity.features(activity.normalise(clip(2 if k else 3, rng), config), config) for k in labels]
    clips = [activity.features(activity.normalise(clip(a, rng), config), config) for a in (2, 3, 2)]
    read = activity.StatisticsConfig(angles=True, distances=True, pyramid=True)
    activity.Logistic.fit(fit, labels, 3, read).save(tmp_path / "logistic.json")
    assert json.loads((tmp_path / "logistic.json").read_text())["statistics"] == {
        "angles": True, "distances": True, "pyramid": True
    }  # fmt: skip
    saved = activity.Logistic.load(tmp_path / "logistic.json")
    assert saved == activity.Logistic.fit(fit, labels, 3, read) and saved.statistics == read
    by_hand = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    by_hand.fit(np.stack([activity.statistics(x, read) for x in fit]), labels)
    expected = by_hand.predict_proba(np.stack([activity.statistics(x, read) for x in clips]))  # (3, 2)
    np.testing.assert_allclose(saved.probs(clips)[:, [0, 2]], expected, rtol=0, atol=1e-12)
    plain = activity.Logistic.fit(fit, labels, 3)
    assert not np.allclose(plain.probs(clips), saved.probs(clips), atol=1e-6)  # it reads the extras
    older = {k: v for k, v in dataclasses.asdict(plain).items() if k != "statistics"}
    (tmp_path / "older.json").write_text(json.dumps(older))  # a file saved before the option
    np.testing.assert_array_equal(
        activity.Logistic.load(tmp_path / "older.json").probs(clips), plain.probs(clips)
    )


def test_a_run_whose_logistic_reads_angles_and_distances_answers_as_at_training(msr, tmp_path, capsys):  # noqa: F811
    run = tmp_path / "fused"
    small = ["--set", "model.hidden_size=8", "--set", "model.projection=0", "--set", "validation_subject=3"]
    read = [
        "--set",
        "statistics.angles=true",
        "--set",
        "statistics.distances=true",
        "--set",
        "statistics.pyramid=true",
    ]
    args = ["activity", "train", "--data", str(msr), "--out", str(run), "--epochs", "2", *small, *read]
    assert main([*args, "--set", "fusion=0.3"]) == 0
    results = json.loads((run / "results.json").read_text())
    config, _, data = activity.predict.run_data(run)
    assert config.statistics == activity.StatisticsConfig(angles=True, distances=True, pyramid=True)
    refit = activity.Logistic.fit(list(data.train.features), data.train.labels, 8, config.statistics)
    assert activity.Logistic.load(run / "logistic.json") == refit
    scored = activity.evaluate(run, png=tmp_path / "confusion.png")
    assert scored["accuracy"] == results["test_accuracy"] and scored["loss"] == results["test_loss"]
    fused = activity.Predictor.from_run(run)
    rnn = np.stack([c for c, _ in activity.predict_frames(fused.models, data.test)])  # (12, 8)
    expected = 0.7 * rnn + 0.3 * refit.probs(list(data.test.features))
    np.testing.assert_allclose(np.stack([c for c, _ in fused.answer_clips(data.test)]), expected, atol=1e-12)
    baseline = activity.baseline(run)  # the run's split, reading what its logistic reads
    fit = [*data.train.features, *data.validation.features]
    y = np.concatenate([data.train.labels, data.validation.labels])
    probs = activity.logistic_probs(fit, y, list(data.test.features), 8, config.statistics)
    assert baseline["accuracy"] == float((probs.argmax(1) == data.test.labels).mean())


def test_a_multichannel_run_refuses_angles_and_distances(tmp_path, capsys):
    aeon_datasets = pytest.importorskip("aeon.datasets")
    folder = Path(aeon_datasets.__file__).parent / "data" / "BasicMotions"
    train, test = tmp_path / "train.ts", tmp_path / "test.ts"
    shutil.copy(folder / "BasicMotions_TRAIN.ts", train)
    shutil.copy(folder / "BasicMotions_TEST.ts", test)
    args = ["activity", "train", "--ts", str(train), "--test", str(test), "--out", str(tmp_path / "r")]
    assert main([*args, "--epochs", "1", "--set", "statistics.distances=true", "--set", "fusion=0.5"]) != 0
    error = capsys.readouterr().err
    assert "statistics.angles and statistics.distances read a skeleton's joints" in error
    assert not (tmp_path / "r" / "logistic.json").exists()
