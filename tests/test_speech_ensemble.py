"""``rnnkit speech ensemble``: finished digits runs answer with the mean of their probabilities,
each at its own features; evaluated fold by fold; the runs it cannot join are refused by name."""

from __future__ import annotations

import base64
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file
from test_speech import fake_fsdd, quick

from rnnkit.audio import FeatureConfig
from rnnkit.errors import ConfigError, InputError
from rnnkit.tasks.speech import data as corpora
from rnnkit.tasks.speech import ensemble
from rnnkit.tasks.speech import task as speech
from rnnkit.tasks.speech.predict import Predictor, evaluate
from rnnkit.train import CheckpointError

LOG_MELS = FeatureConfig(sample_rate=8000, n_mels=40, fmax=4000.0)  # the other member reads MFCCs


def test_an_ensemble_answers_and_scores_with_the_mean_of_its_members(tmp_path, capsys):
    from rnnkit.cli import main

    data = fake_fsdd(tmp_path)
    a, b, ens = tmp_path / "a", tmp_path / "b", tmp_path / "ens"
    results_a = speech.train(quick("digits", epochs=3), data, a)
    results_b = speech.train(quick("digits", epochs=2, features=LOG_MELS), data, b)
    assert main(["speech", "ensemble", str(a), str(b), "--out", str(ens)]) == 0
    assert "ensemble of 2 runs" in capsys.readouterr().out
    assert json.loads((ens / "ensemble.json").read_text())["members"] == ["members/01", "members/02"]

    corpus = corpora.read_fsdd(data)
    test = [p for p, i in zip(corpus.paths, corpus.indices) if i < 5]  # the dataset's split: 0-4
    entries = [(p.name, p) for p in test]
    joined = Predictor.from_run(ens)(entries)
    alone = [Predictor.from_run(run)(entries) for run in (a, b)]
    for answer, first, second in zip(joined, *alone):
        mean = (np.array(first["probabilities"]) + np.array(second["probabilities"])) / 2
        np.testing.assert_allclose(answer["probabilities"], mean, atol=1e-6)
        assert answer["digit"] == int(mean.argmax())

    result = evaluate(ens, data)  # through the corpus reader, not the files one by one
    truth = np.array([corpus.digits[list(corpus.paths).index(p)] for p in test])
    assert result["test_accuracy"] == pytest.approx(np.mean([a["digit"] for a in joined] == truth))
    members = [m["test_accuracy"] for m in result["members"]]
    assert members == pytest.approx([results_a["test_accuracy"], results_b["test_accuracy"]])
    assert np.array(result["test_confusion"]).sum() == len(test)

    assert main(["speech", str(ens), str(test[0]), "--format", "json"]) == 0  # the CLI reads it as a run
    row = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(row["probabilities"], joined[0]["probabilities"], atol=1e-6)


def test_a_leave_one_speaker_out_ensemble_is_scored_fold_by_fold(tmp_path, capsys):
    from rnnkit.cli import main

    data = fake_fsdd(tmp_path, per_digit=3)
    runs = [tmp_path / "a", tmp_path / "b"]
    folds_of = [
        speech.train(quick("digits", loso=True, epochs=e), data, run)["folds"] for e, run in zip((1, 2), runs)
    ]
    ensemble.create(runs, tmp_path / "ens")
    result = evaluate(tmp_path / "ens", data)
    assert [f["name"] for f in result["folds"]] == ["ann", "bob", "cyd"]
    for k, fold in enumerate(result["folds"]):
        assert [m["test_accuracy"] for m in fold["members"]] == pytest.approx(
            [folds_of[0][k]["test_accuracy"], folds_of[1][k]["test_accuracy"]]
        )
    assert result["test_accuracy_mean"] == pytest.approx(
        np.mean([f["test_accuracy"] for f in result["folds"]])
    )
    assert main(["speech", "evaluate", str(tmp_path / "ens"), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "held out cyd" in out and f"test_accuracy {result['test_accuracy_mean']:.2%}" in out
    # one model per held-out speaker and member: scored, not asked about files (it said "no weights")
    with pytest.raises(ConfigError, match="joins leave-one-speaker-out runs.*rnnkit speech evaluate"):
        Predictor.from_run(tmp_path / "ens")
    weights = [[f.read_bytes() for f in sorted(run.glob("folds/*/best.safetensors"))] for run in runs]
    k = next(k for k, (a, b) in enumerate(zip(*weights), 1) if a != b)  # fold k kept other epochs
    fold = [run / "folds" / f"{k:02d}" for run in runs]
    ensemble.create(fold, tmp_path / "one-fold")  # what the error offers instead
    entries = [(p.name, p) for p in sorted((data / "recordings").glob("*_ann_*.wav"))[:3]]
    answers = Predictor.from_run(tmp_path / "one-fold")(entries)
    alone = [Predictor.from_run(member)(entries) for member in fold]
    for answer, first, second in zip(answers, *alone):
        mean = (np.array(first["probabilities"]) + np.array(second["probabilities"])) / 2
        np.testing.assert_allclose(answer["probabilities"], mean, atol=1e-6)


def test_runs_an_ensemble_cannot_join_are_refused_by_name(tmp_path):
    data = fake_fsdd(tmp_path, per_digit=6)  # recordings 0-4 test, 5 trains
    digits, other_seed = tmp_path / "digits", tmp_path / "other"
    speech.train(quick("digits", epochs=1), data, digits)
    speech.train(quick("digits", epochs=1, split_seed=1), data, other_seed)
    strings = tmp_path / "strings"
    speech.train(quick("strings", epochs=1, train_strings=20, test_strings=5), data, strings)
    loso = tmp_path / "loso"
    speech.train(quick("digits", loso=True, epochs=1), data, loso)

    with pytest.raises(InputError, match="two runs or more, got 1"):
        ensemble.create([digits], tmp_path / "e1")
    with pytest.raises(ConfigError, match="is a --task strings run"):
        ensemble.create([digits, strings], tmp_path / "e2")
    with pytest.raises(ConfigError, match="holds 1 model.* and .*loso 3"):
        ensemble.create([digits, loso], tmp_path / "e3")
    with pytest.raises(ConfigError, match=r"\(its split\) has other validation recordings"):
        ensemble.create([digits, other_seed], tmp_path / "e4")
    with pytest.raises(InputError, match="not an empty folder"):
        ensemble.create([digits, digits], digits)
    # the same run twice (by one path or as a copy) would count its vote double
    shutil.copytree(digits, tmp_path / "copy")
    with pytest.raises(ConfigError, match="the same weights"):
        ensemble.create([digits, tmp_path / "digits" / ".." / "digits"], tmp_path / "e5")
    with pytest.raises(ConfigError, match=r"copy and .*digits hold the same weights"):
        ensemble.create([digits, tmp_path / "copy"], tmp_path / "e6")
    assert not any((tmp_path / f"e{k}").exists() for k in range(1, 7))  # nothing half made

    weights = load_file(tmp_path / "copy" / "best.safetensors")  # another run of the same split
    save_file({name: w + 0.01 for name, w in weights.items()}, tmp_path / "copy" / "best.safetensors")
    ensemble.create([digits, tmp_path / "copy"], tmp_path / "ok")
    with pytest.raises(ConfigError, match="ok is an ensemble; give the runs it joins"):
        ensemble.create([tmp_path / "ok", digits], tmp_path / "e7")
    (tmp_path / "ok" / "ensemble.json").write_text('{"members": ["../digits"]}')
    with pytest.raises(CheckpointError, match="not in it"):
        Predictor.from_run(tmp_path / "ok")


def test_a_file_one_member_cannot_read_is_answered_by_an_error_in_its_place(tmp_path):
    """Members read each file at their own rate and length limit: a file too long for one member
    is an error in its place, named, and the other files are answered with the mean all the same."""
    data = fake_fsdd(tmp_path, speakers=("ann",), per_digit=1)  # 0.3 s recordings at 8 kHz
    first = speech.resolved(quick("digits"))
    second = speech.resolved(
        quick("digits", features=FeatureConfig(sample_rate=16000, n_mels=40, max_seconds=0.5))
    )
    torch.manual_seed(0)
    one, two = speech.build_model(first), speech.build_model(second)
    short = data / "recordings" / "3_ann_0.wav"
    wave, rate = sf.read(short, dtype="float32")
    sf.write(tmp_path / "long.wav", np.tile(wave, 3), rate)  # 0.9 s: within 30 s, over 0.5 s
    entries = [("short", short), ("long", tmp_path / "long.wav"), ("again", short)]
    answers = Predictor(one, first, None, [(two, second)])(entries)
    assert answers[1]["name"] == "long" and "longer than the limit of 0.5 s" in answers[1]["error"]
    alone = [
        Predictor(model, config)([("short", short)])[0] for model, config in ((one, first), (two, second))
    ]
    mean = (np.array(alone[0]["probabilities"]) + np.array(alone[1]["probabilities"])) / 2
    for answer in (answers[0], answers[2]):
        np.testing.assert_allclose(answer["probabilities"], mean, atol=1e-6)
        assert answer["seconds"] == pytest.approx(alone[0]["seconds"])

    # the server refuses it before it joins a batch (a 422), instead of failing the batch in answer
    from rnnkit.serve.speech import SpeechModel, SpeechRequest

    served = SpeechModel.__new__(SpeechModel)  # its load() reads a run; the predictor is the ensemble's
    served.predictor = Predictor(one, first, None, [(two, second)])
    body = base64.b64encode((tmp_path / "long.wav").read_bytes()).decode()
    with pytest.raises(InputError, match="long.wav: 0.9 s of audio is longer than the limit of 0.5 s"):
        served.check(SpeechRequest(text="long.wav", audio=body))
    served.check(SpeechRequest(text="short.wav", audio=base64.b64encode(short.read_bytes()).decode()))
