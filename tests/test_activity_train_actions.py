"""train_actions=all (issue 28): a subset's model trains on the training subjects' clips of every
action and answers among the subset's only, in validation, test, evaluation, prediction and an
ensemble; a saved run loads and answers the same."""

import json

import numpy as np
import pytest
import torch
from test_activity import clip, write_clip

from rnnkit.cli import main
from rnnkit.data.sequences import FeatureSequences
from rnnkit.errors import ConfigError
from rnnkit.tasks import activity
from rnnkit.tasks.activity.data import ACTIONS, SUBSETS
from rnnkit.tasks.activity.task import Answers, build_model, load_inputs, msr_clips, predict_frames

AS1 = [ACTIONS[a - 1] for a in SUBSETS["AS1"]]
SMALL = ["--set", "model.hidden_size=8", "--set", "model.projection=0", "--set", "train_actions=all"]


@pytest.fixture(scope="module")
def msr(tmp_path_factory):
    """AS1's actions 2 and 3 and AS2's action 1 (not in AS1), subjects 1-4, two repetitions each."""
    folder = tmp_path_factory.mktemp("msr_all")
    rng = np.random.default_rng(1)
    for action in (1, 2, 3):
        for subject in range(1, 5):
            for rep in (1, 2):
                write_clip(folder, action, subject, rep, clip(action, rng))
    return folder


def test_training_holds_the_other_actions_validation_and_test_only_the_subsets(msr):
    config = activity.ActivityConfig(train_actions="all", validation_subject=3)
    corpus, _, order = msr_clips(str(msr), config)
    assert order == [*SUBSETS["AS1"], 1]  # the subset's actions first: labels 0..7, then action 1: 8
    data = load_inputs(activity.Inputs("msr", str(msr)), config)
    split = data.splits[0]
    assert sorted(corpus.actions[split.train]) == [1] * 2 + [2] * 2 + [3] * 2  # subject 1, all three
    assert set(corpus.subjects[split.train]) == {1}
    assert sorted(corpus.actions[split.validation]) == [2, 2, 3, 3]  # subject 3, AS1's actions only
    assert sorted(corpus.actions[split.test]) == [2] * 4 + [3] * 4  # subjects 2 and 4, AS1's only
    assert set(data.train.labels) == {0, 1, 8} and set(data.test.labels) == {0, 1}
    assert data.adapter.classes == AS1 and data.adapter.others == [ACTIONS[0]]
    default = load_inputs(activity.Inputs("msr", str(msr)), activity.ActivityConfig(validation_subject=3))
    assert set(default.train.labels) == {0, 1} and default.adapter.others == []


def test_answers_are_the_first_logits_in_eval_and_all_of_them_in_training():
    config = activity.ActivityConfig(train_actions="all")
    config.model.num_classes, config.model.input_size = 20, 6
    torch.manual_seed(0)
    model = build_model(config)
    assert isinstance(model, Answers)
    x, lengths = torch.randn(3, 7, 6), torch.tensor([7, 5, 2])
    model.train()
    full = model(x, lengths)
    model.eval()
    assert full.shape == (3, 7, 20) and model(x, lengths).shape == (3, 7, 8)
    torch.testing.assert_close(model(x, lengths), model.model(x, lengths)[..., :8])
    (clip_p, frames), *_ = predict_frames([model], FeatureSequences([x[0].numpy()]))
    with torch.no_grad():
        masked = torch.softmax(model.model(x[:1], lengths[:1])[0, :, :8], dim=-1).double().numpy()  # (T, 8)
    np.testing.assert_allclose(frames, masked, rtol=1e-6)  # each frame: softmax over AS1's 8 alone
    np.testing.assert_allclose(clip_p, masked.mean(axis=0), rtol=1e-6)
    assert not isinstance(build_model(activity.ActivityConfig()), Answers)  # off by default
    with pytest.raises(ConfigError, match="train_actions must be one of subset, all, got 'every'"):
        activity.ActivityConfig(train_actions="every")


def test_a_saved_run_answers_among_the_subset_and_loads_to_the_same_answers(msr, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["activity", "train", "--data", str(msr), "--out", str(run), "--epochs", "2", *SMALL]
    assert main([*args, "--set", "validation_subject=3"]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["sizes"] == {"train": 6, "validation": 4, "test": 8}
    config = activity.RUNS.load_config(run)
    assert config.train_actions == "all" and config.model.num_classes == 9  # 8 answers + action 1
    scored = activity.evaluate(run)
    assert scored["classes"] == AS1 and np.asarray(scored["confusion"]).shape == (8, 8)
    assert np.asarray(scored["confusion"]).sum() == 8 and scored["accuracy"] == results["test_accuracy"]
    assert main(["activity", "evaluate", str(run)]) == 0
    capsys.readouterr()
    files = sorted(str(f) for f in msr.glob("*_skeleton3D.txt"))  # action 1's clips too
    assert main(["activity", str(run), *files, "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 24
    for row in rows:
        assert list(row["probabilities"]) == AS1 and sum(row["probabilities"].values()) == pytest.approx(1)
        assert row["class"] in AS1 and set(row["frame_labels"]) <= set(AS1)
    predictor = activity.Predictor.from_run(run)
    assert [a["probabilities"] for a in predictor(files)] == [r["probabilities"] for r in rows]
    with torch.no_grad():  # action 1's logit made to win every frame: masked, it changes nothing
        predictor.models[0].model.output.bias[8] += 100.0
    assert [a["probabilities"] for a in predictor(files)] == [r["probabilities"] for r in rows]
    predictor.models[0].train()  # unmasked, it would name action 1 at every frame
    assert predictor.models[0](torch.ones(1, 5, config.model.input_size)).argmax(dim=-1).eq(8).all()
    assert main(["activity", "baseline", str(run)]) == 0


def test_seeded_members_train_on_every_action_and_answer_among_the_subset(msr, tmp_path, capsys):
    run = tmp_path / "seeds"
    seeded = ["--set", "ensemble=true", "--set", "validation_subject=-1", "--set", "members=2"]
    args = ["activity", "train", "--data", str(msr), "--out", str(run), "--epochs", "1", *SMALL, *seeded]
    assert main([*args, "--set", "train.monitor=loss"]) == 0
    corpus, _, _ = msr_clips(str(msr), activity.RUNS.load_config(run))
    for k in (1, 2):
        split = json.loads((run / "folds" / f"0{k}" / "splits.json").read_text())["splits"][0]
        assert sorted(set(corpus.actions[split["train"]])) == [1, 2, 3]
        assert sorted(set(corpus.actions[split["test"]])) == [2, 3] and len(split["test"]) == 8
    answer = activity.Predictor.from_run(run)([msr / "a01_s02_e01_skeleton3D.txt"])[0]
    assert answer["class"] in AS1 and list(answer["probabilities"]) == AS1
