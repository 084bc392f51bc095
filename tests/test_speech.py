"""The speech task on made-up corpora: tones stand for digits and letters, so a small model learns
them in seconds. FSDD's split and leave-one-speaker-out, the spliced strings, the speechocean762
reader, leak checks, a one-utterance CTC overfit to 0 CER, and (when ../shared/data is there) the
real corpora's splits."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from rnnkit.audio import AugmentConfig, FeatureConfig, MaskConfig, features
from rnnkit.data.locate import DataError
from rnnkit.data.sequences import FeatureSequences
from rnnkit.decode.ctc import greedy
from rnnkit.errors import ConfigError
from rnnkit.models.sequence import SequenceModel, SequenceModelConfig, make_step
from rnnkit.tasks.speech import data as corpora
from rnnkit.tasks.speech import task as speech
from rnnkit.train import TrainConfig, seed_everything
from rnnkit.train.cv import fixed_split

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def tone(freq: float, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wobble = 1 + 0.02 * rng.normal()  # each "speaker" says it a little differently
    return (0.3 * np.sin(2 * np.pi * freq * wobble * t)).astype(np.float32)


def fake_fsdd(root: Path, speakers=("ann", "bob", "cyd"), per_digit: int = 7) -> Path:
    rng = np.random.default_rng(0)
    folder = root / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    for speaker in speakers:
        for digit in range(10):
            for index in range(per_digit):
                silence = np.zeros(400, np.float32)  # per-band normalisation needs change over time
                wave = np.concatenate([silence, tone(250 + 300 * digit, 0.2, 8000, rng), silence])
                wave += rng.normal(0, 0.003, size=len(wave)).astype(np.float32)
                sf.write(folder / f"{digit}_{speaker}_{index}.wav", wave, 8000)
    return root / "fsdd"


LETTERS = {"A": 500.0, "B": 1100.0, "C": 1900.0}


def spoken(text: str, rng: np.random.Generator, rate: int = 16000) -> np.ndarray:
    pieces = [np.zeros(int(0.1 * rate), np.float32)]
    for c in text:
        pieces.append(
            np.zeros(int(0.12 * rate), np.float32) if c == " " else tone(LETTERS[c], 0.15, rate, rng)
        )
        pieces.append(np.zeros(int(0.05 * rate), np.float32))
    return np.concatenate(pieces) + rng.normal(0, 0.003, size=sum(map(len, pieces))).astype(np.float32)


def fake_speechocean(root: Path) -> Path:
    rng = np.random.default_rng(1)
    base = root / "speechocean762"
    sentences = ["AB C", "BA", "CAB", "C B A", "AC", "BC A", "ABC", "CA B"]
    read = {"train": sentences, "test": ["ab c!", "CB", "BAC", "A B C", "CC A", "B CA", "AAB", "C BA"]}
    for part, speakers in (("train", ["0001", "0002", "0003", "0004"]), ("test", ["0009"])):
        (base / part).mkdir(parents=True)
        text, scp, utt2spk = [], [], []
        for s, speaker in enumerate(speakers):
            sentences = read[part]  # the test speaker's first sentence is a training one, written otherwise
            for k, sentence in enumerate(sentences):
                utt = f"{speaker}{k:04d}"
                path = Path("audio") / f"SPEAKER{speaker}" / f"{utt}.opus"
                (base / path).parent.mkdir(parents=True, exist_ok=True)
                sf.write(base / path, spoken(corpora.normalize_text(sentence), rng), 16000,
                         format="OGG", subtype="OPUS")  # fmt: skip
                text.append(f"{utt}\t{sentence.lower() if s % 2 else sentence}")
                scp.append(f"{utt} {path}")
                utt2spk.append(f"{utt} {speaker}")
        for name, lines in (("text", text), ("wav.scp", scp), ("utt2spk", utt2spk)):
            (base / part / name).write_text("\n".join(lines) + "\n")
    return base


def quick(task: str, **fields) -> speech.SpeechConfig:
    config = speech.preset(task)
    train = TrainConfig(epochs=fields.pop("epochs", 6), batch_size=16, lr=1e-2, monitor=config.train.monitor)
    # the made-up digits are single tones 300 Hz apart: a 15% speed change turns one into the next
    fields.setdefault("augment", AugmentConfig())
    return dataclasses.replace(config, train=train, **fields)


def test_fsdd_split_and_leave_one_speaker_out_never_test_on_training_recordings(tmp_path):
    corpus = corpora.read_fsdd(fake_fsdd(tmp_path))
    split = speech.fsdd_splits(quick("digits"), corpus)[0]
    train, validation, test = split.train, split.validation, split.test
    assert set(corpus.indices[test]) == set(range(5))
    assert not set(train) & set(test) and not set(validation) & set(test) and not set(train) & set(validation)
    assert len(train) + len(validation) + len(test) == len(corpus.paths)
    split = speech.fsdd_splits(quick("digits", speaker="bob"), corpus)[0]
    assert set(corpus.speakers[split.test]) == {"bob"}
    assert "bob" not in set(corpus.speakers[split.train]) | set(corpus.speakers[split.validation])
    every = speech.fsdd_splits(quick("digits", loso=True), corpus)
    assert every.names == ["ann", "bob", "cyd"] and len(every) == 3
    with pytest.raises(DataError, match="no FSDD speaker 'zed'"):
        speech.fsdd_splits(quick("digits", speaker="zed"), corpus)
    with pytest.raises(DataError, match="1 test recordings also occur in training"):
        corpora.check_disjoint(["a.wav", "b.wav"], ["b.wav"], "recordings")
    leaky = dataclasses.replace(split, train=np.concatenate([split.train, split.test[:1]]))
    with pytest.raises(DataError, match="also occur in training"):
        speech.check_fsdd_split(corpus, leaky, speaker_independent=True)


def test_leave_one_speaker_out_runs_a_fold_per_speaker(tmp_path):
    data = fake_fsdd(tmp_path, speakers=("ann", "bob", "cyd"), per_digit=3)
    results = speech.train(quick("digits", loso=True, epochs=2), data, tmp_path / "run")
    assert [f["name"] for f in results["folds"]] == ["ann", "bob", "cyd"]
    accuracies = [f["test_accuracy"] for f in results["folds"]]
    assert results["test_accuracy_mean"] == pytest.approx(np.mean(accuracies))
    for k in (1, 2, 3):
        fold = tmp_path / "run" / "folds" / f"0{k}"
        assert (fold / "best.safetensors").is_file()


def test_strings_join_one_speakers_recordings_of_one_part_seeded(tmp_path):
    corpus = corpora.read_fsdd(fake_fsdd(tmp_path))
    _, test = corpus.dataset_split()
    strings = corpora.make_strings(corpus, test, 20, seed=3)
    again = corpora.make_strings(corpus, test, 20, seed=3)
    for wave, digits, sources, other in zip(strings.waves, strings.digits, strings.sources, again.waves):
        np.testing.assert_array_equal(wave, other)
        assert set(sources) <= set(test.tolist())
        assert len({corpus.speakers[i] for i in sources}) == 1
        np.testing.assert_array_equal(digits, corpus.digits[sources])
        assert 2 <= len(digits) <= 7
        speech_samples = sum(len(corpus.waves[i]) for i in sources)
        assert speech_samples + 0.05 * 8000 * (len(sources) + 1) <= len(wave)


def test_digits_train_on_the_template_and_score_accuracy_and_confusion(tmp_path):
    data = fake_fsdd(tmp_path)
    results = speech.train(quick("digits", epochs=15), data, tmp_path / "run")
    assert results["sizes"]["test"] == 3 * 10 * 5
    assert results["test_accuracy"] >= 0.9
    table = np.array(results["test_confusion"])
    assert table.shape == (10, 10) and table.sum() == 150
    assert np.trace(table) / 150 == pytest.approx(results["test_accuracy"])


def test_masks_are_seeded_by_epoch_and_item_and_only_in_training(tmp_path):
    corpus = corpora.read_fsdd(fake_fsdd(tmp_path))
    config = quick("digits")
    data = speech.prepare(config, None, corpus)
    first = data.train.collate(np.array([0, 1])).features.clone()
    assert torch.equal(first, data.train.collate(np.array([0, 1])).features)
    data.train.epoch = 1
    assert not torch.equal(first, data.train.collate(np.array([0, 1])).features)
    plain = FeatureSequences(data.train.features[:2], labels=data.train.labels[:2]).collate(np.array([0, 1]))
    assert not torch.equal(first, plain.features)  # masked ...
    assert (first == plain.features).float().mean() > 0.5  # ... in parts only
    assert not isinstance(data.test, speech.MaskedSequences)


def test_voice_variants_are_drawn_per_epoch_seeded_and_only_in_training(tmp_path):
    corpus = corpora.read_fsdd(fake_fsdd(tmp_path))
    augment = AugmentConfig(variants=3, speed=0.15, warp=0.1)
    config = dataclasses.replace(quick("digits"), augment=augment, masks=MaskConfig())
    data, again = speech.prepare(config, None, corpus), speech.prepare(config, None, corpus)
    plain = speech.prepare(dataclasses.replace(config, augment=AugmentConfig()), None, corpus)
    train = data.splits[0].train
    assert len(data.train.variants) == len(train) and all(len(v) == 3 for v in data.train.variants)
    for copies, other in zip(data.train.variants, again.train.variants):  # seeded
        for x, y in zip(copies, other):
            np.testing.assert_array_equal(x, y)
    speeds = [len(x) / len(o) for o, v in zip(data.train.originals, data.train.variants) for x in v]
    assert 0.8 < min(speeds) < 0.97 and 1.03 < max(speeds) < 1.25  # the duration changes
    assert {x.shape[1] for v in data.train.variants for x in v} == {config.features.size}
    epochs = []
    for epoch in (1, 2, 1):
        data.train.epoch = epoch
        epochs.append([x.copy() for x in data.train.features])
        assert data.train.lengths.tolist() == [len(x) for x in data.train.features]
    assert all(np.array_equal(a, b) for a, b in zip(epochs[0], epochs[2]))  # a resumed epoch
    assert not all(np.array_equal(a, b) for a, b in zip(epochs[0], epochs[1]))
    changed = np.mean([not np.array_equal(a, o) for a, o in zip(epochs[0], data.train.originals)])
    assert 0.6 < changed < 0.9  # 3 of 4 versions are perturbed
    for part in ("validation", "test"):  # off at evaluation: the plain run's features
        assert not isinstance(getattr(data, part), speech.MaskedSequences)
        for x, y in zip(getattr(data, part).features, getattr(plain, part).features):
            np.testing.assert_array_equal(x, y)
    results = speech.train(dataclasses.replace(config, train=quick("digits", epochs=2).train), None,
                           tmp_path / "run", fsdd=corpus)  # fmt: skip
    assert results["sizes"]["train"] == len(train)


def test_one_utterance_overfits_to_zero_character_error():
    rng = np.random.default_rng(0)
    config = FeatureConfig(sample_rate=16000, n_mels=20, stack=2)
    text = "AB CAB"
    x = features(spoken(text, rng), config)
    symbols = " " + "".join(LETTERS)
    target = np.array([symbols.index(c) + 1 for c in text])
    torch.manual_seed(0)
    model_config = SequenceModelConfig(input_size=config.size, hidden_size=32, head="ctc", num_classes=4)
    model = SequenceModel(model_config)
    dataset = FeatureSequences([x], targets=[target])
    step, optimizer = make_step(model_config), torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        loss, _, _ = step(model, dataset.collate(np.array([0])))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.from_numpy(x)[None]), -1)[0].numpy()
    decoded = "".join(symbols[i - 1] for i in greedy(log_probs)[0])
    assert speech.error_rates([text], [decoded], characters=True)["cer"] == 0.0
    assert loss.item() < 0.05


def test_speechocean_reader_validation_speakers_and_sentences_run(tmp_path, capsys):
    base = fake_speechocean(tmp_path)
    train = corpora.read_speechocean(base, "train")
    assert train.texts[:2] == ["AB C", "BA"] and train.texts[8] == "AB C"  # lower case read as upper
    config = quick(
        "sentences",
        epochs=15,
        validation_share=0.25,
        lm_order=3,
        beam=4,
        features=FeatureConfig(sample_rate=16000, n_mels=20, stack=2),
        masks=MaskConfig(),  # the preset's masks would hide whole letters of these short sentences
        model=SequenceModelConfig(hidden_size=32, head="ctc"),
    )
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, batch_size=4, lr=1e-2))
    results = speech.train(config, base, tmp_path / "run")
    # validation: a whole speaker; the training speakers' "AB C" is a test sentence: left out
    assert results["sizes"] == {"train": 21, "validation": 7, "test": 8}
    said = capsys.readouterr().err  # reading thousands of files takes a minute: it says so first
    assert "reading 21 training recordings of speechocean762 ..." in said
    assert "reading 8 test recordings of speechocean762 ..." in said
    assert (tmp_path / "run" / speech.LM_FILE).is_file()
    for name in ("test_greedy", "test_beam4", "test_beam4+lm"):
        assert 0 <= results[name]["cer"] <= 1.0 and 0 <= results[name]["exact"] <= 1.0
    assert results["test_greedy"]["cer"] < 0.5  # three tones and silences, learned in seconds


def test_sentences_get_perturbed_voices_of_training_speakers_only(tmp_path):
    base = fake_speechocean(tmp_path)
    augment = AugmentConfig(variants=2, speed=0.1)
    config = dataclasses.replace(
        quick("sentences", validation_share=0.25), augment=augment, masks=MaskConfig()
    )
    data = speech.prepare(config, base)
    assert len(data.train.variants) == len(data.splits[0].train) and {
        len(v) for v in data.train.variants
    } == {2}
    speeds = [len(x) / len(o) for o, v in zip(data.train.originals, data.train.variants) for x in v]
    assert min(speeds) < 0.98 and max(speeds) > 1.02  # the copies are re-timed
    assert not isinstance(data.validation, speech.MaskedSequences)
    assert not isinstance(data.test, speech.MaskedSequences)
    plain = speech.prepare(dataclasses.replace(config, augment=AugmentConfig()), base)
    assert plain.train.variants == [] and plain.sizes == data.sizes
    for x, y in zip(plain.test.features, data.test.features):  # the test part is never perturbed
        np.testing.assert_array_equal(x, y)


def test_speechocean_training_never_reads_a_test_sentence(tmp_path):
    """The corpus's split is by speaker, yet some sentences are read on both sides: the training
    and validation utterances of a sentence the test reads (up to case and punctuation) are left
    out, and a saved split that has them is refused."""
    base = fake_speechocean(tmp_path)
    config = quick("sentences", validation_share=0.25, masks=MaskConfig())
    data = speech.prepare(config, base)
    split = data.splits[0]
    everything = [
        *corpora.read_speechocean(base, "train").texts,
        *corpora.read_speechocean(base, "test").texts,
    ]
    heard = {everything[i] for i in split.test}
    learnt = [everything[i] for i in np.concatenate([split.train, split.validation])]
    assert "AB C" in heard and "AB C" not in learnt and len(learnt) == 32 - 4
    assert data.sizes == {"train": 21, "validation": 7, "test": 8}
    assert corpora.check_disjoint(learnt, heard, "sentences") is None
    leaky = dataclasses.replace(
        data.splits, splits=[dataclasses.replace(split, train=np.arange(split.test.min()))]
    )  # every training utterance, as a run made before this check would have saved it
    with pytest.raises(
        DataError, match="test sentences also occur in training.*train it again with --restart"
    ):
        speech.prepare(config, base, splits=leaky)


def test_speechocean_refuses_a_speaker_in_both_parts(tmp_path):
    base = fake_speechocean(tmp_path)
    with open(base / "test" / "utt2spk", "a") as f:
        f.write("x 0001\n")
    (base / "test" / "text").write_text((base / "test" / "text").read_text() + "x\tAB\n")
    (base / "test" / "wav.scp").write_text(
        (base / "test" / "wav.scp").read_text() + "x audio/SPEAKER0001/00010000.opus\n"
    )
    with pytest.raises(DataError, match="test speakers also occur in training"):
        speech.prepare(quick("sentences"), base)


@pytest.mark.skipif(not (SHARED / "fsdd").is_dir(), reason="../shared/data/fsdd is absent")
def test_real_fsdd_split_and_folds_keep_test_apart():
    corpus = corpora.read_fsdd(SHARED / "fsdd")
    assert len(corpus.paths) == 3000 and len(corpus.speaker_names) == 6
    split = speech.fsdd_splits(speech.preset("digits"), corpus)[0]
    train, validation, test = split.train, split.validation, split.test
    assert len(test) == 300 and len(train) + len(validation) == 2700
    test_names = {corpus.paths[i].name for i in test}
    assert not test_names & {corpus.paths[i].name for i in np.concatenate([train, validation])}
    for speaker in corpus.speaker_names:
        split = speech.fsdd_splits(dataclasses.replace(speech.preset("digits"), speaker=speaker), corpus)[0]
        assert set(corpus.speakers[split.test]) == {speaker}
        assert speaker not in set(corpus.speakers[np.concatenate([split.train, split.validation])])
        speech.check_fsdd_split(corpus, split, speaker_independent=True)


@pytest.mark.skipif(
    not (SHARED / "speechocean762").is_dir(), reason="../shared/data/speechocean762 is absent"
)
def test_real_speechocean_speakers_are_apart():
    train = corpora.read_speechocean(SHARED / "speechocean762", "train")
    test = corpora.read_speechocean(SHARED / "speechocean762", "test")
    assert len(train.ids) == len(test.ids) == 2500
    assert not set(train.speakers) & set(test.speakers)
    # the corpus reads some sentences on both sides: a run's split leaves those out of training
    texts, n = [*train.texts, *test.texts], 5000
    config = speech.preset("sentences")
    full = fixed_split(
        np.arange(2500, n), n, None, np.array([*train.speakers, *test.speakers]), config.split_seed,
        config.validation_share,
    )  # fmt: skip
    split = speech._without_test_sentences(full, texts)[0]
    learnt = [texts[i] for i in np.concatenate([split.train, split.validation])]
    corpora.check_disjoint(learnt, [texts[i] for i in split.test], "sentences")
    assert 0 < 2500 - len(learnt) < 100 and len(split.test) == 2500
    corpora.check_disjoint(train.speakers, test.speakers, "speakers")


def test_cli_trains_evaluates_and_transcribes_in_order_with_errors_in_place(tmp_path, capsys):
    import json

    from rnnkit.cli import main

    data, run = fake_fsdd(tmp_path), tmp_path / "run"
    common = ["--data", str(data), "--out", str(run), "--epochs", "20", "--lr", "0.01", "--batch-size", "8"]
    small = ["--set", "model.hidden_size=32", "--set", "model.num_layers=1", "--set", "model.projection=0"]
    sizes = [*small, "--set", "train_strings=200", "--set", "test_strings=20", "--set", "lm_order=3"]
    assert main(["speech", "train", "--task", "strings", *common, *sizes]) == 0
    assert "digit error rate" in capsys.readouterr().out
    assert main(["speech", "evaluate", str(run), "--data", str(data), "--beam", "3"]) == 0
    assert "beam3+lm" in capsys.readouterr().out
    corpus = corpora.read_fsdd(data)
    string = corpora.make_strings(corpus, np.arange(len(corpus.paths)), 1, seed=5)
    sf.write(tmp_path / "s.flac", string.waves[0], 8000)
    (tmp_path / "bad.wav").write_text("not audio")
    files = [str(tmp_path / "s.flac"), str(tmp_path / "bad.wav"), str(tmp_path / "s.flac")]
    align = tmp_path / "align.png"
    status = main(["speech", str(run), *files, "--format", "json", "--beam", "1", "--align", str(align)])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 1 and [r["name"] for r in rows] == files
    assert "not a readable audio file" in rows[1]["error"]
    assert rows[0]["transcript"] == rows[2]["transcript"]
    assert rows[0]["symbols"] and all(s["end"] > s["start"] for s in rows[0]["symbols"])
    assert " ".join(s["symbol"] for s in rows[0]["symbols"]) == rows[0]["transcript"]  # greedy
    assert (tmp_path / "align-1.png").stat().st_size > 1000 and (tmp_path / "align-2.png").is_file()
    (tmp_path / "list.txt").write_text(f"{files[0]}\n\n{files[2]}\n")
    assert main(["speech", str(run), "--file", str(tmp_path / "list.txt"), "--beam", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0] == f"{files[0]}\t{rows[0]['transcript']}"


def test_baselines_segment_strings_at_silences_and_classify_mfcc_statistics(tmp_path):
    from rnnkit.tasks.speech.baselines import fit_classifier, mfcc_statistics, segment

    corpus = corpora.read_fsdd(fake_fsdd(tmp_path))
    config = speech.FSDD_FEATURES
    x = np.stack([mfcc_statistics(w, config) for w in corpus.waves])
    assert x.shape == (len(corpus.waves), 104)
    train, test = corpus.dataset_split()
    for kind in ("logistic", "svm"):
        model = fit_classifier(x[train], corpus.digits[train], kind)
        assert (model.predict(x[test]) == corpus.digits[test]).mean() >= 0.95
    strings = corpora.make_strings(corpus, test, 10, seed=0)
    for wave, digits in zip(strings.waves, strings.digits):
        pieces = segment(wave, corpora.FSDD_RATE)
        assert len(pieces) == len(digits)
        for a, b in pieces:
            assert abs((b - a) - 0.2 * 8000) < 0.06 * 8000  # each tone found, about its length


def test_a_strided_ctc_models_symbol_times_are_in_input_seconds(tmp_path):
    """With conv_stride 2 and two convolutions an output step spans 4 feature steps: the emitted
    symbols' times (and the alignment picture) are scaled by that, so they end with the audio."""
    from rnnkit.tasks.speech.predict import Predictor, plot_alignment

    config = speech.resolved(speech.preset("strings"))
    model_config = dataclasses.replace(
        config.model, hidden_size=8, num_layers=1, conv_layers=2, conv_channels=8, conv_stride=2
    )
    config = dataclasses.replace(config, model=model_config)
    torch.manual_seed(0)
    model = SequenceModel(model_config)
    with torch.no_grad():
        model.output.bias[0] = -100.0  # never the blank: every output step emits a symbol
    rng = np.random.default_rng(0)
    wave = np.concatenate([tone(500.0, 0.6, 8000, rng), np.zeros(800, np.float32)])
    sf.write(tmp_path / "a.wav", wave, 8000)
    [answer] = Predictor(model, config)([("a.wav", tmp_path / "a.wav")], beam=1, keep=True)
    steps = len(answer["features"])  # feature steps of 30 ms; the model emits ceil(ceil(n/2)/2)
    assert len(answer["outputs"]) == int(np.ceil(np.ceil(steps / 2) / 2))
    last = answer["symbols"][-1]["end"]
    assert steps * config.features.step_seconds <= last < (steps + 4) * config.features.step_seconds
    plot_alignment(answer, config, tmp_path / "align.png")
    assert (tmp_path / "align.png").stat().st_size > 1000


def test_a_run_starts_from_another_runs_encoder_whatever_its_head(tmp_path):
    """``init``: a CTC run's projection and encoder (what speechocean762 would pretrain) start a
    digits run, whose clip head starts new; a run of another shape or features is refused by name."""
    from rnnkit.cli import main

    data, init, digits = fake_fsdd(tmp_path), str(tmp_path / "ctc"), speech.preset("digits")
    ctc = quick("strings", epochs=1, features=digits.features, model=digits.model, train_strings=40)
    speech.train(dataclasses.replace(ctc, test_strings=10), data, init)
    pretrained, _ = speech.RUNS.load_model(init, speech.build_model)
    theirs = pretrained.state_dict()
    assert theirs["output.weight"].shape[0] == 11  # ten digits and the blank

    config = speech.resolved(quick("digits", epochs=1, init=init))
    recipe = speech.SpeechRecipe(data)
    model = recipe.build(config, recipe.prepare(config, None))
    ours = model.state_dict()
    encoder = [k for k in ours if not k.startswith("output.")]
    assert encoder and all(torch.equal(ours[k], theirs[k]) for k in encoder)
    seed_everything(config.train.seed)
    fresh = speech.build_model(config).state_dict()  # the same seed, no init
    assert not any(torch.equal(ours[k], fresh[k]) for k in encoder)
    assert torch.equal(ours["output.weight"], fresh["output.weight"])  # the new head starts as without init

    run = ["--data", str(data), "--out", str(tmp_path / "digits"), "--epochs", "2", "--init", init]
    assert main(["speech", "train", *run, "--set", "augment.variants=0"]) == 0
    assert speech.RUNS.load_config(tmp_path / "digits").init == init

    wider = quick("digits", init=init, model=dataclasses.replace(digits.model, hidden_size=32))
    with pytest.raises(ConfigError, match="model.hidden_size 32 here, 64 in"):
        speech.train(wider, data, tmp_path / "wider")
    mels = quick("digits", init=init, features=dataclasses.replace(digits.features, cepstra=0))
    with pytest.raises(ConfigError, match="features.cepstra 0 here, 20 there"):
        speech.train(mels, data, tmp_path / "mels")
