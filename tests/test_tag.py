"""Named entities: the CoNLL reader and tag schemes, the tagger, the task end to end, the CLI."""

import json
import random
import re

import pytest
import torch
from helpers import train_tiny

from rnnkit.cli import main
from rnnkit.data import DataError
from rnnkit.data.conll import (
    TagSet,
    entity_spans,
    iob1_to_iob2,
    iob2_to_iobes,
    iobes_to_iob2,
    read_conll,
)
from rnnkit.errors import InputError
from rnnkit.tasks import tag

# -- tag schemes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iob1", "iob2"),
    [
        ("I-PER I-PER O I-LOC", "B-PER I-PER O B-LOC"),
        # adjacent entities of one type: IOB1 marks the second with B-
        ("I-PER I-PER B-PER I-PER", "B-PER I-PER B-PER I-PER"),
        # a type change needs no B- in IOB1
        ("I-ORG I-LOC I-LOC", "B-ORG B-LOC I-LOC"),
        ("B-MISC", "B-MISC"),
        ("O O", "O O"),
    ],
)
def test_iob1_to_iob2(iob1, iob2):
    assert iob1_to_iob2(iob1.split()) == iob2.split()


def test_iobes_round_trip_and_spans():
    iob2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "I-LOC", "I-LOC", "B-ORG"]
    iobes = iob2_to_iobes(iob2)
    assert iobes == ["B-PER", "E-PER", "S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "S-ORG"]
    assert iobes_to_iob2(iobes) == iob2
    assert entity_spans(iob2) == [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 7), ("ORG", 7, 8)]
    tags = TagSet(["PER", "LOC", "ORG"], "iobes")
    assert tags.decode(tags.encode(iob2)) == iob2
    with pytest.raises(ValueError, match="'S-MISC' is not in this tag set"):
        tags.encode(["B-MISC"])


def test_reader_converts_iob1_and_names_bad_lines(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(
        "-DOCSTART- -X- O O\n\nHarry NNP I-NP I-PER\nPotter NNP I-NP I-PER\nHermione NNP I-NP B-PER\n"
        "met VBD I-VP O\n\nParis NNP I-NP I-LOC\n"
    )
    sentences = read_conll(good)
    assert [s.tokens for s in sentences] == [["Harry", "Potter", "Hermione", "met"], ["Paris"]]
    assert sentences[0].tags == ["B-PER", "I-PER", "B-PER", "O"] and sentences[1].tags == ["B-LOC"]
    good.write_text(good.read_text() + "\n-DOCSTART- -X- O O\n\nRome NNP I-NP I-LOC\n\nIt PRP I-NP O\n")
    assert [s.document for s in read_conll(good)] == [0, 0, 1, 1]
    bad = tmp_path / "bad.txt"
    bad.write_text("A NNP I-NP O\nB NNP O\n")
    with pytest.raises(DataError, match=r"bad.txt, line 2: expected 4 columns .* got 3"):
        read_conll(bad)
    bad.write_text("A NNP I-NP O\n\nB NNP I-NP X-PER\n")
    with pytest.raises(DataError, match=r"bad.txt, line 3: tag 'X-PER' is not O, B-TYPE or I-TYPE"):
        read_conll(bad)
    bad.write_text("A NNP I-NP O\nB NNP I-NP I-PER\n")
    with pytest.raises(DataError, match=r"line 2: I-PER follows O, which IOB2 does not allow"):
        read_conll(bad, scheme="iob2")
    with pytest.raises(DataError, match="no CoNLL file"):
        read_conll(tmp_path / "missing.txt")


def test_tokenize_splits_like_conll():
    assert tag.tokenize("Yesterday, Harry Potter met Hermione Granger.") == [
        "Yesterday",
        ",",
        "Harry",
        "Potter",
        "met",
        "Hermione",
        "Granger",
        ".",
    ]
    assert tag.tokenize("The U.S. paid 3.5 million on 1996-08-22.")[1:6] == [
        "U.S.",
        "paid",
        "3.5",
        "million",
        "on",
    ]


# -- a tiny synthetic CoNLL corpus ----------------------------------------------------------------------

FIRST = ["Harry", "Hermione", "Ron", "Ginny", "Albus", "Minerva", "Severus", "Luna"]
LAST = ["Potter", "Granger", "Weasley", "Dumbledore", "Snape", "Lovegood"]
PLACES = ["London", "Paris", "Hogsmeade", "Berlin", "Madrid", "Rome"]
ORGS = ["Gringotts", "Ministry", "Hogwarts", "Reuters"]


def _sentence(rng):
    """(tokens, IOB1 tags): two people meet in a place, for an organisation, in various orders."""

    def person():
        if rng.random() < 0.5:
            return [rng.choice(FIRST), rng.choice(LAST)], ["I-PER", "I-PER"]
        return [rng.choice(FIRST)], ["I-PER"]

    a, b = person(), person()
    place, org = rng.choice(PLACES), rng.choice(ORGS)
    if rng.random() < 0.5:
        tokens = ["Yesterday", ","] + a[0] + ["met"] + b[0] + ["in", place, "for", org, "."]
        tags = ["O", "O"] + a[1] + ["O"] + b[1] + ["O", "I-LOC", "O", "I-ORG", "O"]
    else:
        # two people side by side: IOB1 marks the second with B-
        tokens = a[0] + b[0] + ["visited", place, "."]
        tags = a[1] + ["B-PER"] + ["I-PER"] * (len(b[0]) - 1) + ["O", "I-LOC", "O"]
    return tokens, tags


def write_conll(folder, seed=0, sizes=(240, 40, 40)):
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in zip(("eng.train", "eng.testa", "eng.testb"), sizes):
        lines = ["-DOCSTART- -X- O O", ""]
        for _ in range(n):
            tokens, tags = _sentence(rng)
            lines += [f"{t} NNP I-NP {g}" for t, g in zip(tokens, tags)] + [""]
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder


TINY = [
    "--set", "model.word_dim=16", "--set", "model.char_dim=8", "--set", "model.char_hidden=8",
    "--set", "model.hidden_size=24", "--set", "model.casing_dim=4", "--set", "model.dropout=0.1",
    "--set", "train.time_limit=none", "--lr", "0.01", "--epochs", "8", "--batch-size", "16",
]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tag")
    data = write_conll(root / "conll")
    return data, train_tiny(root, "tag", data, TINY)


def test_tiny_task_is_learned_to_f1_one(trained):
    _, run = trained
    results = json.loads((run / tag.RESULTS_FILE).read_text())
    assert results["test"]["f1"] == 1.0 and results["best_val_f1"] == 1.0
    assert set(results["test"]["per_type"]) == {"PER", "LOC", "ORG"}
    assert json.loads((run / "run.json").read_text())["task"] == "tagging"


def test_batched_tagging_equals_one_sentence_at_a_time(trained):
    data, run = trained
    tagger = tag.Tagger.from_run(run)
    sentences = [s.tokens for s in read_conll(data / "eng.testb")][:20]
    batched = tagger(sentences)
    alone = [tagger([s])[0] for s in sentences]
    assert batched == alone
    emissions = []
    for group in (sentences[:8], sentences[:1]):
        dataset = tag.TagDataset(group, tagger.vocab, tagger.config)
        batch = next(iter(dataset.batches(len(group))))
        row = batch.indices.index(0)
        with torch.no_grad():
            emissions.append(tagger.model.emissions(batch)[row, : len(sentences[0])])
    torch.testing.assert_close(emissions[0], emissions[1], atol=1e-6, rtol=1e-6)


def test_bf16_tagging_agrees_with_float32(trained):
    data, run = trained
    sentences = [s.tokens for s in read_conll(data / "eng.testb")]
    fp32, bf16 = tag.Tagger.from_run(run), tag.Tagger.from_run(run, bf16=True)
    dtypes = []
    hook = bf16.model.emit.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    assert bf16(sentences) == fp32(sentences)
    hook.remove()
    assert dtypes and set(dtypes) == {torch.bfloat16}, "the bf16 tagger ran in float32"
    assert tag.evaluate(run, data, bf16=True)["f1"] == 1.0


def test_cli_tags_the_lecture_sentence_and_files(trained, tmp_path, capsys):
    data, run = trained
    capsys.readouterr()
    assert main(["tag", str(run), "Yesterday, Harry Potter met Hermione Granger."]) == 0
    out = capsys.readouterr().out
    assert "[Harry Potter]PER met [Hermione Granger]PER" in out and "PER   Hermione Granger" in out

    text = tmp_path / "in.txt"
    long_line = " ".join(["Harry", "met", "Ron", "in", "Paris", "."] * 100)  # 600 words
    text.write_text("Ron Weasley visited Rome .\n\n" + long_line + "\n")
    assert main(["tag", "predict", str(run), "--file", str(text), "--format", "json", "--tokenized"]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert len(records) == 3, "one record per input line, the empty one included"
    assert records[0]["entities"] == [
        {"text": "Ron Weasley", "type": "PER", "start": 0, "end": 2},
        {"text": "Rome", "type": "LOC", "start": 3, "end": 4},
    ]
    assert records[1] == {"tokens": [], "tags": [], "entities": []}
    assert len(records[2]["tags"]) == 600 and "tagged in pieces of 512" in captured.err

    assert main(["tag", "predict", str(run), "Ron visited Paris .", "--format", "conll", "--tokenized"]) == 0
    assert capsys.readouterr().out == "Ron B-PER\nvisited O\nParis B-LOC\n. O\n\n"

    assert main(["tag", "evaluate", str(run), "--data", str(data), "--bf16"]) == 0
    out = capsys.readouterr().out
    assert "overall" in out and "100.00%" in out and "missed" in out


def test_cli_counts_a_long_file_in_one_line_on_stderr(trained, tmp_path, capsys):
    _, run = trained
    text = tmp_path / "in.txt"
    text.write_text("Ron visited Paris .\n\n" * 1000)
    capsys.readouterr()
    assert main(["tag", "predict", str(run), "--file", str(text), "--format", "json", "--tokenized"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2000
    assert re.fullmatch(r"tagging: 1,000 sentences in \d+\.\d s\n", err)  # the empty lines: not tagged


def test_cli_errors_are_one_line(trained, tmp_path, capsys):
    data, run = trained
    assert main(["tag", "train", "--data", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "no CoNLL-2003 files" in capsys.readouterr().err
    sentiment_like = tmp_path / "other"
    sentiment_like.mkdir()
    (sentiment_like / "run.json").write_text('{"task": "sentiment"}')
    assert main(["tag", str(sentiment_like), "Harry met Ron"]) == 2
    assert "is a sentiment run, not a tagging run" in capsys.readouterr().err
    assert (
        main(["tag", "train", "--data", str(data), "--out", str(run), "--set", "model.hidden_size=99"]) == 2
    )
    assert "holds a run with other settings" in capsys.readouterr().err


def test_the_padding_token_as_a_word_is_just_an_unknown_word(trained):
    """'<pad>' is the vocabulary's padding entry; as a word of a sentence it must not be read as
    padding (it crashed the character features with a shape mismatch)."""
    _, run = trained
    tagger = tag.Tagger.from_run(run)
    assert tagger.vocab.words("<pad>") == 1 and tagger.vocab.words("<unk>") == 1
    tagged = tagger([["Harry", "<PAD>", "met", "<pad>", "Ron"], ["Ron", "visited", "Paris", "."]])
    assert len(tagged[0]) == 5 and tagged[1] == ["B-PER", "O", "B-LOC", "O"]


# -- configs saved before LMFeatures -----------------------------------------------------------------

# TaggerConfig's language-model fields as config.json held them before TaggerConfig.lm (LMFeatures)
OLD_LM_KEYS = {
    "lm_vocab": "vocab_size",
    "lm_embed": "embed_dim",
    "lm_hidden": "hidden_size",
    "lm_cell": "cell",
    "lm_separator": "separator",
}


def _saved_in_the_old_form(run):
    """Rewrite the run's config.json as an older rnnkit saved it: five flat model.lm_* keys."""
    path = run / "config.json"
    raw = json.loads(path.read_text())
    lm = raw["model"].pop("lm")
    raw["model"].update({old: lm[new] for old, new in OLD_LM_KEYS.items()})
    path.write_text(json.dumps(raw))
    return raw


def test_a_config_of_the_old_form_loads_with_its_language_model_nested(tmp_path):
    from rnnkit.config import apply_overrides, from_dict, to_dict
    from rnnkit.errors import ConfigError
    from rnnkit.models.tagger import LMFeatures, TaggerConfig, upgrade_config

    old_model = {
        "word_vocab": 40, "char_vocab": 30, "tags": ["O", "B-PER", "I-PER"], "word_dim": 16, "char_dim": 8,
        "char_hidden": 8, "casing_dim": 4, "hidden_size": 24, "num_layers": 1, "dropout": 0.1,
        "word_dropout": 0.05, "decoder": "crf", "constrained": True,
        "lm_vocab": 400, "lm_embed": 64, "lm_hidden": 32, "lm_cell": "gru", "lm_separator": 3,
    }  # fmt: skip
    with pytest.raises(ConfigError, match="unknown keys for TaggerConfig"):
        from_dict(TaggerConfig, old_model)  # as it is, today's config refuses it
    model = from_dict(TaggerConfig, upgrade_config(old_model))
    assert model.lm == LMFeatures(vocab_size=400, embed_dim=64, hidden_size=32, cell="gru", separator=3)
    assert model.word_dim == 16 and model.tags == ("O", "B-PER", "I-PER")
    assert upgrade_config(to_dict(model)) == to_dict(model)  # today's form unchanged

    run = tmp_path / "old"
    saved = tag.TagConfig(lm="runs/lm", model=model)
    tag.RUNS.save_config(saved, run)
    assert _saved_in_the_old_form(run)["model"]["lm_hidden"] == 32
    assert tag.RUNS.load_config(run) == saved
    assert tag.build_model(tag.RUNS.load_config(run)).context.size == 64

    tweaked = apply_overrides(tag.preset("fast"), ["model.lm.hidden_size=8", "model.lm.vocab_size=50"])
    assert tweaked.model.lm == LMFeatures(vocab_size=50, hidden_size=8)  # --set reaches the nested fields
    with pytest.raises(ConfigError, match="unknown setting 'model.lm_hidden'"):
        apply_overrides(tag.preset("fast"), ["model.lm_hidden=8"])
    with pytest.raises(ConfigError, match="cell must be one of"):
        tag.build_model(apply_overrides(tweaked, ["model.lm.cell=rnn"]))


def test_a_run_saved_in_the_old_form_tags_and_resumes(lm_tagged, tmp_path, capsys):
    """A run whose config.json has the flat lm_* keys (with a language model) loads, tags as it did,
    and resumes; its config is then saved in today's form."""
    import shutil

    data, run, _ = lm_tagged
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    _saved_in_the_old_form(copy)
    sentences = [s.tokens for s in read_conll(data / "eng.testb")][:12]
    old, new = tag.Tagger.from_run(copy), tag.Tagger.from_run(run)
    assert old.config == new.config and old.model.context is not None
    assert old(sentences) == new(sentences)
    lm = str(run.parent / "lm")
    argv = [
        "tag",
        "train",
        "--data",
        str(data),
        "--out",
        str(copy),
        "--lm",
        lm,
        "--set",
        "lm_context=document",
    ]
    assert main([*argv, *TINY]) == 0
    assert "Epoch" not in capsys.readouterr().out
    saved = json.loads((copy / "config.json").read_text())["model"]
    assert saved["lm"]["hidden_size"] > 0 and not set(OLD_LM_KEYS) & set(saved)


# -- contextual features from a pretrained language model (preset best) --------------------------------


def test_contextual_words_are_the_lm_states_at_each_words_ends():
    """Brute force: each word's features are the forward LM's state after its last piece and the
    backward LM's state after its first piece (reading right to left), each direction starting from
    the separator; sentences batched together equal each sentence alone."""
    from rnnkit.models.wordlm import ContextualWords, WordLM, WordLMConfig

    torch.manual_seed(0)
    config = WordLMConfig(vocab_size=50, embed_dim=6, hidden_size=5, cutoffs=(20,))
    lm = WordLM(config).double()
    words = ContextualWords(config, separator=1, group=3, tokens=16).double()  # groups of 1 to 3
    words.load_language_model(lm.state_dict())
    rng = random.Random(0)
    sentences = [
        [[rng.randrange(2, 50) for _ in range(rng.randrange(1, 4))] for _ in range(n)] for n in (3, 1, 5, 2)
    ]
    batched = words(sentences)
    for sentence, features in zip(sentences, batched):
        pieces = [p for word in sentence for p in word]
        forward, _ = lm.rnns[0](lm.embedding(torch.tensor([[1, *pieces]])))  # (1, P+1, H)
        backward, _ = lm.rnns[1](lm.embedding(torch.tensor([[1, *pieces[::-1]]])))
        expected, start = [], 0
        for word in sentence:
            end = start + len(word)
            # forward: piece end-1 sits at place end; backward: piece start sits at place n - start
            expected.append(torch.cat([forward[0, end], backward[0, len(pieces) - start]]))
            start = end
        torch.testing.assert_close(features, torch.stack(expected))
        torch.testing.assert_close(words([sentence])[0], features)
    assert not any(p.requires_grad for p in words.parameters()), "the language model must stay frozen"


@pytest.fixture(scope="module")
def lm_tagged(tmp_path_factory, imdb_tarball):
    """A tiny pretrained language model (on the fake reviews), then a tagger that reads it."""
    from helpers import PRETRAIN_TINY

    from rnnkit.tasks import pretrain

    root = tmp_path_factory.mktemp("tag-lm")
    lm = root / "lm"
    argv = ["sentiment", "pretrain", "--preset", "quick", "--data", str(imdb_tarball), "--out", str(lm)]
    assert main([*argv, *[f"--set={o}" for o in PRETRAIN_TINY]]) == 0
    data = write_conll(root / "conll")
    run = train_tiny(root, "tag", data, ["--lm", str(lm), "--set", "lm_context=document", *TINY])
    return data, run, pretrain.load_run(lm)[0]


def test_a_tagger_reads_a_frozen_pretrained_language_model(lm_tagged):
    data, run, lm = lm_tagged
    results = json.loads((run / tag.RESULTS_FILE).read_text())
    assert results["test"]["f1"] == 1.0
    tagger = tag.Tagger.from_run(run)
    assert tagger.model.context is not None and tagger.vocab.pieces is not None
    assert (run / tag.LM_TOKENIZER_FILE).is_file()
    lm_hidden = lm.config.hidden_size
    assert results["parameters"] - results["trained_parameters"] == sum(
        p.numel() for p in tagger.model.context.parameters()
    )
    for name, mine in tagger.model.context.state_dict().items():  # trained around, never changed
        assert torch.equal(mine, lm.state_dict()[name]), name
    sentences = [s.tokens for s in read_conll(data / "eng.testb")][:12]
    assert tagger(sentences) == [tagger([s])[0] for s in sentences]
    dataset = tag.TagDataset(sentences[:3], tagger.vocab, tagger.config)
    dataset.attach_context(tagger.model, tagger.vocab.pieces)
    batch = dataset.collate(list(range(3)))
    assert batch.context.shape == (3, int(batch.lengths.max()), 2 * lm_hidden)
    assert tag.evaluate(run, data)["f1"] == 1.0


def test_the_language_model_loads_below_the_tasks(lm_tagged):
    """rnnkit.train.pretrained reads a pretraining run (model, tokenizer) for the tagger, which no
    longer imports the pretrain task; the pretrain task's load_run gives the same model."""
    import subprocess
    import sys

    from rnnkit.tasks import pretrain
    from rnnkit.train import CheckpointError
    from rnnkit.train.pretrained import load_word_lm

    _, run, lm = lm_tagged
    model, tokenizer = load_word_lm(run.parent / "lm")
    assert model.config == lm.config and not model.training
    for (key, mine), (_, theirs) in zip(model.state_dict().items(), lm.state_dict().items(), strict=True):
        assert torch.equal(mine, theirs), key
    assert tokenizer.vocab_size == pretrain.load_run(run.parent / "lm")[1].vocab_size
    with pytest.raises(CheckpointError, match="is a tagging run, not a pretrained language model"):
        load_word_lm(run)
    code = (
        "import sys, rnnkit.tasks.tag; print(sorted(m for m in sys.modules if m.startswith('rnnkit.tasks.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pretrain" not in loaded and "rnnkit.tasks.tag" in loaded


def test_a_tagger_without_its_language_model_says_so(lm_tagged, tmp_path, capsys):
    data, run, _ = lm_tagged
    tagger = tag.Tagger.from_run(run)
    dataset = tag.TagDataset([["Harry", "met", "Ron"]], tagger.vocab, tagger.config)
    with pytest.raises(ValueError, match="attach_context"):
        tagger.model.emissions(dataset.collate([0]))
    out, missing = str(tmp_path / "x"), str(tmp_path / "no-lm")
    assert main(["tag", "train", "--data", str(data), "--out", out, "--lm", missing]) == 2
    err = capsys.readouterr().err
    assert "no pretrained language model at" in err and "rnnkit sentiment pretrain" in err


def test_a_resume_refuses_another_language_model(lm_tagged, tmp_path, capsys):
    """The language model gives the tagger's features: resuming with another --lm would go on with
    the saved one while recording the new one, so it is refused like any other change."""
    import shutil

    data, run, _ = lm_tagged
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    same = ["tag", "train", "--data", str(data), "--out", str(copy), "--set", "lm_context=document", *TINY]
    other = tmp_path / "other-lm"
    shutil.copytree(run.parent / "lm", other)
    capsys.readouterr()
    assert main([*same, "--lm", str(other)]) == 2
    err = capsys.readouterr().err
    assert "holds a run with other settings" in err and f"lm: {str(run.parent / 'lm')!r} saved" in err
    assert json.loads((copy / "config.json").read_text())["lm"] == str(run.parent / "lm")
    assert main([*same, "--lm", str(run.parent / "lm")]) == 0  # the same one: nothing left to train
    assert "Epoch" not in capsys.readouterr().out


def test_onnx_export_refuses_a_tagger_with_a_language_model(lm_tagged, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from rnnkit.errors import InputError
    from rnnkit.export import onnx as onnx_export

    _, run, _ = lm_tagged
    with pytest.raises(InputError, match="pretrained language model"):
        onnx_export.export_onnx(run, tmp_path / "tagger.onnx")
    assert not (tmp_path / "tagger.onnx").exists()


def test_a_document_context_reads_the_sentences_before_and_after(lm_tagged):
    """lm_context="document": each sentence's features are its slice of the features of its whole
    document read at once (brute force); other documents do not matter; without document ids every
    sentence is read alone, as with lm_context="sentence"."""
    import dataclasses

    data, run, _ = lm_tagged
    tagger = tag.Tagger.from_run(run)
    model, pieces, config = tagger.model, tagger.vocab.pieces, tagger.config
    assert config.lm_context == "document"
    sentences = [s.tokens for s in read_conll(data / "eng.testb")][:5]
    documents = [0, 0, 0, 1, 1]
    by_sentence = dataclasses.replace(config, lm_context="sentence")

    def features(sentences, documents, config=config):
        dataset = tag.TagDataset(sentences, tagger.vocab, config, documents=documents)
        dataset.attach_context(model, pieces)
        return dataset.context

    read = features(sentences, documents)
    whole = features([[w for s in sentences[:3] for w in s]], None)[0]
    torch.testing.assert_close(torch.cat(read[:3]), whole)
    torch.testing.assert_close(torch.cat(read[3:]), torch.cat(features(sentences[3:], [7, 7])))
    alone = features(sentences, None)
    assert not torch.allclose(read[1], alone[1])
    for mine, theirs in zip(alone, features(sentences, documents, by_sentence)):  # ids ignored
        torch.testing.assert_close(mine, theirs)
    by_document = tagger
    together = by_document(sentences, documents=documents)
    first = by_document(sentences[:3], documents=[0] * 3)
    assert together == first + by_document(sentences[3:], documents=[1] * 2)
    with pytest.raises(InputError, match="2 document ids for 5 sentences"):
        by_document(sentences, documents=[0, 1])


def test_cli_documents_are_lines_up_to_an_empty_line(lm_tagged, tmp_path, capsys, monkeypatch):
    """--documents: the document ids the CLI hands the tagger (what they do is tested above)."""
    data, run, _ = lm_tagged
    sentences = [s.tokens for s in read_conll(data / "eng.testb")][:5]
    text = tmp_path / "in.txt"
    lines = [*map(" ".join, sentences[:3]), "", "", *map(" ".join, sentences[3:])]
    text.write_text("\n".join(lines) + "\n")
    seen, original = [], tag.Tagger.__call__

    def spy(self, sentences, progress=None, documents=None):
        seen.append(documents)
        return original(self, sentences, progress, documents)

    monkeypatch.setattr(tag.Tagger, "__call__", spy)
    capsys.readouterr()
    for flags in ([], ["--documents"]):
        argv = ["tag", "predict", str(run), "--file", str(text), "--tokenized", "--format", "json", *flags]
        assert main(argv) == 0
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [len(r["tags"]) for r in records] == [len(line.split()) for line in lines]
    assert seen == [None, [0, 0, 0, 2, 2]]


def test_text_writes_the_words_of_each_document(tmp_path, capsys):
    data = write_conll(tmp_path / "conll", sizes=(30, 5, 5))
    train = data / "eng.train"
    train.write_text(train.read_text() + "-DOCSTART- -X- O O\n\nRon NNP I-NP I-PER\nleft VBD I-VP O\n")
    out = tmp_path / "text"
    assert main(["tag", "text", "--data", str(data), "--out", str(out)]) == 0
    assert "2 documents" in capsys.readouterr().out
    files = sorted(out.iterdir())
    sentences = read_conll(train)
    assert [f.read_text().split() for f in files] == [
        [w for s in sentences[:-1] for w in s.tokens],
        ["Ron", "left"],
    ]
    # the same command again (docs/tag.md after docs/pretrain.md) writes the same files again
    (out / "1.txt").write_text("stale")
    assert main(["tag", "text", "--data", str(data), "--out", str(out)]) == 0
    assert [f.read_text().split() for f in sorted(out.iterdir())][1] == ["Ron", "left"]
    # a folder of anything else is left alone
    (out / "notes.md").write_text("mine")
    assert main(["tag", "text", "--data", str(data), "--out", str(out)]) == 2
    assert "holds files that 'rnnkit tag text' does not write (notes.md)" in capsys.readouterr().err
    assert (out / "notes.md").read_text() == "mine"


# -- ensembles (preset best) ------------------------------------------------------------------------------


def test_an_ensemble_decodes_the_best_mean_log_probability():
    """Brute force over every tag path: the ensemble's Viterbi path maximises the mean of the
    members' CRF log-likelihoods (float64)."""
    import itertools
    from types import SimpleNamespace

    from rnnkit.models.tagger import SequenceTagger, TaggerConfig, TaggerEnsemble

    torch.manual_seed(0)
    config = TaggerConfig(word_vocab=5, char_vocab=5, tags=("O", "B-PER", "I-PER"), constrained=False)
    members = [SequenceTagger(config).double() for _ in range(3)]
    for member in members:
        for parameter in member.crf.parameters():
            torch.nn.init.normal_(parameter)
    ensemble = TaggerEnsemble(members)
    lengths = torch.tensor([4, 2])
    emissions = [torch.randn(2, 4, 3, dtype=torch.float64) for _ in members]
    found = ensemble.decode(SimpleNamespace(lengths=lengths), torch.stack(emissions).mean(0))
    for b, n in enumerate(lengths.tolist()):

        def mean_log_likelihood(path, b=b, n=n):
            tags = torch.tensor([path])
            return sum(
                m.crf(e[b : b + 1, :n], tags, torch.tensor([n])).item() for m, e in zip(members, emissions)
            ) / len(members)

        best = max(itertools.product(range(3), repeat=n), key=mean_log_likelihood)
        assert found[b] == list(best)


def test_an_ensemble_run_trains_its_members_and_tags_as_one(tmp_path, capsys):
    from rnnkit.models.tagger import TaggerEnsemble

    data = write_conll(tmp_path / "conll")
    run = tmp_path / "ens"
    argv = ["tag", "train", "--data", str(data), "--out", str(run), "--set", "members=2", *TINY]
    assert main(argv) == 0
    assert "the members alone 100.00%, 100.00%" in capsys.readouterr().out
    results = json.loads((run / tag.RESULTS_FILE).read_text())
    assert results["test"]["f1"] == 1.0 and len(results["members"]) == 2
    seeds = [
        json.loads((tag.member_dir(run, k) / "config.json").read_text())["train"]["seed"] for k in (1, 2)
    ]
    assert seeds == [0, 1]
    tagger = tag.Tagger.from_run(run)
    assert isinstance(tagger.model, TaggerEnsemble) and len(tagger.model.members) == 2
    sentences = [s.tokens for s in read_conll(data / "eng.testb")][:10]
    assert tagger(sentences) == [tagger([s])[0] for s in sentences]
    assert tag.evaluate(run, data)["f1"] == 1.0
    assert main(argv) == 0  # everything done: nothing trains again
    assert "Epoch" not in capsys.readouterr().out
    assert main([*argv, "--set", "members=3"]) == 2  # another ensemble in the same folder
    assert "holds a run with other settings" in capsys.readouterr().err
    assert main([*argv[: -len(TINY)], "--restart", *TINY]) == 0
    assert (tag.member_dir(run, 2) / "best.safetensors").is_file()
