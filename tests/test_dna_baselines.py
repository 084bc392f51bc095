"""The DNA baselines (issue 27) on small made-up data: the consensus rule is exactly right on windows
built to follow it and picks its precedence from the training part, the k-mer counts equal a brute
count, and ``rnnkit dna baselines`` scores the run's own recorded splits."""

import itertools
import json
import random

import numpy as np
import pytest
from test_dna import TINY, write_splice

from rnnkit.cli import main
from rnnkit.tasks import dna
from rnnkit.tasks.dna import baselines
from rnnkit.train.cv import Splits, stratified_kfold

EI, IE, N = 0, 1, 2


def ruled(rng: random.Random, label: int) -> str:
    """60 random bases whose centre (between index 29 and 30) follows the rule for ``label``: GT at
    30-31 for EI, AG at 28-29 for IE (and not GT), neither for N."""
    while True:
        bases = [rng.choice("ACGT") for _ in range(60)]
        if label == EI:
            bases[30:32] = "GT"
        elif label == IE:
            bases[28:30] = "AG"
        s = "".join(bases)
        donor, acceptor = s[30:32] == "GT", s[28:30] == "AG"
        if (label, donor, acceptor) in (
            (EI, True, False),
            (EI, True, True),
            (IE, False, True),
            (N, False, False),
        ):
            return s


def test_the_consensus_rule_is_exactly_right_on_windows_that_follow_it():
    rng = random.Random(0)
    labels = np.array([EI, IE, N] * 40)
    sequences = [ruled(rng, label) for label in labels]
    rule = baselines.ConsensusRule().fit(sequences, labels)
    np.testing.assert_array_equal(rule.predict(sequences), labels)
    np.testing.assert_array_equal(rule.predict([s.lower() for s in sequences]), labels)
    assert rule.donor_first  # some EI windows hold AG too: GT must win on them


def test_the_consensus_rule_takes_its_precedence_from_the_training_windows():
    both = "A" * 28 + "AGGT" + "A" * 28  # AG before the junction and GT after it
    assert baselines.consensus_signals([both]) == (np.array([True]), np.array([True]))
    assert baselines.ConsensusRule().fit([both, both], np.array([IE, IE])).predict([both]).tolist() == [IE]
    assert baselines.ConsensusRule().fit([both, both], np.array([EI, EI])).predict([both]).tolist() == [EI]
    assert baselines.ConsensusRule(True).predict(["A" * 28 + "ARGT" + "A" * 28]).tolist() == [EI]
    assert baselines.ConsensusRule(True).predict(["A" * 28 + "AGNT" + "A" * 28]).tolist() == [IE]  # N != T
    with pytest.raises(ValueError, match="call fit"):
        baselines.ConsensusRule().predict([both])


def test_kmer_counts_equal_a_brute_count():
    rng = random.Random(1)
    sequences = ["".join(rng.choice("ACGT") for _ in range(rng.randint(1, 20))) for _ in range(12)]
    sequences += ["acgNtR", "GATTACA"]
    counts = baselines.kmer_counts(sequences, kmax=3).toarray()
    columns = ["".join(p) for k in (1, 2, 3) for p in itertools.product("ACGT", repeat=k)]
    assert counts.shape == (len(sequences), 4 + 16 + 64)
    for row, sequence in zip(counts, sequences):
        s = sequence.upper()
        brute = [sum(s[i : i + len(m)] == m for i in range(len(s) - len(m) + 1)) for m in columns]
        np.testing.assert_array_equal(row, brute)
    assert baselines.kmer_counts(["A"], kmax=6).shape == (1, 5460)


def test_the_learned_baselines_find_a_planted_motif_and_choose_on_validation_only():
    rng = random.Random(2)
    labels = np.array([EI, IE, N] * 60)
    sequences = [ruled(rng, label) for label in labels]
    corpus = dna.SpliceData(
        [f"s{i}" for i in range(len(labels))],
        sequences,
        [dna.encode(s, "s") for s in sequences],
        labels,
        "made-up",
    )
    splits = stratified_kfold(labels, 3, seed=0, source="made-up")
    result = baselines.score(corpus, splits)["baselines"]
    assert result["consensus"]["folds"] == [1.0, 1.0, 1.0]
    assert result["onehot-boosting"]["test_accuracy_mean"] >= 0.9
    assert all(c["C"] in baselines.LOGREG_C for c in result["kmer-logreg"]["chosen"])
    assert all(
        1 <= c["iterations"] <= baselines.BOOSTING_ITERATIONS for c in result["onehot-boosting"]["chosen"]
    )
    with pytest.raises(ValueError, match="unknown baseline"):
        baselines.score(corpus, splits, ["knn"])


def test_the_cli_scores_the_runs_own_splits_and_writes_them_beside_its_accuracy(tmp_path, capsys):
    data = write_splice(tmp_path / "splice")
    run = tmp_path / "run"
    assert (
        main(["dna", "train", "--data", str(data), "--cv", "3", "--out", str(run), *TINY, "--epochs", "2"])
        == 0
    )
    capsys.readouterr()
    assert main(["dna", "baselines", str(run), "--data", str(data), "--only", "consensus"]) == 0
    out = capsys.readouterr().out
    saved = json.loads((run / "baselines.json").read_text())
    folds = json.loads((run / "results.json").read_text())["folds"]
    assert saved["rnn"]["folds"] == [f["test_accuracy"] for f in folds]
    assert saved["splits"] == 3 and saved["source"] == Splits.load(run / "splits.json").source
    # the made-up file's donors carry CAG|GT and its acceptors ...CAG| with A/C around: the rule is exact
    assert saved["baselines"]["consensus"]["folds"] == [1.0, 1.0, 1.0]
    assert "consensus" in out and "100.00% +- 0.00%" in out
    assert main(["dna", "baselines", str(run), "--data", str(data), "--only", "knn"]) == 2
