"""The shared evaluation pieces of the sequence core, by numbers: group splits (every group tested
once, never trained or validated on in its own fold), a given test part, inference of every head
equal to each sequence run alone, and classification scores equal to scikit-learn's."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix, log_loss, precision_recall_fscore_support

from rnnkit.data.sequences import FeatureSequences
from rnnkit.errors import ConfigError
from rnnkit.models.sequence import SequenceModel, SequenceModelConfig, probabilities
from rnnkit.train.cv import FIXED, LOGO, Splits, fixed_split, leave_one_group_out
from rnnkit.train.metrics import classification_scores
from rnnkit.train.plots import plot_confusion

GROUPS = np.array(["b", "a", "c", "a", "d", "b", "e", "c", "d", "e", "a", "f"] * 3)
LABELS = np.arange(len(GROUPS)) % 3


def test_leave_one_group_out_tests_each_group_once_and_validates_on_other_whole_groups():
    splits = leave_one_group_out(GROUPS, LABELS, seed=1, validation_share=0.2)
    assert splits.kind == LOGO
    assert splits.names == ["a", "b", "c", "d", "e", "f"]
    tested = np.concatenate([s.test for s in splits])
    assert sorted(tested.tolist()) == list(range(len(GROUPS)))  # every item tested exactly once
    for name, split in zip(splits.names, splits):
        assert set(GROUPS[split.test]) == {name}
        assert name not in set(GROUPS[split.train]) | set(GROUPS[split.validation])
        assert not set(GROUPS[split.train]) & set(GROUPS[split.validation])  # validation: whole groups
        assert len(split.validation) > 0
        assert len(split.train) + len(split.validation) + len(split.test) == len(GROUPS)


def test_fixed_split_keeps_the_given_test_part_and_draws_validation_by_group():
    test = np.flatnonzero(np.isin(GROUPS, ["a", "b"]))
    splits = fixed_split(test, len(GROUPS), LABELS, GROUPS, seed=0, validation_share=0.1, name="even")
    (split,) = splits
    assert splits.kind == FIXED and splits.names == ["even"]
    assert split.test.tolist() == test.tolist()
    assert not set(GROUPS[split.train]) & set(GROUPS[split.validation])
    assert set(GROUPS[split.train]) | set(GROUPS[split.validation]) == {"c", "d", "e", "f"}
    # without groups: stratified by label, each class in validation
    (plain,) = fixed_split(test, len(GROUPS), LABELS, None, seed=0, validation_share=0.3)
    assert set(LABELS[plain.validation]) == {0, 1, 2}
    assert len(np.intersect1d(plain.train, plain.validation)) == 0


def test_group_splits_are_reproducible_and_saved_with_their_names(tmp_path):
    one = leave_one_group_out(GROUPS, LABELS, seed=4, source="sha256:x")
    two = leave_one_group_out(GROUPS, LABELS, seed=4, source="sha256:x")
    assert all(np.array_equal(a.validation, b.validation) for a, b in zip(one, two))
    one.save(tmp_path / "splits.json")
    loaded = Splits.load(tmp_path / "splits.json")
    assert loaded.names == one.names and loaded.name(2) == "c"
    assert loaded.only(2).names == ["c"] and np.array_equal(loaded.only(2)[0].test, one[2].test)
    unnamed = Splits(LOGO, 0, len(GROUPS), "", [one[0]])
    assert unnamed.names is None and unnamed.name(0) == "fold 1"


def test_bad_group_splits_are_refused_with_the_reason():
    with pytest.raises(ConfigError, match="at least two groups"):
        leave_one_group_out(["a"] * 5)
    with pytest.raises(ConfigError, match="test part must hold"):
        fixed_split([], 10)
    with pytest.raises(ConfigError, match="test part must hold"):
        fixed_split([3, 10], 10)


# -- inference of every head ----------------------------------------------------------------------

E, C = 3, 4
LENGTHS = [5, 2, 9, 1, 4]


def make_model(head, seed):
    torch.manual_seed(seed)
    config = SequenceModelConfig(input_size=E, hidden_size=5, head=head, pooling="mean", num_classes=C)
    return SequenceModel(config).double()


@pytest.mark.parametrize("head", ["clip", "frame", "ctc"])
def test_probabilities_of_an_ensemble_equal_each_sequence_run_alone(head):
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(n, E)) for n in LENGTHS]
    models = [make_model(head, seed) for seed in (0, 1)]
    rows = probabilities(models, FeatureSequences(xs, dtype=np.float64), batch_size=2)
    logs = probabilities(models, FeatureSequences(xs, dtype=np.float64), batch_size=3, log=True)
    for x, row, log_row in zip(xs, rows, logs):
        with torch.no_grad():
            alone = [F.softmax(m(torch.from_numpy(x)[None]), dim=-1)[0].numpy() for m in models]
        expected = np.mean(alone, axis=0)  # (C,) or (n, C[+1])
        assert row.shape == expected.shape
        np.testing.assert_allclose(row, expected, atol=1e-12)
        np.testing.assert_allclose(log_row, np.log(expected), atol=1e-10)


# -- scores ---------------------------------------------------------------------------------------


def test_classification_scores_equal_scikit_learn():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(3), size=50)
    labels = rng.integers(0, 3, size=50)
    labels[:3] = [0, 1, 2]
    result = classification_scores(probs, labels, ["x", "y", "z"])
    predicted = probs.argmax(axis=1)
    assert result["accuracy"] == pytest.approx((predicted == labels).mean())
    assert result["loss"] == pytest.approx(log_loss(labels, probs, labels=[0, 1, 2]))
    assert result["confusion"] == confusion_matrix(labels, predicted, labels=[0, 1, 2]).tolist()
    p, r, f, s = precision_recall_fscore_support(labels, predicted, labels=[0, 1, 2], zero_division=0)
    for c, name in enumerate("xyz"):
        got = result["per_class"][name]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx(
            (p[c], r[c], f[c], s[c])
        )
    with pytest.raises(ValueError, match=r"probs must be \(N, 3\)"):
        classification_scores(probs[:, :2], labels, ["x", "y", "z"])


def test_the_confusion_plot_is_a_png(tmp_path):
    path = plot_confusion([[5, 1], [0, 7]], ["walk", "run"], tmp_path / "c.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
