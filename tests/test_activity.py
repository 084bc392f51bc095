"""Activity recognition (issue 28) on made-up skeleton files and aeon's BasicMotions: the MSR reader
and its reports, the cross-subject split, the skeleton adapter's invariances, augmentation, the
clip/frame answers alone == padded in a batch, and the commands end to end."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.data import DataError
from rnnkit.data.multichannel import read_ts
from rnnkit.data.sequences import FeatureSequences
from rnnkit.errors import ConfigError
from rnnkit.models.sequence import SequenceModel, SequenceModelConfig
from rnnkit.tasks import activity
from rnnkit.tasks.activity.data import BONES, SUBSETS, read_skeleton
from rnnkit.tasks.activity.parts import PARTS, PartModel, part_columns
from rnnkit.tasks.activity.skeleton import (
    ANGLES,
    HANDS,
    HIP,
    LEFT_HIP,
    RIGHT_HIP,
    along_path,
    feature_size,
    resample,
    rotation_y,
)
from rnnkit.tasks.activity.task import build_model

POSE = np.array(  # a standing body, metres, from a20_s02_e01's first frame (x across, y up, z depth)
    [[-0.37, 0.37, 2.67], [-0.01, 0.36, 2.68], [-0.19, 0.41, 2.58], [-0.20, 0.21, 2.77],
     [-0.34, -0.01, 2.64], [-0.05, -0.02, 2.63], [-0.19, 0.00, 2.76], [-0.43, 0.11, 2.67],
     [0.03, 0.09, 2.68], [-0.41, -0.17, 2.62], [0.02, -0.19, 2.62], [-0.41, -0.24, 2.63],
     [0.02, -0.26, 2.61], [-0.31, -0.59, 2.70], [-0.07, -0.58, 2.70], [-0.35, -1.00, 2.79],
     [-0.05, -1.01, 2.74], [-0.36, -1.04, 2.63], [-0.06, -1.02, 2.57], [-0.18, 0.66, 2.55]]
)  # fmt: skip


def clip(action: int, rng: np.random.Generator, T: int | None = None) -> np.ndarray:
    """(T, 20, 3): the pose with one hand waving (action 2: the right hand up and down; any other:
    the left hand sideways), turned, moved and scaled at random, as a camera would see a subject."""
    T = T or int(rng.integers(12, 25))
    phase = np.sin(np.linspace(0, 2 * np.pi, T))[:, None]  # (T, 1)
    P = np.repeat(POSE[None], T, axis=0).copy()  # (T, 20, 3)
    if action == 2:
        P[:, [9, 11], 1] += 0.5 * phase
    else:
        P[:, [10, 12], 0] += 0.4 * phase
    P = (P - POSE[HIP]) @ rotation_y(rng.uniform(-0.5, 0.5)) * rng.uniform(0.8, 1.2)
    return P + POSE[HIP] + rng.normal(0, 0.01, size=P.shape) + [rng.uniform(-0.3, 0.3), 0, 0]


def write_clip(folder: Path, action: int, subject: int, rep: int, P: np.ndarray) -> Path:
    rows = np.concatenate([P, np.ones((*P.shape[:2], 1))], axis=2).reshape(-1, 4)  # (T*20, 4)
    path = folder / f"a{action:02d}_s{subject:02d}_e{rep:02d}_skeleton3D.txt"
    np.savetxt(path, rows, fmt="%.6f")
    return path


@pytest.fixture(scope="module")
def msr(tmp_path_factory):
    """AS1's actions 2 and 3, subjects 1-4, three repetitions; one all-zero file, one malformed, and
    one clip with lost frames."""
    folder = tmp_path_factory.mktemp("msr")
    rng = np.random.default_rng(0)
    for action in (2, 3):
        for subject in range(1, 5):
            for rep in (1, 2, 3):
                write_clip(folder, action, subject, rep, clip(action, rng))
    write_clip(folder, 3, 4, 4, np.zeros((10, 20, 3)))
    (folder / "a03_s02_e04_skeleton3D.txt").write_text("1 2 3\n")
    lost = clip(2, rng, 20)
    lost[5:8] = 0
    write_clip(folder, 2, 1, 4, lost)
    write_clip(folder, 1, 1, 1, clip(1, rng))  # action 1 is in AS2, not AS1
    return folder


def test_reader_reports_bad_files_by_name_and_drops_lost_frames(msr):
    data = activity.read_msr(msr, "AS1")
    assert dict(data.skipped).keys() == {"a03_s04_e04_skeleton3D.txt", "a03_s02_e04_skeleton3D.txt"}
    assert "no body was tracked" in dict(data.skipped)["a03_s04_e04_skeleton3D.txt"]
    assert data.dropped_frames == {"a02_s01_e04_skeleton3D.txt": 3}
    assert len(data.skeletons) == 25 and set(data.actions) == {2, 3}  # action 1 is not in AS1
    assert data.skeletons[data.names.index("a02_s01_e04_skeleton3D.txt")].shape == (17, 20, 3)
    np.testing.assert_allclose(read_skeleton(msr / "a02_s01_e01_skeleton3D.txt")[..., 3], 1.0)


def test_subsets_are_li_et_al_2010():
    assert len(set(SUBSETS["AS1"]) | set(SUBSETS["AS2"]) | set(SUBSETS["AS3"])) == 20
    assert set(SUBSETS["AS1"]) & set(SUBSETS["AS3"]) == {6, 18, 20}
    assert [activity.ACTIONS[a - 1] for a in SUBSETS["AS2"][:2]] == ["high arm wave", "hand catch"]


def test_cross_subject_split():
    subjects = np.repeat(np.arange(1, 11), 4)
    labels = np.tile([0, 1], 20)
    split = activity.cross_subject(subjects, labels, (9,))[0]
    assert set(subjects[split.test]) == {2, 4, 6, 8, 10}
    assert set(subjects[split.validation]) == {9} and set(subjects[split.train]) == {1, 3, 5, 7}
    with pytest.raises(DataError, match=r"validation subject\(s\) \[9\] have no clips"):
        activity.cross_subject(subjects[subjects < 9], labels[subjects < 9], (9,))
    tenth = activity.cross_subject(subjects, labels, ())[0]
    assert set(subjects[np.concatenate([tenth.train, tenth.validation])]) == {1, 3, 5, 7, 9}
    assert len(tenth.validation) == 2 and set(labels[tenth.validation]) == {0, 1}


def test_a_turned_moved_scaled_skeleton_normalises_to_the_same_one():
    rng = np.random.default_rng(1)
    P = clip(2, rng, 15)
    config = activity.SkeletonConfig()
    moved = ((P - 1.0) @ rotation_y(0.7)) * 1.7 + [0.3, -0.2, 1.1]
    np.testing.assert_allclose(activity.normalise(moved, config), activity.normalise(P, config), atol=1e-12)
    Q = activity.normalise(P, config)
    d = (Q[:, LEFT_HIP] - Q[:, RIGHT_HIP]).mean(axis=0)
    assert d[0] > 0 and abs(d[2]) < 1e-12  # the hips' line on the x axis
    np.testing.assert_allclose(Q[:, HIP], 0, atol=1e-12)  # every frame about its hip centre
    assert np.linalg.norm(Q[:, 2] - Q[:, HIP], axis=-1).mean() == pytest.approx(1.0)  # unit torso
    raw = activity.normalise(P, activity.SkeletonConfig(centre="none", scale=False, rotate=False))
    np.testing.assert_array_equal(raw, P)


def test_augmentation_is_seeded_and_off_means_unchanged():
    P = activity.normalise(clip(3, np.random.default_rng(2), 20), activity.SkeletonConfig())
    on = activity.AugmentConfig(rotate_deg=30, scale=0.2, stretch=0.3)
    a = activity.augment(P, on, np.random.default_rng(5))
    b = activity.augment(P, on, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, activity.augment(P, on, np.random.default_rng(6)))
    np.testing.assert_array_equal(activity.augment(P, activity.AugmentConfig(), np.random.default_rng(5)), P)
    ramp = np.arange(5.0)[:, None] * [1.0, 2.0]  # (5, 2), linear in time
    np.testing.assert_allclose(resample(ramp, 9), np.linspace(0, 4, 9)[:, None] * [1.0, 2.0])
    turned = activity.augment(P, activity.AugmentConfig(rotate_deg=30), np.random.default_rng(0))
    np.testing.assert_allclose(turned[..., 1], P[..., 1])  # about the vertical axis: heights kept
    np.testing.assert_allclose(np.linalg.norm(turned, axis=-1), np.linalg.norm(P, axis=-1))


def test_the_mirror_swaps_left_and_right_and_its_image_of_a_mirrored_body_is_that_body():
    P = activity.normalise(clip(2, np.random.default_rng(3), 12), activity.SkeletonConfig())
    always = activity.AugmentConfig(mirror=1.0)
    M = activity.augment(P, always, np.random.default_rng(0))
    right_hand, left_hand = activity.JOINTS.index("right hand"), activity.JOINTS.index("left hand")
    np.testing.assert_allclose(M[:, left_hand], P[:, right_hand] * [-1, 1, 1])  # the waving hand moves over
    np.testing.assert_allclose(M[:, HIP], P[:, HIP] * [-1, 1, 1])  # the middle of the body stays
    d = (M[:, LEFT_HIP] - M[:, RIGHT_HIP]).mean(axis=0)
    assert d[0] > 0  # still facing the camera: the hips' line keeps its direction
    np.testing.assert_allclose(activity.augment(M, always, np.random.default_rng(0)), P)  # twice: itself
    never = activity.augment(P, activity.AugmentConfig(mirror=0.0, noise=0.0), np.random.default_rng(0))
    np.testing.assert_array_equal(never, P)
    noisy = activity.augment(P, activity.AugmentConfig(noise=0.05), np.random.default_rng(0))
    assert np.std(noisy - P) == pytest.approx(0.05, rel=0.1)


def test_bone_features_are_the_second_joint_minus_the_first_of_each_bone():
    P = np.random.default_rng(4).normal(size=(6, 20, 3))
    config = activity.SkeletonConfig(velocity=True, bones=True)
    x = activity.features(P, config)  # (T, 60 + 60 + 57)
    assert x.shape == (6, feature_size(config)) == (6, 177)
    neck, right_shoulder = activity.JOINTS.index("neck"), activity.JOINTS.index("right shoulder")
    k = BONES.index((neck, right_shoulder))
    np.testing.assert_allclose(x[:, 120 + 3 * k : 123 + 3 * k], P[:, right_shoulder] - P[:, neck], rtol=1e-6)
    np.testing.assert_array_equal(x[:, :120], activity.features(P, activity.SkeletonConfig(velocity=True)))


def slower(P: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same path at another speed: 0-3 frames inserted by linear interpolation after each frame
    (at random points of the step) and some frames held (repeated), as a slower, halting subject."""
    frames = []
    for t in range(len(P) - 1):
        frames += [P[t]] * int(rng.integers(1, 3))  # held once or twice
        frames += [P[t] + w * (P[t + 1] - P[t]) for w in np.sort(rng.uniform(0, 1, rng.integers(0, 4)))]
    return np.stack([*frames, P[-1], P[-1]])


def test_resampling_by_path_length_is_the_same_for_the_path_at_another_speed():
    rng = np.random.default_rng(6)
    P = clip(2, rng, 15)
    Q = slower(P, rng)
    assert len(Q) > len(P) + 10
    for path in ("hands", "joints"):
        config = activity.SkeletonConfig(velocity=True, bones=True, arc_length=24, path=path)
        x = activity.features(activity.normalise(P, config), config)
        assert x.shape == (24, feature_size(config)) == (24, 177)
        np.testing.assert_allclose(activity.features(activity.normalise(Q, config), config), x, atol=1e-5)
    plain = activity.SkeletonConfig()
    assert activity.normalise(Q, plain).shape == (len(Q), 20, 3)  # off: the clip's own frames
    # the hands' summed path length between two resampled points is the same wherever they are
    line = np.zeros((4, 20, 3))
    line[:, HANDS[0], 0] = [0.0, 0.1, 0.4, 1.0]  # one hand along x: slow, then fast
    R = along_path(line, 6, HANDS)
    np.testing.assert_allclose(R[:, HANDS[0], 0], np.linspace(0, 1, 6), atol=1e-12)
    still = np.repeat(POSE[None], 5, axis=0)  # the hands never move: evenly in time
    np.testing.assert_allclose(along_path(still, 9, HANDS), resample(still, 9))
    for bad in (1, -2):
        with pytest.raises(ConfigError, match="arc_length must be 0"):
            activity.SkeletonConfig(arc_length=bad)
    with pytest.raises(ConfigError, match="path must be one of hands, joints, got 'feet'"):
        activity.SkeletonConfig(path="feet")


def test_directions_of_motion_do_not_depend_on_speed_and_angles_on_the_view():
    t = np.arange(8.0)[:, None]  # (T, 1)
    P = np.repeat(POSE[None], 8, axis=0).copy()
    config = activity.SkeletonConfig(direction=True, path="joints", direction_eps=0.01)
    for speed in (0.2, 1.0):
        P[:, HANDS[0]] = POSE[HANDS[0]] + speed * t * [0.6, 0.8, 0.0]  # a straight line
        x = activity.features(P, config)  # (T, 60 + 60)
        assert x.shape == (8, feature_size(config)) == (8, 120)
        hand = x[1:, 60 + 3 * HANDS[0] : 63 + 3 * HANDS[0]]  # its direction of motion
        np.testing.assert_allclose(hand, np.tile([0.6, 0.8, 0.0], (7, 1)), atol=2e-3)
    np.testing.assert_array_equal(x[0, 60:], 0)  # nothing has moved at t = 1
    np.testing.assert_allclose(x[:, 60 + 3 * HANDS[1] : 63 + 3 * HANDS[1]], 0)  # a still hand
    hands = activity.SkeletonConfig(direction=True, direction_eps=0.01)  # the default path: the hands
    assert feature_size(hands) == 66
    np.testing.assert_array_equal(
        activity.features(P, hands)[:, 60:63], x[:, 60 + 3 * HANDS[0] : 63 + 3 * HANDS[0]]
    )
    with pytest.raises(ConfigError, match="direction_eps must be > 0"):
        activity.SkeletonConfig(direction_eps=0.0)
    angles = activity.SkeletonConfig(angles=True)
    assert len(ANGLES) == 18 and feature_size(angles) == 78
    Q = clip(3, np.random.default_rng(7), 10)
    a = activity.features(Q, angles)[:, 60:]  # (T, 18) cosines
    turned = ((Q - 1.0) @ rotation_y(0.9)) * 1.3
    np.testing.assert_allclose(activity.features(turned, angles)[:, 60:], a, atol=1e-6)
    elbow = activity.JOINTS.index("right elbow")
    k = next(i for i, (into, _) in enumerate(ANGLES) if BONES[into][1] == elbow)
    upper, fore = Q[:, 0] - Q[:, elbow], Q[:, activity.JOINTS.index("right wrist")] - Q[:, elbow]
    cos = (upper * fore).sum(-1) / np.linalg.norm(upper, axis=-1) / np.linalg.norm(fore, axis=-1)
    np.testing.assert_allclose(a[:, k], cos, rtol=1e-5)
    for path in ("hands", "joints"):
        everything = activity.SkeletonConfig(
            velocity=True, bones=True, direction=True, angles=True, path=path
        )
        columns = part_columns(everything)
        assert sorted(c for part in columns for c in part) == list(range(feature_size(everything)))
        assert activity.features(Q, everything).shape == (10, feature_size(everything))
    np.testing.assert_array_equal(
        activity.features(Q, everything)[:, :177],
        activity.features(Q, activity.SkeletonConfig(velocity=True, bones=True)),
    )  # the new columns come after the old ones


def test_clip_and_frame_answers_equal_alone_and_padded_in_a_batch():
    torch.manual_seed(0)
    config = SequenceModelConfig(input_size=6, hidden_size=5, head="frame", num_classes=3, projection=4)
    model = SequenceModel(config).double()
    rng = np.random.default_rng(0)
    clips = [rng.normal(size=(n, 6)) for n in (7, 3, 11, 1)]
    labels = np.array([0, 2, 1, 2])
    data = FeatureSequences(clips, labels, dtype=np.float64)
    together = activity.predict_frames([model], data)
    for x, (clip_p, frames_p) in zip(clips, together):
        alone_frames = torch.softmax(model(torch.from_numpy(x)[None]), dim=-1)[0].detach().numpy()  # (T, C)
        np.testing.assert_allclose(frames_p, alone_frames, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(clip_p, alone_frames.mean(axis=0), rtol=1e-12, atol=1e-14)
    batch = data.collate(np.arange(4))
    loss, metrics, count = activity.step(model, batch)
    alone = [activity.step(model, data.collate(np.array([i])))[0].item() for i in range(4)]
    assert loss.item() == pytest.approx(np.mean(alone), rel=1e-12)  # each clip weighed alike
    assert count == 4 and metrics["accuracy"] == sum(
        int(c.argmax() == y) for (c, _), y in zip(together, labels)
    )


def test_the_body_part_model_reads_each_part_and_answers_alike_alone_and_padded():
    skeleton = activity.SkeletonConfig(velocity=True, bones=True)
    columns = part_columns(skeleton)
    assert sorted(c for part in columns for c in part) == list(range(feature_size(skeleton)))
    right_arm = columns[list(PARTS).index("right arm")]
    hand = activity.JOINTS.index("right hand")
    assert {3 * hand, 60 + 3 * hand} <= set(right_arm) and 3 * activity.JOINTS.index("head") not in right_arm
    torch.manual_seed(0)
    config = SequenceModelConfig(input_size=177, hidden_size=5, head="frame", num_classes=3, dropout=0.2)
    model = PartModel(config, columns, 3).double().eval()
    rng = np.random.default_rng(0)
    clips = [rng.normal(size=(n, 177)) for n in (6, 2, 9)]
    together = activity.predict_frames([model], FeatureSequences(clips, np.zeros(3, int), dtype=np.float64))
    for x, (clip_p, frames_p) in zip(clips, together):
        alone = torch.softmax(model(torch.from_numpy(x)[None]), dim=-1)[0].detach().numpy()  # (T, C)
        np.testing.assert_allclose(frames_p, alone, atol=1e-12)
        np.testing.assert_allclose(clip_p, alone.mean(axis=0), atol=1e-12)
    x = torch.from_numpy(clips[0])[None]
    with pytest.raises(ValueError, match=r"expects x of shape \(B, T, 177\)"):
        model(x[..., :60])


@pytest.mark.parametrize("present", [(0, 2, 3), (1, 3)])
def test_the_saved_logistic_gives_sklearns_probabilities_and_zero_for_a_class_it_never_saw(tmp_path, present):
    """The baseline kept as numbers (``logistic.json``, read back) answers as the scikit-learn
    pipeline fitted by hand on the clips' statistics, its columns at the labels' indices; with two
    classes (one sigmoid) as with three (softmax)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    labels = np.array(present * 6)
    fit = [rng.normal(k, 1.0, size=(int(rng.integers(5, 12)), 4)) for k in labels]  # each (T, 4)
    clips = [rng.normal(1.5, 1.0, size=(int(rng.integers(2, 12)), 4)) for _ in range(5)]
    activity.Logistic.fit(fit, labels, 4).save(tmp_path / "logistic.json")
    probs = activity.Logistic.load(tmp_path / "logistic.json").probs(clips)  # (5, 4)
    by_hand = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    by_hand.fit(np.stack([activity.statistics(x) for x in fit]), labels)
    expected = by_hand.predict_proba(np.stack([activity.statistics(x) for x in clips]))  # (5, K)
    np.testing.assert_allclose(probs[:, list(present)], expected, rtol=0, atol=1e-12)
    absent = [k for k in range(4) if k not in present]
    assert (probs[:, absent] == 0).all()
    assert not np.allclose(expected, expected[0])  # the clips get different answers
    np.testing.assert_array_equal(activity.logistic_probs(fit, labels, clips, 4), probs)


@pytest.mark.parametrize("text", ["{not json", '{"mean": [0.0]}', "[1, 2]"])
def test_a_damaged_logistic_file_is_a_checkpoint_error_naming_it(tmp_path, text):
    from rnnkit.train.checkpoint import CheckpointError

    (tmp_path / "logistic.json").write_text(text)
    with pytest.raises(CheckpointError, match="logistic.json is not a saved logistic baseline"):
        activity.Logistic.load(tmp_path / "logistic.json")


def test_a_fused_run_answers_the_weighted_mean_of_its_rnn_and_its_logistic_as_at_training(msr, tmp_path):
    """fusion=0.3: the logistic is fitted on the run's training clips; evaluate gives the test
    scores of training, and every answer's clip probabilities are 0.7 RNN + 0.3 logistic (the
    frames the RNN's alone)."""
    run = tmp_path / "fused"
    small = ["--set", "model.hidden_size=8", "--set", "model.projection=0", "--set", "validation_subject=3"]
    args = ["activity", "train", "--data", str(msr), "--out", str(run), "--epochs", "2", *small]
    assert main([*args, "--set", "fusion=0.3"]) == 0
    results = json.loads((run / "results.json").read_text())
    _, _, data = activity.predict.run_data(run)
    refit = activity.Logistic.fit(list(data.train.features), data.train.labels, 8)
    assert activity.Logistic.load(run / "logistic.json") == refit  # the training clips', not others'
    scored = activity.evaluate(run, png=tmp_path / "confusion.png")
    assert scored["accuracy"] == results["test_accuracy"] and scored["loss"] == results["test_loss"]
    fused = activity.Predictor.from_run(run)
    alone = activity.Predictor(fused.models, fused.adapter, fused.config)  # no logistic: the RNN's
    rnn = np.stack([clip for clip, _ in alone.answer_clips(data.test)])  # (12, 8)
    logistic = refit.probs(list(data.test.features))  # (12, 8)
    answers = fused.answer_clips(data.test)
    np.testing.assert_allclose(np.stack([c for c, _ in answers]), 0.7 * rnn + 0.3 * logistic, atol=1e-12)
    assert not np.allclose(np.stack([c for c, _ in answers]), rnn, atol=1e-3)
    for (_, frames), (_, own) in zip(answers, alone.answer_clips(data.test)):
        np.testing.assert_array_equal(frames, own)
    answer = fused([msr / data.names[data.splits[0].test[0]]])[0]  # the first test clip's file
    expected = answers[0][0]
    np.testing.assert_allclose(list(answer["probabilities"].values()), expected, atol=1e-7)


def test_commands_end_to_end_on_skeletons(msr, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["activity", "train", "--data", str(msr), "--out", str(run), "--epochs", "2"]
    small = ["--set", "model.hidden_size=8", "--set", "model.projection=8", "--set", "validation_subject=3"]
    assert main([*args, *small]) == 0
    out = capsys.readouterr()
    assert "not trained on: a03_s04_e04_skeleton3D.txt" in out.err
    results = json.loads((run / "results.json").read_text())
    assert results["sizes"] == {"train": 7, "validation": 6, "test": 12}
    assert main(["activity", "evaluate", str(run)]) == 0
    assert f"test accuracy {results['test_accuracy']:.2%}" in capsys.readouterr().out
    assert (run / "confusion.png").stat().st_size > 0
    assert main(["activity", "baseline", str(run)]) == 0
    assert "baseline" in capsys.readouterr().out
    gif = tmp_path / "a.gif"
    files = [str(msr / "a02_s01_e04_skeleton3D.txt"), str(msr / "a03_s04_e04_skeleton3D.txt")]
    assert main(["activity", str(run), *files, "--format", "json", "--animate", str(gif)]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["frames"] == 17 and len(rows[0]["frame_labels"]) == 17
    assert list(rows[0]["probabilities"]) == [activity.ACTIONS[a - 1] for a in SUBSETS["AS1"]]
    assert sum(rows[0]["probabilities"].values()) == pytest.approx(1.0)
    assert "no body was tracked" in rows[1]["error"]
    from PIL import Image

    assert Image.open(gif).n_frames == 17


def test_an_ensemble_holds_out_each_training_subject_and_averages_its_members(msr, tmp_path, capsys):
    run = tmp_path / "ensemble"
    small = ["--set", "model.hidden_size=8", "--set", "model.projection=0", "--set", "ensemble=true"]
    assert main(["activity", "train", "--data", str(msr), "--out", str(run), "--epochs", "1", *small]) == 0
    results = json.loads((run / "results.json").read_text())
    assert "the mean of 2 members" in capsys.readouterr().out
    assert [f["name"] for f in results["folds"]] == ["validated on s01", "validated on s03"]
    for k, subject in ((1, 1), (2, 3)):
        split = json.loads((run / "folds" / f"0{k}" / "splits.json").read_text())["splits"][0]
        data = activity.read_msr(msr, "AS1")
        assert set(data.subjects[split["validation"]]) == {subject}
        assert set(data.subjects[split["train"]]) == {4 - subject}  # the other training subject
        assert set(data.subjects[split["test"]]) == {2, 4}
    members = [activity.Predictor.from_run(run / "folds" / f"0{k}") for k in (1, 2)]
    path = msr / "a03_s02_e01_skeleton3D.txt"
    each = [m([path])[0]["probabilities"] for m in members]
    both = activity.Predictor.from_run(run)([path])[0]["probabilities"]
    for name, p in both.items():
        assert p == pytest.approx((each[0][name] + each[1][name]) / 2, abs=1e-7)  # float32 models
    capsys.readouterr()
    assert main(["activity", "evaluate", str(run)]) == 0
    assert f"test accuracy {results['test_accuracy']:.2%} on 12 clips" in capsys.readouterr().out


def test_seeded_members_train_on_every_training_clip_each_with_its_own_seed(msr, tmp_path, capsys):
    run = tmp_path / "seeds"
    small = ["--set", "model.hidden_size=8", "--set", "model.projection=0", "--set", "ensemble=true"]
    seeded = ["--set", "validation_subject=-1", "--set", "members=3", "--set", "train.monitor=loss"]
    args = ["activity", "train", "--data", str(msr), "--out", str(run), "--epochs", "1", *small, *seeded]
    assert main(args) == 0
    assert (
        "the mean of 3 members, each trained on all 13 training clips with its own seed"
        in capsys.readouterr().out
    )
    results = json.loads((run / "results.json").read_text())
    assert [f["name"] for f in results["folds"]] == ["seed 0", "seed 1", "seed 2"]
    data = activity.read_msr(msr, "AS1")
    weights = []
    for k in (1, 2, 3):
        split = json.loads((run / "folds" / f"0{k}" / "splits.json").read_text())["splits"][0]
        assert set(data.subjects[split["train"]]) == {1, 3} and split["validation"] == []
        assert set(data.subjects[split["test"]]) == {2, 4}
        model, config = activity.RUNS.load_model(run / "folds" / f"0{k}", build_model)
        assert config.train.seed == k - 1
        weights.append(model.output.weight.detach())
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])


def test_a_fused_ensemble_fits_its_logistic_on_every_training_clip_and_scores_as_evaluate(msr, tmp_path):
    run = tmp_path / "fused-seeds"
    small = ["--set", "model.hidden_size=8", "--set", "model.projection=0", "--set", "ensemble=true"]
    seeded = ["--set", "validation_subject=-1", "--set", "members=2", "--set", "train.monitor=loss"]
    args = ["activity", "train", "--data", str(msr), "--out", str(run), "--epochs", "1", *small, *seeded]
    assert main([*args, "--set", "fusion=0.5"]) == 0
    results = json.loads((run / "results.json").read_text())
    _, _, data = activity.predict.run_data(run)
    assert len(data.train) == 13 and len(data.validation) == 0  # subjects 1 and 3: every training clip
    refit = activity.Logistic.fit(list(data.train.features), data.train.labels, 8)
    assert activity.Logistic.load(run / "logistic.json") == refit
    scored = activity.evaluate(run, png=tmp_path / "confusion.png")
    assert scored["accuracy"] == results["test_accuracy"] and scored["loss"] == results["test_loss"]
    fused = activity.Predictor.from_run(run)
    rnn = np.stack([c for c, _ in activity.predict_frames(fused.models, data.test)])  # (12, 8)
    expected = 0.5 * rnn + 0.5 * refit.probs(list(data.test.features))
    np.testing.assert_allclose(np.stack([c for c, _ in fused.answer_clips(data.test)]), expected, atol=1e-12)


def test_ts_and_csv_inputs_on_basic_motions(tmp_path, capsys):
    aeon_datasets = pytest.importorskip("aeon.datasets")
    folder = Path(aeon_datasets.__file__).parent / "data" / "BasicMotions"
    train, test = tmp_path / "train.ts", tmp_path / "test.ts"
    shutil.copy(folder / "BasicMotions_TRAIN.ts", train)
    shutil.copy(folder / "BasicMotions_TEST.ts", test)
    run = tmp_path / "ts-run"
    small = ["--epochs", "1", "--set", "model.hidden_size=8", "--set", "model.projection=0"]
    assert (
        main(["activity", "train", "--ts", str(train), "--test", str(test), "--out", str(run), *small]) == 0
    )
    results = json.loads((run / "results.json").read_text())
    assert results["sizes"]["test"] == 40 and results["sizes"]["train"] + results["sizes"]["validation"] == 40
    adapter = json.loads((run / "adapter.json").read_text())
    assert adapter["classes"] == ["Standing", "Running", "Walking", "Badminton"]
    assert len(adapter["mean"]) == 6
    capsys.readouterr()
    assert main(["activity", str(run), str(test), "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 40 and all(len(r["frame_labels"]) == 100 for r in rows)
    probs = np.array([[r["probabilities"][c] for c in adapter["classes"]] for r in rows])
    true = read_ts(test).labels
    accuracy = np.mean([adapter["classes"][k] == t for k, t in zip(probs.argmax(1), true)])
    assert accuracy == pytest.approx(results["test_accuracy"])  # predict agrees with the run's test score
    data = read_ts(train)
    csv = tmp_path / "csv"
    for k, (x, label) in enumerate(zip(data.features, data.labels)):
        (csv / label).mkdir(parents=True, exist_ok=True)
        np.savetxt(csv / label / f"{k}.csv", x, delimiter=",", header="a,b,c,d,e,f", comments="")
    run = tmp_path / "csv-run"
    assert main(["activity", "train", "--csv", str(csv), "--out", str(run), *small]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["sizes"]["test"] == 8  # a fifth of 40, stratified
    capsys.readouterr()
    assert main(["activity", str(run), str(sorted((csv / "Walking").glob("*.csv"))[0])]) == 0
    assert "frames (100)" in capsys.readouterr().out
