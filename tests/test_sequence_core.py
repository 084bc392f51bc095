"""The sequence-classification core (data.sequences, models.sequence, train.cv), by numbers: a batch
of mixed lengths gives each sequence's outputs, losses and gradients as if it ran alone unpadded
(float64), padded steps get no gradient, and the folds are disjoint, complete, stratified and
reproducible."""

import statistics

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnkit.config import apply_overrides, from_dict, to_dict
from rnnkit.data.sequences import IGNORE, FeatureSequences, SequenceBatch
from rnnkit.errors import ConfigError
from rnnkit.models.sequence import SequenceModel, SequenceModelConfig, center, make_step, probabilities
from rnnkit.train import CheckpointError
from rnnkit.train.cv import KFOLD, Splits, mean_sd, stratified_holdout, stratified_kfold

E, C = 5, 3
LENGTHS = [7, 3, 1, 7, 5]


def sequences(lengths=LENGTHS, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, E)) for n in lengths]


def model(head="clip", pooling="mean", cell="lstm", projection=4, num_layers=2, num_classes=C, **conv):
    config = SequenceModelConfig(
        input_size=E,
        projection=projection,
        cell=cell,
        hidden_size=6,
        num_layers=num_layers,
        head=head,
        pooling=pooling,
        num_classes=num_classes,
        **conv,
    )
    return SequenceModel(config).double().eval()


def padded(xs, garbage=True):
    """(B, T, E) with each sequence at the start of its row; the rest random, not zero, so that a
    padded step that leaked into the result would show."""
    T = max(len(x) for x in xs)
    out = (
        torch.randn(len(xs), T, E, dtype=torch.float64) * 10
        if garbage
        else torch.zeros(len(xs), T, E, dtype=torch.float64)
    )
    for i, x in enumerate(xs):
        out[i, : len(x)] = torch.from_numpy(x)
    return out, torch.tensor([len(x) for x in xs])


# -- the dataset ----------------------------------------------------------------------------------


def test_collate_pads_features_with_zeros_and_step_labels_with_ignore():
    xs = sequences()
    steps = [np.arange(len(x)) % C for x in xs]
    data = FeatureSequences(xs, step_labels=steps, dtype=np.float64)
    batch = data.collate(np.array([1, 0, 2]))
    assert batch.features.shape == (3, 7, E) and batch.features.dtype == torch.float64
    assert batch.lengths.tolist() == [3, 7, 1]
    np.testing.assert_array_equal(batch.features[0, :3].numpy(), xs[1])
    assert (batch.features[0, 3:] == 0).all() and (batch.features[2, 1:] == 0).all()
    assert batch.labels[0].tolist() == [0, 1, 2] + [IGNORE] * 4
    assert batch.labels[2].tolist() == [0] + [IGNORE] * 6


def test_collate_gives_sequence_labels_and_ctc_targets_with_their_lengths():
    xs = sequences()
    labels = FeatureSequences(xs, labels=[0, 1, 2, 1, 0]).collate(np.array([4, 2]))
    assert labels.labels.tolist() == [0, 2] and labels.features.dtype == torch.float32
    targets = [np.array([1, 2]), np.array([3]), np.array([1]), np.array([2, 2, 1]), np.array([1])]
    batch = FeatureSequences(xs, targets=targets).collate(np.array([0, 3, 1]))
    assert batch.targets.tolist() == [[1, 2, 0], [2, 2, 1], [3, 0, 0]]
    assert batch.target_lengths.tolist() == [2, 3, 1] and batch.labels is None
    assert FeatureSequences(xs).subset([3, 1]).collate(np.array([0, 1])).lengths.tolist() == [7, 3]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": [np.zeros((3, 2)), np.zeros((2, 3))]}, r"features\[1\] must be a \(T, 2\) array"),
        ({"features": [np.zeros((0, 2))]}, r"features\[0\] must be a \(T, 2\) array with T >= 1"),
        ({"features": [np.zeros((3, 2))], "labels": [0, 1]}, "one int per sequence"),
        ({"features": [np.zeros((3, 2))], "step_labels": [np.zeros(2)]}, r"step_labels\[0\] must hold one"),
        ({"features": [np.zeros((3, 2))], "labels": [0], "targets": [np.ones(1)]}, "at most one of"),
        ({"features": [np.zeros((3, 2))], "targets": [np.zeros(0)]}, r"targets\[0\] must be a non-empty"),
    ],
)
def test_the_dataset_refuses_what_it_cannot_batch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FeatureSequences(**kwargs)


# -- the model: masked == unpadded -------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("pooling", ["mean", "max", "meanmax", "last", "center"])
def test_clip_logits_in_a_padded_batch_equal_each_sequence_alone(cell, pooling):
    net = model("clip", pooling, cell)
    xs = sequences()
    x, lengths = padded(xs)
    with torch.no_grad():
        batched = net(x, lengths)  # (B, C)
        for i, seq in enumerate(xs):
            alone = net(torch.from_numpy(seq)[None])  # (1, C), no lengths: nothing padded
            torch.testing.assert_close(batched[i], alone[0], atol=1e-12, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_frame_logits_in_a_padded_batch_equal_each_sequence_alone(cell):
    net = model("frame", cell=cell)
    xs = sequences()
    x, lengths = padded(xs)
    with torch.no_grad():
        batched = net(x, lengths)  # (B, T, C)
        for i, seq in enumerate(xs):
            alone = net(torch.from_numpy(seq)[None])[0]  # (T_i, C)
            torch.testing.assert_close(batched[i, : len(seq)], alone, atol=1e-12, rtol=0)
        # a padded step reads nothing: its logits are the output layer's bias
        torch.testing.assert_close(batched[2, 1:], net.output.bias.expand(6, C), atol=1e-12, rtol=0)


CASES = [
    ("clip", "mean"), ("clip", "max"), ("clip", "meanmax"), ("clip", "last"), ("clip", "center"),
    ("frame", "mean"),
]  # fmt: skip
CONV = {"conv_layers": 2, "conv_channels": 8, "conv_kernel": 3}  # the front end; conv_stride is added


def _grads(net):
    return {name: p.grad.clone() for name, p in net.named_parameters()}


@pytest.mark.parametrize(("head", "pooling"), CASES)
def test_the_batch_loss_and_gradients_equal_those_of_each_sequence_alone(head, pooling):
    """The step's mean loss over a padded batch, and its gradient for every weight, equal the
    count-weighted mean over each sequence run alone: batching changes nothing but speed."""
    net = model(head, pooling)
    xs = sequences()
    rng = np.random.default_rng(1)
    if head == "clip":
        labels = rng.integers(0, C, len(xs))
        data = FeatureSequences(xs, labels=labels, dtype=np.float64)
    else:
        data = FeatureSequences(xs, step_labels=[rng.integers(0, C, len(x)) for x in xs], dtype=np.float64)
    step = make_step(net.config)
    loss, metrics, count = step(net, data.collate(np.arange(len(xs))))
    net.zero_grad()
    loss.backward()
    batched = _grads(net)
    total, sums, grads = 0.0, 0.0, None
    for i in range(len(xs)):
        loss_i, metrics_i, count_i = step(net, data.collate(np.array([i])))
        net.zero_grad()
        (loss_i * count_i).backward()
        total += count_i
        sums += metrics_i["accuracy"]
        each = _grads(net)
        grads = each if grads is None else {k: grads[k] + each[k] for k in grads}
    assert count == total and metrics["accuracy"] == sums
    for name, grad in grads.items():
        torch.testing.assert_close(batched[name], grad / total, atol=1e-12, rtol=1e-9, msg=name)


@pytest.mark.parametrize(("head", "pooling"), CASES)
def test_padded_steps_get_no_gradient(head, pooling):
    net = model(head, pooling)
    x, lengths = padded(sequences())
    x.requires_grad_(True)
    logits = net(x, lengths)
    if head == "clip":
        loss = F.cross_entropy(logits, torch.tensor([0, 1, 2, 1, 0]))
    else:
        labels = torch.randint(0, C, logits.shape[:2])
        labels[torch.arange(x.shape[1])[None, :] >= lengths[:, None]] = IGNORE
        loss = F.cross_entropy(logits.reshape(-1, C), labels.reshape(-1), ignore_index=IGNORE)
    loss.backward()
    for i, n in enumerate(lengths.tolist()):
        assert (x.grad[i, n:] == 0).all(), f"sequence {i}: padded steps got a gradient"
        assert (x.grad[i, :n] != 0).any()


def test_the_ctc_loss_of_a_padded_batch_is_the_mean_of_each_utterance_alone():
    net = model("ctc", num_classes=4)
    assert net.output.out_features == 5  # the blank and 4 symbols
    xs = sequences()
    targets = [np.array([1, 2]), np.array([3]), np.array([4]), np.array([2, 2, 1]), np.array([1, 4])]
    data = FeatureSequences(xs, targets=targets, dtype=np.float64)
    step = make_step(net.config)
    loss, _, count = step(net, data.collate(np.arange(len(xs))))
    alone = [step(net, data.collate(np.array([i])))[0] for i in range(len(xs))]
    assert count == len(xs)
    torch.testing.assert_close(loss, torch.stack(alone).mean(), atol=1e-12, rtol=1e-10)


# -- the convolutional front end: the same numbers, with strides -----------------------------------


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("pooling", ["mean", "meanmax", "last", "center"])
def test_a_conv_front_end_gives_each_sequence_its_logits_alone(stride, pooling):
    net = model("clip", pooling, conv_stride=stride, **CONV)
    xs = sequences()
    x, lengths = padded(xs)  # garbage in the padded steps: zeroing them before each convolution is tested
    with torch.no_grad():
        batched = net(x, lengths)  # (B, C)
        for i, seq in enumerate(xs):
            alone = net(torch.from_numpy(seq)[None])  # (1, C)
            torch.testing.assert_close(batched[i], alone[0], atol=1e-12, rtol=0)


@pytest.mark.parametrize("stride", [1, 2])
def test_strided_ctc_outputs_and_loss_are_those_of_each_utterance_alone(stride):
    net = model("ctc", num_classes=4, conv_stride=stride, **CONV)
    xs = sequences([9, 4, 1, 8, 5])
    x, lengths = padded(xs)
    steps = net.config.output_lengths(lengths)
    assert steps.tolist() == ([9, 4, 1, 8, 5] if stride == 1 else [3, 1, 1, 2, 2])  # ceil(ceil(n/2)/2)
    with torch.no_grad():
        batched = net(x, lengths)  # (B, T', 5)
        assert batched.shape == (5, -(-9 // stride**2), 5)
        for i, seq in enumerate(xs):
            alone = net(torch.from_numpy(seq)[None])[0]  # (n', 5)
            assert len(alone) == steps[i]
            torch.testing.assert_close(batched[i, : steps[i]], alone, atol=1e-12, rtol=0)
    targets = [np.array([1, 2]), np.array([3]), np.array([4]), np.array([2, 1]), np.array([1, 4])]
    data = FeatureSequences(xs, targets=targets, dtype=np.float64)
    step = make_step(net.config)
    loss, _, _ = step(net, data.collate(np.arange(len(xs))))
    alone = torch.stack([step(net, data.collate(np.array([i])))[0] for i in range(len(xs))])
    assert torch.isfinite(alone).all() and (alone > 0).all()  # every transcript fits its n' steps
    torch.testing.assert_close(loss, alone.mean(), atol=1e-12, rtol=1e-10)
    rows = probabilities([net], data, batch_size=2, log=True)  # the inference loop cuts rows at n'
    assert [len(r) for r in rows] == steps.tolist()
    torch.testing.assert_close(torch.from_numpy(rows[0]), F.log_softmax(batched[0, : steps[0]], -1))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize(("head", "pooling"), [("clip", "meanmax"), ("clip", "last"), ("ctc", "mean")])
def test_padded_steps_get_no_gradient_through_the_convolutions(stride, head, pooling):
    torch.manual_seed(0)  # some draws leave every ReLU of a short sequence dead: no gradient anywhere
    net = model(head, pooling, num_classes=C, conv_stride=stride, **CONV)
    x, lengths = padded(sequences())
    x.requires_grad_(True)
    if head == "clip":
        loss = F.cross_entropy(net(x, lengths), torch.tensor([0, 1, 2, 1, 0]))
    else:
        targets = torch.tensor([[1, 2], [3, 0], [1, 0], [2, 1], [1, 3]])  # each fits its n' steps
        batch = SequenceBatch(
            x, lengths, np.arange(5), targets=targets, target_lengths=torch.tensor([2, 1, 1, 2, 2])
        )
        loss, _, _ = make_step(net.config)(net, batch)
    loss.backward()
    for i, n in enumerate(lengths.tolist()):
        assert (x.grad[i, n:] == 0).all(), f"sequence {i}: padded steps got a gradient"
        assert (x.grad[i, :n] != 0).any()


def test_a_transcript_longer_than_its_subsampled_steps_is_refused():
    net = model("ctc", num_classes=4, conv_stride=2, **CONV)  # 4x subsampling
    data = FeatureSequences(
        sequences([9, 7]), targets=[np.array([1, 2]), np.array([1, 2, 3])], dtype=np.float64
    )
    message = (
        r"utterance 1 of the batch: a transcript of 3 symbols is longer than its 2 output steps \(7 input"
    )
    with pytest.raises(ValueError, match=message + " steps subsampled 4x"):
        make_step(net.config)(net, data.collate(np.array([0, 1])))


def test_the_conv_front_end_passes_gradcheck_with_a_stride():
    net = model("clip", "meanmax", num_layers=1, projection=0, conv_layers=1, conv_channels=3,
                conv_kernel=3, conv_stride=2)  # fmt: skip
    x, lengths = padded(sequences([5, 2]), garbage=False)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: net(x, lengths), (x,))


def test_the_conv_front_end_is_off_by_default_and_an_old_config_still_loads():
    net = model()
    assert net.conv is None and not any(name.startswith("conv") for name, _ in net.named_parameters())
    old = {k: v for k, v in to_dict(net.config).items() if not k.startswith("conv_")}  # a run saved before
    assert from_dict(SequenceModelConfig, old) == net.config


def test_center_reads_the_forward_state_of_the_first_half_and_the_backward_state_of_the_second():
    """n = 7: the forward direction after steps 1..3, the backward one after steps 7..4; n = 1:
    both at step 1. Checked against the encoder run on the halves alone."""
    net = model("clip", "center", num_layers=1, projection=0)
    H = net.config.hidden_size
    for n, m in ((7, 3), (6, 3), (1, 1)):
        x = torch.from_numpy(sequences([n])[0])[None]  # (1, n, E)
        with torch.no_grad():
            z = center(net.encoder(x)[0], torch.tensor([n]), bidirectional=True)  # (1, 2H)
            first = net.encoder(x[:, :m])[0][0, -1, :H]  # forward, after steps 1..m
            second = net.encoder(x[:, min(m, n - 1) :])[0][0, 0, H:]  # backward, after steps n..m+1
        torch.testing.assert_close(z[0], torch.cat([first, second]), atol=1e-12, rtol=0)


def test_the_clip_model_passes_gradcheck():
    net = model("clip", "max", num_layers=1, projection=0)
    x, lengths = padded(sequences([3, 2]), garbage=False)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: net(x, lengths), (x,))


def test_the_config_refuses_unknown_choices():
    with pytest.raises(
        ConfigError, match="pooling must be one of mean, max, meanmax, last, center, got 'sum'"
    ):
        SequenceModelConfig(pooling="sum")
    with pytest.raises(ConfigError, match="head must be one of clip, frame, ctc"):
        SequenceModelConfig(head="seq2seq")
    with pytest.raises(ValueError, match=r"expects x of shape \(B, T, 5\), got \(2, 3, 4\)"):
        model()(torch.zeros(2, 3, 4, dtype=torch.float64))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"conv_layers": -1}, r"conv_layers must be >= 0 \(0 for none\), got -1"),
        ({"conv_layers": 1, "conv_channels": 0}, "conv_channels must be >= 1, got 0"),
        ({"conv_layers": 1, "conv_stride": 0}, "conv_stride must be >= 1, got 0"),
        ({"conv_layers": 1, "conv_kernel": 4}, "conv_kernel must be odd .*, got 4"),
        ({"conv_layers": 1, "conv_stride": 2, "head": "frame"}, "conv_stride must be 1 with the frame head"),
    ],
)
def test_the_config_refuses_a_conv_front_end_it_cannot_build(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SequenceModelConfig(**kwargs)
    with pytest.raises(ConfigError, match=message.split(" ")[0]):  # and so does a --set override
        apply_overrides(SequenceModelConfig(), [f"{k}={v}" for k, v in kwargs.items()])


# -- splits --------------------------------------------------------------------------------------

LABELS = np.array([0] * 50 + [1] * 30 + [2] * 20)


def test_kfold_tests_every_item_once_on_disjoint_stratified_parts():
    splits = stratified_kfold(LABELS, 10, seed=3, validation_share=0.1)
    assert splits.kind == KFOLD and len(splits) == 10
    tested = np.concatenate([s.test for s in splits])
    assert sorted(tested.tolist()) == list(range(len(LABELS)))  # every item, exactly once
    for s in splits:
        parts = np.concatenate([s.train, s.validation, s.test])
        assert sorted(parts.tolist()) == list(range(len(LABELS)))  # disjoint, and nothing left out
        assert np.bincount(LABELS[s.test]).tolist() == [5, 3, 2]  # each class in its share
        assert set(LABELS[s.validation]) == {0, 1, 2} and len(s.validation) == 9


def test_splits_are_reproducible_and_round_trip_through_json(tmp_path):
    one = stratified_kfold(LABELS, 5, seed=7, source="sha256:x")
    two = stratified_kfold(LABELS, 5, seed=7, source="sha256:x")
    other = stratified_kfold(LABELS, 5, seed=8, source="sha256:x")
    same = [
        np.array_equal(a.test, b.test) and np.array_equal(a.validation, b.validation)
        for a, b in zip(one, two)
    ]
    assert all(same)
    assert not all(np.array_equal(a.test, b.test) for a, b in zip(one, other))
    one.save(tmp_path / "splits.json")
    loaded = Splits.load(tmp_path / "splits.json")
    assert (loaded.kind, loaded.seed, loaded.n, loaded.source) == (KFOLD, 7, 100, "sha256:x")
    for a, b in zip(one, loaded):
        for part in ("train", "validation", "test"):
            np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    loaded.check_source(100, "sha256:x", "here")
    with pytest.raises(CheckpointError, match="was made on other data"):
        loaded.check_source(100, "sha256:y", "here")


def test_a_damaged_or_overlapping_splits_file_is_refused(tmp_path):
    path = tmp_path / "splits.json"
    path.write_text("{")
    with pytest.raises(CheckpointError, match="is damaged"):
        Splits.load(path)
    path.write_text(
        '{"kind": "holdout", "seed": 0, "n": 4, "source": "", '
        '"splits": [{"train": [0, 1], "validation": [], "test": [1, 2]}]}'
    )
    with pytest.raises(CheckpointError, match="overlapping parts"):
        Splits.load(path)


def test_holdout_is_stratified_with_the_asked_size():
    labels = np.array([0] * 767 + [1] * 768 + [2] * 1655)  # the splice data's classes
    split = stratified_holdout(labels, 1190, seed=0, validation_share=0.1)[0]
    assert len(split.test) == 1190 and len(split.train) + len(split.validation) == 2000
    assert len(split.validation) == 200
    shares = np.bincount(labels[split.test]) / 1190
    np.testing.assert_allclose(shares, np.bincount(labels) / len(labels), atol=1e-3)


def test_too_few_items_of_a_class_for_the_folds_is_an_error():
    with pytest.raises(ConfigError, match="class 2 has 2 items, fewer than the 3 folds"):
        stratified_kfold(np.array([0, 0, 0, 1, 1, 1, 2, 2]), 3)


def test_mean_sd_is_the_sample_standard_deviation():
    values = [0.95, 0.97, 0.96, 0.99]
    assert mean_sd(values) == pytest.approx((statistics.mean(values), statistics.stdev(values)))
    assert mean_sd([0.5]) == (0.5, 0.0)
