"""``rnnkit speech lm RUN --text FILE``: a sentences run's character LM refitted on more text, never
on a line that is or holds a validation or test sentence; the acoustic model untouched."""

from __future__ import annotations

import dataclasses
import json

import pytest
from test_speech import fake_speechocean, quick

from rnnkit.audio import FeatureConfig, MaskConfig
from rnnkit.decode.ngram import CharNgram
from rnnkit.errors import ConfigError, InputError
from rnnkit.models.sequence import SequenceModelConfig
from rnnkit.tasks.speech import lmtext
from rnnkit.tasks.speech import task as speech


def test_lines_that_are_or_hold_a_heard_sentence_are_left_out():
    heard = ["THE CAT", "GO"]
    offered = ["THE CAT", "I SAW THE CAT TODAY", "THE CATS", "GOOD DOG", "LET'S GO", "A DOG"]
    kept, dropped = lmtext.unheard(offered, heard)
    assert kept == ["THE CATS", "GOOD DOG", "A DOG"] and dropped == 3  # whole words only
    assert lmtext.unheard(offered, []) == (offered, 0)


def test_text_files_are_read_normalised_distinct_and_checked(tmp_path):
    (tmp_path / "a.txt").write_text("Hello, world!\n\n  hello world \nIt's 9 o'clock.\n")
    (tmp_path / "b.txt").write_text("NEW one\nHello world\n")
    found = lmtext.read_sentences([tmp_path / "a.txt", tmp_path / "b.txt"])
    assert found == ["HELLO WORLD", "IT'S O'CLOCK", "NEW ONE"]
    # a BOM and Windows line endings are not text; a typographic apostrophe (44 lines of Tatoeba's
    # English side) is the transcripts' own, so "I\u2019m a dog" is the heard "I'M A DOG"
    (tmp_path / "c.txt").write_bytes("\ufeffI\u2019m a dog\r\nWe\u2018ll see\r\n".encode())
    found = lmtext.read_sentences([tmp_path / "c.txt"])
    assert found == ["I'M A DOG", "WE'LL SEE"]
    assert lmtext.unheard(found, ["I'M A DOG"]) == (["WE'LL SEE"], 1)
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(InputError, match="bad.txt is not UTF-8 text"):
        lmtext.read_sentences([tmp_path / "bad.txt"])
    with pytest.raises(InputError, match="no text file at"):
        lmtext.read_sentences([tmp_path / "none.txt"])


def test_a_runs_lm_is_refitted_on_more_text_but_never_a_test_sentence(tmp_path, capsys):
    from rnnkit.cli import main

    base = fake_speechocean(tmp_path)
    config = quick(
        "sentences",
        epochs=1,
        validation_share=0.25,
        lm_order=3,
        features=FeatureConfig(sample_rate=16000, n_mels=20, stack=2),
        masks=MaskConfig(),
        model=SequenceModelConfig(hidden_size=16, head="ctc"),
    )
    run = tmp_path / "run"
    speech.train(config, base, run)
    before = (run / "best.safetensors").read_bytes()
    parts = lmtext.run_sentences(run, base)
    assert "AB C" in parts["test"] and "AB C" not in parts["train"]

    # "cb" is a test sentence; "ba ca b cb" holds it; "abba" and "c c c" are new
    (tmp_path / "more.txt").write_text("cb\nBA CA B CB\nabba\nc c c\n")
    args = ["speech", "lm", str(run), "--data", str(base), "--text", str(tmp_path / "more.txt")]
    assert main([*args, "--weight", "0.3", "--bonus", "0.5"]) == 0
    assert "2 of 4 sentences (2 left out" in capsys.readouterr().out
    saved = CharNgram.load(run / speech.LM_FILE)
    expected = lmtext.fit(speech.RUNS.load_config(run), parts["train"], ["ABBA", "C C C"])
    assert dict(saved.counts) == {h: c for h, c in expected.counts.items()}
    alone = lmtext.fit(speech.RUNS.load_config(run), parts["train"], [])
    assert saved.sentence_log_prob([1, 2, 2, 1]) > alone.sentence_log_prob([1, 2, 2, 1])  # ABBA learnt
    record = json.loads((run / "lm_sources.json").read_text())
    assert (record["kept"], record["left_out"], record["transcripts"]) == (2, 2, len(parts["train"]))
    after = speech.RUNS.load_config(run)
    assert (after.lm_weight, after.bonus, after.lm_order) == (0.3, 0.5, 3)
    assert (run / "best.safetensors").read_bytes() == before  # the acoustic model is untouched
    assert main(["speech", "evaluate", str(run), "--data", str(base)]) == 0  # decodes with the new LM
    assert "beam8+lm" in capsys.readouterr().out


def test_only_a_sentences_run_takes_more_lm_text(tmp_path):
    from test_speech import fake_fsdd

    data = fake_fsdd(tmp_path, per_digit=6)
    speech.train(dataclasses.replace(quick("digits", epochs=1)), data, tmp_path / "digits")
    (tmp_path / "t.txt").write_text("one two\n")
    with pytest.raises(ConfigError, match="is a --task digits run; more LM text is for sentences runs"):
        lmtext.refit(tmp_path / "digits", [tmp_path / "t.txt"], None)
