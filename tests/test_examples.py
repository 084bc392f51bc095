"""The architecture gallery in examples/: the toy data are right, every script runs, and each one
shows in a short run what examples/README.md says it shows.

The README's figures come from full runs of seed 0. A short run keeps this file to seconds, and the
thresholds sit where every seed of 0-3 or 0-7 cleared them with room: a training run is
chaotic, so a different BLAS, thread count or torch version moves its numbers as a new seed would."""

import math
import random
import runpy
import sys
from pathlib import Path

import pytest
import torch

import rnnkit

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> dict:
    """The script's globals, without running its ``if __name__ == "__main__"`` block.

    ``python examples/NAME.py`` puts examples/ on the import path, where the scripts find their
    shared ``_train``; run_path does not, so the test does it."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
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


def test_many_to_one_reads_each_sentence_at_its_last_word():
    example = load("many_to_one")
    torch.manual_seed(0)
    model = example["Classifier"](8)
    ids, lengths, _, _ = example["batch"](random.Random(2), 8)
    padded = lengths < ids.shape[1]
    assert padded.any()
    with torch.no_grad():
        logits = model(ids, lengths)  # (B, 2)
        alone = torch.cat([model(row[None, :n], n[None]) for row, n in zip(ids, lengths)])
        unmasked = model(ids, None)  # the state after the padding
    torch.testing.assert_close(logits, alone, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(unmasked[~padded], logits[~padded], rtol=1e-5, atol=1e-6)
    assert ((unmasked - logits)[padded].abs().amax(dim=1) > 1e-4).all()


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
    values = [v for value in metrics.values() for v in (value if isinstance(value, list) else [value])]
    assert metrics and all(math.isfinite(v) for v in values)
    assert 0.0 <= metrics["baseline"] < 1.0
    assert "baseline" in capsys.readouterr().out


# -- short runs show what each script claims ------------------------------------------------------


def test_one_to_one_hidden_layer_is_one_rnn_step_from_zero_state():
    linear, cell = torch.nn.Linear(2, 5).double(), rnnkit.RNNCell(2, 5).double()
    with torch.no_grad():
        cell.weight_ih.copy_(linear.weight)
        cell.bias.copy_(linear.bias)
    x = torch.randn(7, 2, dtype=torch.float64)
    h, _ = cell(x)  # h_prev = None: zeros
    torch.testing.assert_close(h, torch.tanh(linear(x)), rtol=0, atol=1e-15)


def test_one_to_one_learns_the_spirals():
    metrics = load("one_to_one")["main"](["--steps", "400"])  # README, 1000 steps: 1.000
    assert metrics["baseline"] == pytest.approx(1 / 3)
    assert metrics["accuracy"] > 0.98  # seeds 0-3: 0.997-1.000


def test_one_to_many_spells_numbers_it_never_saw():
    main = load("one_to_many")["main"]
    short = ["--steps", "100", "--hidden", "32"]  # README, 400 steps of H = 64: 1.00 and 0.80
    every_step = main(short)
    first_step = main([*short, "--first-step-only"])
    # a model that memorised the training captions spells none of the held-out numbers
    assert every_step["baseline"] == 0.0 and every_step["train_exact_match"] > 0.85  # seeds 0-7: > 0.92
    assert every_step["exact_match"] >= 0.6  # seeds 0-7: 0.8-1.0
    # the input at every step composes sooner than the slide's input at the first step only
    assert first_step["exact_match"] < every_step["exact_match"]  # seeds 0-3: 0.1-0.3
    # which sees the number through h_0 alone: without h_0 one caption fits all, 1 of 90 right at most
    assert first_step["train_exact_match"] > 0.1  # seeds 0-3: 0.23-0.43


def test_many_to_one_uses_word_order():
    metrics = load("many_to_one")["main"](["--steps", "300", "--batch-size", "32"])  # README: 1.000
    assert metrics["baseline"] < 0.53
    assert metrics["accuracy"] > 0.95  # above 0.75, the best a bag of words can do; seeds 0-7: 1.000
    # (how much reading without lengths= costs depends on the run: 0.58 to nothing over seeds 0-7;
    # that lengths= reads each sentence at its last word is checked exactly above)


def test_many_to_many_synced_learns_running_parity():
    metrics = load("many_to_many_synced")["main"](["--steps", "200", "--batch-size", "32"])
    # no function of the current bit alone does better than 54%
    assert metrics["baseline"] < 0.53 and metrics["copy_bit"] < 0.56
    assert metrics["accuracy"] > 0.98 and metrics["sequence_accuracy"] > 0.95  # seeds 0-3: > 0.996


def test_encoder_decoder_reverses_short_inputs_and_fails_on_long_ones_first():
    metrics = load("encoder_decoder")["main"](
        ["--steps", "200", "--hidden", "64"]
    )  # README: 1200 steps, H = 128
    by_length = metrics["by_length"]  # exact match for inputs of 1..8 digits
    assert len(by_length) == 8 and metrics["baseline"] < 0.2  # copying is right for palindromes only
    assert metrics["exact_match"] > 0.45  # seeds 0-3: 0.58-0.60; full runs: 0.90-0.93
    assert min(by_length[:3]) > 0.9  # seeds 0-3: 0.98-1.00
    # everything passes through the one vector h_n: the longest inputs go wrong first
    assert max(by_length[5:]) < min(by_length[:3]) - 0.5  # seeds 0-3: at most 0.31
