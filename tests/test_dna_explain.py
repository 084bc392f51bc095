"""Saturation mutagenesis and the scan (issue 27): the batched attribution equals one mutation at a
time on a small random model in float64 (a cross-validated run's mean of probabilities included),
the scan's probability at position p equals the model on that window alone, and the CLI's views."""

import json
import random

import numpy as np
import pytest
import torch
from test_dna import data, trained, window  # noqa: F401 (module fixtures: a tiny trained run)

from rnnkit.cli import main
from rnnkit.data.sequences import FeatureSequences
from rnnkit.errors import InputError
from rnnkit.models.sequence import SequenceModel, SequenceModelConfig
from rnnkit.tasks import dna
from rnnkit.tasks.dna import explain, scan


def random_models(count: int, seed: int = 0) -> list[SequenceModel]:
    torch.manual_seed(seed)
    config = SequenceModelConfig(input_size=4, num_classes=3, hidden_size=6, pooling="center")
    return [SequenceModel(config).double().eval() for _ in range(count)]


def alone(models, sequence: str) -> np.ndarray:
    """(C,): one forward of one sequence."""
    return dna.probabilities(models, FeatureSequences([dna.encode(sequence, "s")], dtype=np.float64))[0]


@pytest.mark.parametrize("count", [1, 3])  # 3: a cross-validated run's mean over its folds
def test_saturation_mutagenesis_equals_one_mutation_at_a_time(count):
    models = random_models(count)
    rng = random.Random(count)
    entries = [("a", "".join(rng.choice("ACGT") for _ in range(14))), ("b", "ACgTNRacgtA"), ("c", "GT")]
    for attribution, (_, sequence) in zip(
        explain.saturation_mutagenesis(models, entries, np.float64), entries
    ):
        p = alone(models, sequence)
        c = int(p.argmax())
        assert attribution.label == dna.CLASSES[c]
        np.testing.assert_allclose(attribution.probabilities, p, rtol=1e-12)
        brute = np.zeros((len(sequence), 4))
        for t in range(len(sequence)):
            for b, base in enumerate(dna.BASES):
                if sequence[t].upper() == base:
                    continue  # no change: 0 by definition
                mutant = sequence[:t] + base + sequence[t + 1 :]
                brute[t, b] = np.log(alone(models, mutant)[c]) - np.log(p[c])
        np.testing.assert_allclose(attribution.delta, brute, rtol=1e-9, atol=1e-12)
        others = np.array([3 if s.upper() in dna.BASES else 4 for s in sequence])
        np.testing.assert_allclose(attribution.importance, -brute.sum(axis=1) / others, rtol=1e-9, atol=1e-12)
    assert (np.abs(attribution.delta) > 0).sum() == 2 * 3  # "GT": every change moved the probability


def test_no_sequences_no_attributions():
    assert explain.saturation_mutagenesis(random_models(1), []) == []


def test_mutants_set_one_position_to_one_base_each():
    x = dna.encode("ACN", "s")
    m = explain.mutants(x)  # (12, 3, 4)
    assert m.shape == (12, 3, 4)
    for row in range(12):
        t, b = divmod(row, 4)
        expected = x.astype(np.float64).copy()
        expected[t] = np.eye(4)[b]
        np.testing.assert_array_equal(m[row], expected)


def test_decisive_positions_and_window_coordinates():
    assert explain.decisive(np.array([0.1, 1.0, 0.3, -2.0])).tolist() == [False, True, True, False]
    assert not explain.decisive(np.array([-1.0, 0.0])).any()
    labels = explain.window_positions(60)
    assert labels[0] == "-30" and labels[29] == "-1" and labels[30] == "+1" and labels[59] == "+30"


def test_the_scan_at_each_position_equals_the_model_on_that_window():
    models = random_models(2, seed=3)
    rng = random.Random(4)
    sequence = "".join(rng.choice("ACGT") for _ in range(75)) + "nRA"
    track = scan.scan(models, "g", sequence, dtype=np.float64)
    assert track.positions.tolist() == list(range(30, len(sequence) - 30 + 1))
    for row, p in enumerate(track.positions):
        own = sequence[p - 30 : p + 30]  # bases p-29 .. p+30, 1-based: the junction after base p
        np.testing.assert_allclose(track.probabilities[row], alone(models, own), rtol=1e-12)
    with pytest.raises(InputError, match="has 59 bases, fewer than the model's 60-base window"):
        scan.scan(models, "short", sequence[:59])
    with pytest.raises(InputError, match="'U' at position 3"):
        scan.scan(models, "rna", "ACU" + sequence)


def test_sites_are_the_positions_over_the_threshold_in_order():
    probs = np.array([[0.6, 0.1, 0.3], [0.2, 0.7, 0.1], [0.5, 0.5, 0.0], [0.1, 0.1, 0.8]])
    track = scan.Track("g", 63, np.array([30, 31, 32, 33]), probs)
    assert [(s["position"], s["site"]) for s in track.sites(0.5)] == [
        (30, "donor"),
        (31, "acceptor"),
        (32, "donor"),
        (32, "acceptor"),
    ]
    assert track.sites(0.9) == []


# -- the CLI on a tiny trained run (planted motifs: see test_dna) -------------------------------------


def test_explain_marks_the_decisive_bases_and_writes_a_logo(trained, tmp_path, capsys):  # noqa: F811
    donor = window(random.Random(11), "EI")
    png = tmp_path / "logo.png"
    assert main(["dna", str(trained), donor, "--explain", str(png), "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["class"] == "EI" and len(row["importance"]) == 60 and set(row["delta"]) == set("ACGT")
    models = dna.Predictor.from_run(trained).models
    own = explain.saturation_mutagenesis(models, [("sequence 1", donor)])[0]
    np.testing.assert_allclose(row["importance"], own.importance, atol=1e-6)  # the library's numbers
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["dna", str(trained), donor, "--explain", str(png)]) == 0
    lines = capsys.readouterr().out.splitlines()  # not a terminal: a line of ^ under the decisive bases
    assert lines[0].split()[:3] == ["sequence", "1", "EI"] and lines[1].strip() == donor
    marks = [i for i, c in enumerate(lines[2][2:]) if c == "^"]
    assert marks == np.flatnonzero(explain.decisive(own.importance)).tolist()
    assert "\033[" not in "".join(lines)


def test_explain_answers_a_bad_sequence_in_its_row_and_numbers_the_logos(trained, tmp_path, capsys):  # noqa: F811
    rng = random.Random(12)
    png = tmp_path / "x.png"
    sequences = [window(rng, "IE"), "ACGU", window(rng, "N")]
    assert main(["dna", str(trained), *sequences, "--explain", str(png), "--format", "json"]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r.get("class") for r in rows] == ["IE", None, "N"] and "'U' at position 4" in rows[1]["error"]
    assert [r.get("png") for r in rows] == [str(tmp_path / "x-1.png"), None, str(tmp_path / "x-3.png")]
    assert (tmp_path / "x-1.png").is_file() and not (tmp_path / "x-2.png").exists()


def test_scan_reports_the_planted_sites_by_position_and_plots_the_track(trained, tmp_path, capsys):  # noqa: F811
    rng = random.Random(13)
    parts = [window(rng, label) for label in ("N", "EI", "N", "IE", "N")]
    fasta = tmp_path / "g.fa"
    fasta.write_text(">g made up\n" + "".join(parts) + "\n>bad\nACGT\n")
    plot = tmp_path / "track.png"
    args = ["dna", str(trained), "--scan", str(fasta), "--plot", str(plot), "--format", "json"]
    assert main([*args, "--threshold", "0.9"]) == 1  # the second record is too short to scan
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["scanned"] == [30, 270] and first["plot"] == str(tmp_path / "track-1.png")
    donors = [s["position"] for s in first["sites"] if s["site"] == "donor"]
    acceptors = [s["position"] for s in first["sites"] if s["site"] == "acceptor"]
    assert 60 + 30 in donors and 180 + 30 in acceptors  # the junctions of windows 2 and 4
    assert all(s["probability"] >= 0.9 for s in first["sites"])
    assert "fewer than the model's 60-base window" in second["error"]
    assert (tmp_path / "track-1.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["dna", str(trained), "ACGT" * 20, "--threshold", "0.3"]) == 2
    assert "--threshold is an option of --scan" in capsys.readouterr().err
