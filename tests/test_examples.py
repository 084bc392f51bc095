"""The architecture gallery in examples/: the toy data are right, every script runs, and the
cheapest ones learn past their trivial baselines in a short run."""

import math
import random
import runpy
from pathlib import Path

import pytest
import torch

import rnnkit

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> dict:
    """The script's globals, without running its ``if __name__ == "__main__"`` block."""
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name=f"examples.{name}")


# -- the toy data are what the docstrings say ---------------------------------------------------


def test_one_to_many_spells_numbers_and_holds_out_only_composable_ones():
    example = load("one_to_many")
    spell = example["spell"]
    expected = {0: "zero", 7: "seven", 13: "thirteen", 20: "twenty", 42: "forty two", 99: "ninety nine"}
    assert {n: spell(n) for n in expected} == expected
    train = [n for n in range(100) if n not in example["HELD_OUT"]]
    for n in example["HELD_OUT"]:  # each word of a held-out caption occurs in some training caption
        assert n >= 20 and n % 10 and all(any(w in spell(m).split() for m in train) for w in spell(n).split())
    x = example["features"]([42])  # one-hot tens 4 beside one-hot units 2
    assert x.shape == (1, 20) and x.sum() == 2 and x[0, 4] == 1 and x[0, 12] == 1


def test_many_to_one_labels_follow_the_negation_rule():
    example = load("many_to_one")
    rng, seen = random.Random(0), set()
    for _ in range(500):
        words, label = example["sentence"](rng)
        (i,) = [j for j, w in enumerate(words) if w in example["POSITIVE"] + example["NEGATIVE"]]
        negated = i > 0 and words[i - 1] == "not"
        assert label == int((words[i] in example["POSITIVE"]) != negated)
        # every other "not" stands before a neutral word, so it cannot be read as a negation
        assert all(
            words[j + 1] in example["NEUTRAL"] for j, w in enumerate(words) if w == "not" and j != i - 1
        )
        seen.add((negated, words.count("not")))
    assert seen == {(False, 0), (False, 1), (True, 1), (True, 2)}  # one "not" is ambiguous to a bag of words
    ids, lengths, _, _ = example["batch"](random.Random(1), 8)
    assert (ids[torch.arange(8), lengths - 1] != 0).all() and all(
        (row[n:] == 0).all() for row, n in zip(ids, lengths)
    )


def test_many_to_many_synced_tags_are_running_parities():
    example = load("many_to_many_synced")
    bits, tags, lengths = example["batch"](50, torch.Generator().manual_seed(0))
    for row_bits, row_tags, n in zip(bits.tolist(), tags.tolist(), lengths.tolist()):
        assert row_tags[:n] == [sum(row_bits[: t + 1]) % 2 for t in range(n)]
        assert row_bits[n:] == row_tags[n:] == [0] * (len(row_bits) - n)


def test_encoder_decoder_targets_are_reversals_and_padding_is_ignored():
    example = load("encoder_decoder")
    EOS = example["EOS"]
    source, lengths, target = example["batch"](50, torch.Generator().manual_seed(0))
    for row_source, row_target, n in zip(source.tolist(), target.tolist(), lengths.tolist()):
        assert row_target[:n] == row_source[:n][::-1] and row_source[n:] == row_target[n:] == [EOS] * (8 - n)
    # teacher forcing: what the padded steps of source and target hold cannot change the real logits
    model = example["Seq2Seq"](16)
    mask = torch.arange(9) < (lengths + 1)[:, None]  # (B, T+1)
    logits = model(source, lengths, target)
    pad = torch.arange(8) >= lengths[:, None]
    noisy = model(torch.where(pad, 3, source), lengths, torch.where(pad, 7, target))
    torch.testing.assert_close(noisy[mask], logits[mask], rtol=0, atol=0)


# -- every script runs and returns finite metrics -----------------------------------------------

SMOKE = {
    "one_to_one": ["--steps", "3"],
    "one_to_many": ["--steps", "2", "--hidden", "8"],
    "many_to_one": ["--steps", "2", "--hidden", "8", "--batch-size", "8"],
    "many_to_many_synced": ["--steps", "2", "--hidden", "8", "--batch-size", "8"],
    "encoder_decoder": ["--steps", "2", "--hidden", "8", "--batch-size", "8"],
}


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_script_runs_and_returns_finite_metrics(name, capsys):
    metrics = load(name)["main"]([*SMOKE[name], "--seed", "1"])
    assert metrics and all(math.isfinite(value) for value in metrics.values())
    assert 0.0 <= metrics["baseline"] < 1.0
    assert "baseline" in capsys.readouterr().out


def test_one_to_many_first_step_only_runs():
    metrics = load("one_to_many")["main"](["--steps", "2", "--hidden", "8", "--first-step-only"])
    assert all(math.isfinite(value) for value in metrics.values())


# -- short runs of the cheapest scripts beat their baselines --------------------------------------


def test_one_to_one_hidden_layer_is_one_rnn_step_from_zero_state():
    linear, cell = torch.nn.Linear(2, 5).double(), rnnkit.RNNCell(2, 5).double()
    with torch.no_grad():
        cell.weight_ih.copy_(linear.weight)
        cell.bias.copy_(linear.bias)
    x = torch.randn(7, 2, dtype=torch.float64)
    h, _ = cell(x)  # h_prev = None: zeros
    torch.testing.assert_close(h, torch.tanh(linear(x)), rtol=0, atol=1e-15)


def test_one_to_one_learns_the_spirals():
    metrics = load("one_to_one")["main"](["--steps", "400"])
    assert metrics["baseline"] == pytest.approx(1 / 3)
    assert metrics["accuracy"] > 0.95


def test_many_to_many_synced_learns_running_parity():
    metrics = load("many_to_many_synced")["main"](["--steps", "200", "--batch-size", "32"])
    assert metrics["baseline"] < 0.53
    assert metrics["accuracy"] > 0.95 and metrics["sequence_accuracy"] > 0.8


def test_many_to_one_uses_word_order():
    metrics = load("many_to_one")["main"](["--steps", "300", "--batch-size", "32"])
    assert metrics["baseline"] < 0.53
    assert metrics["accuracy"] > 0.85  # above 0.75, the best a bag of words can do
    assert metrics["without_lengths"] < metrics["accuracy"]
