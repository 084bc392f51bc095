"""The DNA task end to end on a small made-up splice file (a planted donor or acceptor motif at the
junction): training on the split and on folds, resume, evaluation, prediction from arguments,
files and FASTA, the base adapter's mixtures and its one-line errors."""

import json
import random

import numpy as np
import pytest
import torch
from helpers import Killed

from rnnkit.cli import main
from rnnkit.config import apply_overrides
from rnnkit.data import DataError
from rnnkit.errors import InputError
from rnnkit.tasks import dna
from rnnkit.train import checkpoint as ckpt
from rnnkit.train.cv import HOLDOUT, KFOLD, Splits, mean_sd

DONOR = "CAGGTAAGT"  # exon ...CAG | GTAAGT intron: the junction between positions 30 and 31
ACCEPTOR = "TTTTTTTTTTTCAG"  # a polypyrimidine tract, then AG, the junction after it
PER_CLASS = 30


def window(rng: random.Random, label: str) -> str:
    """60 bases of A and C (a background a tiny model separates from the motifs in seconds), with
    the donor's GT or the acceptor's pyrimidine tract and AG at the junction, or nothing (N)."""
    bases = [rng.choice("AC") for _ in range(dna.WINDOW)]
    if label == "EI":
        bases[27:36] = DONOR
    elif label == "IE":
        bases[16:30] = ACCEPTOR
    return "".join(bases)


def write_splice(folder, per_class=PER_CLASS, seed=0):
    """``splice.data`` in the UCI layout: ``CLASS,  NAME,  SEQUENCE``, classes grouped as there."""
    rng = random.Random(seed)
    lines = [
        f"{label},    SYN-{label}-{i},    {window(rng, label)}"
        for label in dna.CLASSES
        for i in range(per_class)
    ]
    lines[-1] = lines[-1][:-10] + "NNDSRNNNNN"  # the ambiguity codes of the real file
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "splice.data").write_text("\n".join(lines) + "\n")
    return folder


TINY = [
    *("--set", "model.hidden_size=8", "--set", "model.dropout=0.0", "--set", "test_size=30"),
    *("--set", "train.warmup=0.0", "--epochs", "15", "--batch-size", "16", "--lr", "0.03"),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_splice(tmp_path_factory.mktemp("splice"))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("dna") / "run"
    assert main(["dna", "train", "--data", str(data), "--out", str(run), *TINY]) == 0
    return run


@pytest.fixture(scope="module")
def folds(data, tmp_path_factory):
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("dna-cv") / "run"
    assert main(["dna", "train", "--data", str(data), "--cv", "3", "--out", str(run), *TINY]) == 0
    return run


def test_training_on_the_split_finds_the_planted_motifs(trained):
    results = json.loads((trained / "results.json").read_text())
    assert results["test_accuracy"] >= 0.9
    assert results["sizes"] == {"train": 54, "validation": 6, "test": 30}
    assert json.loads((trained / "run.json").read_text())["task"] == "dna"
    splits = Splits.load(trained / dna.SPLITS_FILE)
    assert splits.kind == HOLDOUT and len(splits) == 1
    assert np.bincount(np.array([0] * 30 + [1] * 30 + [2] * 30)[splits[0].test]).tolist() == [10, 10, 10]


def test_evaluate_gives_the_runs_test_accuracy_and_a_confusion_matrix(trained, data, capsys):
    result = dna.evaluate(trained, data)
    saved = json.loads((trained / "results.json").read_text())
    assert result["accuracy"] == pytest.approx(saved["test_accuracy"])
    assert result["tested"] == 30 and np.sum(result["confusion"]) == 30
    assert main(["dna", "evaluate", str(trained), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert f"test accuracy {saved['test_accuracy']:.2%} on 30 sequences" in out and "EI" in out


def test_a_resume_goes_on_and_refuses_other_settings(trained, data, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["dna", "train", "--data", str(data), "--out", str(run), *TINY]
    assert main([*args, "--epochs", "2"]) == 0
    assert main([*args, "--epochs", "3"]) == 0  # one more epoch, from the saved one
    history = json.loads((run / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    capsys.readouterr()
    assert main([*args, "--epochs", "3", "--set", "model.hidden_size=16"]) == 2
    assert "holds a run with other settings (model.hidden_size: 8 saved, 16 asked)" in capsys.readouterr().err


def test_predict_answers_each_sequence_in_order_and_an_error_row_for_a_bad_one(trained, capsys):
    rng = random.Random(5)
    sequences = [window(rng, "EI"), window(rng, "IE").replace("A", "U", 1), window(rng, "N").lower()]
    status = main(["dna", str(trained), *sequences, "--format", "json"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 1  # a row is an error
    assert [row["name"] for row in rows] == ["sequence 1", "sequence 2", "sequence 3"]
    assert rows[0]["class"] == "EI" and rows[2]["class"] == "N"
    assert sum(rows[0]["probabilities"].values()) == pytest.approx(1.0)
    position = sequences[1].index("U") + 1
    assert rows[1] == {
        "name": "sequence 2",
        "error": f"sequence 2: 'U' at position {position} is not a DNA base "
        "(U is RNA's uracil; write T for DNA)",
    }


def test_predict_runs_a_few_sequences_on_one_thread_unless_told(trained, capsys):
    """The thread rule of every predictor (rnnkit.runtime.inference_threads, issue 30)."""
    sequence = window(random.Random(4), "EI")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert main(["dna", str(trained), sequence]) == 0
        assert torch.get_num_threads() == 1
        assert main(["dna", str(trained), sequence, "--threads", "2"]) == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    capsys.readouterr()


def test_predict_reads_fasta_with_names_and_answers_an_empty_record(trained, tmp_path, capsys):
    rng = random.Random(6)
    donor, acceptor = window(rng, "EI"), window(rng, "IE")
    fasta = tmp_path / "seqs.fa"
    fasta.write_text(f">donor one\n{donor[:30]}\n{donor[30:]}\n>empty\n>acceptor\n{acceptor.lower()}\n")
    assert main(["dna", "predict", str(trained), "--file", str(fasta)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "class", "P(EI)", "P(IE)", "P(N)", "sequence"]
    assert out[1].split()[:2] == ["donor", "EI"] and out[1].endswith(donor)
    assert out[2].split()[:2] == ["empty", "error:"]
    assert out[3].split()[:2] == ["acceptor", "IE"]


def test_predict_reads_one_sequence_a_line_keeping_blank_lines_in_place(trained, tmp_path, capsys):
    rng = random.Random(7)
    lines = tmp_path / "seqs.txt"
    lines.write_text(f"{window(rng, 'EI')}\n\n{window(rng, 'IE')}\r\n")
    assert main(["dna", str(trained), "--file", str(lines), "--format", "json"]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row.get("class") for row in rows] == ["EI", None, "IE"]
    assert rows[1]["error"].startswith("line 2 is empty")


def test_predictions_in_a_batch_equal_each_sequence_alone(trained):
    predictor = dna.Predictor.from_run(trained)
    rng = random.Random(8)
    entries = [
        (f"s{i}", window(rng, label)[: 40 + 5 * i]) for i, label in enumerate(["EI", "IE", "N", "EI", "N"])
    ]
    together = predictor(entries)
    for entry, answer in zip(entries, together):
        alone = predictor([entry])[0]
        assert alone["class"] == answer["class"]
        for name in dna.CLASSES:
            assert alone["probabilities"][name] == pytest.approx(answer["probabilities"][name], abs=1e-6)


def test_cross_validation_records_its_folds_and_reports_mean_and_sd(folds, data):
    splits = Splits.load(folds / dna.SPLITS_FILE)
    assert splits.kind == KFOLD and len(splits) == 3
    assert sorted(np.concatenate([s.test for s in splits]).tolist()) == list(range(3 * PER_CLASS))
    results = json.loads((folds / "results.json").read_text())
    accuracies = [f["test_accuracy"] for f in results["folds"]]
    assert (results["test_accuracy_mean"], results["test_accuracy_sd"]) == pytest.approx(mean_sd(accuracies))
    assert results["test_accuracy_mean"] >= 0.85
    for k, split in enumerate(splits, 1):
        own = Splits.load(dna.fold_dir(folds, k) / dna.SPLITS_FILE)  # each fold is a run of its own
        assert len(own) == 1 and np.array_equal(own[0].test, split.test)
    assert dna.evaluate(folds, data)["folds"] == pytest.approx(accuracies)


def test_a_finished_cross_validation_run_again_keeps_its_folds(folds, data):
    best = dna.fold_dir(folds, 2) / ckpt.BEST
    before = best.stat().st_mtime_ns
    assert main(["dna", "train", "--data", str(data), "--cv", "3", "--out", str(folds), *TINY]) == 0
    assert best.stat().st_mtime_ns == before


class KillInFold:
    """Dies (the process killed) at epoch ``epoch`` of fold ``fold``."""

    def __init__(self, fold: int, epoch: int) -> None:
        self.fold, self.epoch, self.current = fold, epoch, 0

    def on_message(self, text):
        if text.startswith("fold "):
            self.current = int(text.split()[1])

    def on_epoch_begin(self, epoch, *_):
        if (self.current, epoch) == (self.fold, self.epoch):
            raise Killed


def test_an_interrupted_cross_validation_keeps_its_finished_folds_and_resumes_the_next(data, tmp_path):
    tiny = [a for a in TINY if "=" in a] + ["train.epochs=4", "train.batch_size=16", "train.lr=0.03"]
    config = apply_overrides(dna.preset("fast"), [*tiny, "cv=3"])
    run = tmp_path / "run"
    with pytest.raises(Killed):
        dna.train(config, data, run, [KillInFold(2, 3)])
    first = (dna.fold_dir(run, 1) / ckpt.BEST).stat().st_mtime_ns
    assert not (dna.fold_dir(run, 2) / "results.json").exists()
    results = dna.train(config, data, run)
    assert (dna.fold_dir(run, 1) / ckpt.BEST).stat().st_mtime_ns == first  # kept as it was
    history = json.loads((dna.fold_dir(run, 2) / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]  # epochs 1-2 saved, 3-4 after the resume
    assert [f["epochs"] for f in results["folds"]] == [4, 4, 4]


def test_the_split_run_refuses_a_cross_validated_run_directory(folds, data, capsys):
    assert main(["dna", "train", "--data", str(data), "--out", str(folds), *TINY]) == 2
    assert "holds a run with other settings (cv: 3 saved, 0 asked)" in capsys.readouterr().err
    assert main(["dna", "train", "--data", str(data), "--cv", "1", "--out", str(folds / "x")]) == 2
    assert "cv must be 0 (the 2,000/1,190 split) or a number of folds >= 2, got 1" in capsys.readouterr().err


def test_a_cross_validated_run_predicts_with_the_mean_of_its_folds(folds):
    predictor = dna.Predictor.from_run(folds)
    assert len(predictor.models) == 3
    rng = random.Random(9)
    sequence = window(rng, "IE")
    answer = predictor([("x", sequence)])[0]
    each = [dna.Predictor([m])([("x", sequence)])[0]["probabilities"]["IE"] for m in predictor.models]
    assert answer["probabilities"]["IE"] == pytest.approx(np.mean(each), abs=1e-6)  # float32


def test_splits_made_on_other_data_are_refused(trained, tmp_path):
    other = write_splice(tmp_path / "other", seed=1)
    with pytest.raises(ckpt.CheckpointError, match="was made on other data"):
        dna.evaluate(trained, other)


# -- the adapter ---------------------------------------------------------------------------------


def test_bases_are_one_hot_and_ambiguity_codes_the_mixture_of_their_bases():
    x = dna.encode("AcgTNRDS", "s")
    expected = [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
        [0.25, 0.25, 0.25, 0.25],
        [0.5, 0, 0.5, 0],  # R: A or G
        [1 / 3, 0, 1 / 3, 1 / 3],  # D: A, G or T
        [0, 0.5, 0.5, 0],  # S: C or G
    ]
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    assert x.shape == (8, 4) and x.dtype == np.float32
    for code, bases in dna.IUPAC.items():  # every code sums to one over exactly its bases
        row = dna.encode(code, "s")[0]
        assert row.sum() == pytest.approx(1.0) and {dna.BASES[i] for i in np.flatnonzero(row)} == set(bases)


@pytest.mark.parametrize(
    ("sequence", "message"),
    [
        ("ACGU", r"^s: 'U' at position 4 is not a DNA base \(U is RNA's uracil; write T for DNA\)$"),
        ("AC7G", r"^s: '7' at position 3 is not a DNA base \(a digit"),
        ("ACXG", r"^s: 'X' at position 3 is not a DNA base \(expected A, C, G, T or an IUPAC code"),
        ("AC-G", r"^s: '-' at position 3 is not a DNA base \(a gap"),
        ("ACé", r"^s: 'é' at position 3 is not a DNA base"),
        ("  ", r"^s is empty"),
    ],
)
def test_anything_else_is_a_one_line_error_naming_the_sequence_and_position(sequence, message):
    with pytest.raises(InputError, match=message):
        dna.encode(sequence, "s")


def test_the_reader_names_the_line_of_a_bad_class_or_base(tmp_path):
    path = tmp_path / "splice.data"
    path.write_text("EI, A, ACGT\nXX, B, ACGT\n")
    with pytest.raises(DataError, match=r"line 2: class 'XX' is not one of EI, IE, N"):
        dna.read_splice(path)
    path.write_text("EI, A, ACGT\nN, B, AC1T\n")
    with pytest.raises(DataError, match=r"line 2: B: '1' at position 3 is not a DNA base"):
        dna.read_splice(path)
    with pytest.raises(DataError, match="no splice.data found in"):
        dna.find(tmp_path / "nowhere")


def test_the_reader_reads_the_uci_layout(data):
    corpus = dna.read_splice(dna.find(data))
    assert len(corpus.names) == 3 * PER_CLASS and corpus.names[0] == "SYN-EI-0"
    assert np.bincount(corpus.labels).tolist() == [PER_CLASS] * 3
    np.testing.assert_allclose(corpus.features[-1][-1], [0.25] * 4)
    assert corpus.source.startswith("sha256:")
