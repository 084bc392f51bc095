"""Language-model pretraining for sentiment (rnnkit sentiment pretrain, train --init): the corpus
never holds a test review, token streams on disk equal the in-memory ones, an exact resume, and a
classifier that starts from the pretrained weights (or says clearly why it cannot)."""

from __future__ import annotations

import math
import os
import tarfile

import numpy as np
import pytest
import torch
from helpers import PRETRAIN_TINY as TINY
from helpers import KillAt, Killed

from rnnkit.cli import main
from rnnkit.config import apply_overrides
from rnnkit.data import imdb
from rnnkit.data.text import TextStreams, TokenFile, TokenStreams
from rnnkit.errors import ConfigError
from rnnkit.models.wordlm import WordLM, WordLMConfig, classifier_weights
from rnnkit.tasks import pretrain, sentiment
from rnnkit.train import checkpoint as ckpt
from rnnkit.train import seed_everything


class _Told:
    """A callback that keeps the lines a run tells its user."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def on_message(self, text: str) -> None:
        self.lines.append(text)


def write_texts(folder):
    """A small corpus of 40 .txt files of 30 words each (a user's --text-dir); returns the folder."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    words = ["Harry", "met", "Hermione", "in", "London", "on", "Monday", "."]
    for i in range(40):
        (folder / f"{i:02d}.txt").write_text(" ".join(rng.choice(words, size=30)) + "\n")
    return folder


def tiny_config(*more: str) -> pretrain.PretrainConfig:
    return apply_overrides(pretrain.preset("quick"), [*TINY, *more])


def test_the_pretraining_corpus_never_reads_a_test_review(imdb_tarball, monkeypatch):
    extracted = []
    original = tarfile.TarFile.extractfile

    def spy(self, member):
        extracted.append(member.name if hasattr(member, "name") else member)
        return original(self, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", spy)
    texts = list(imdb.pretraining_texts(imdb_tarball))
    assert extracted and not [name for name in extracted if "/test/" in name]
    corpus = imdb.load(imdb_tarball, unsup=True)
    by_part = {part: sorted(t for p, t in texts if p == part) for part in ("train", "validation", "unsup")}
    assert by_part["train"] == sorted(corpus.train.texts)  # the reviews sentiment trains on
    assert by_part["validation"] == sorted(corpus.validation.texts)  # the ones it holds out
    assert by_part["unsup"] == sorted(corpus.unsup)
    assert not set(corpus.test.texts) & {t for _, t in texts}


def test_token_streams_on_disk_equal_the_streams_in_memory(tmp_path):
    rng = np.random.default_rng(0)
    documents = [rng.integers(2, 300, rng.integers(1, 40)).tolist() for _ in range(30)]
    file = TokenFile(tmp_path / "ids.bin", vocab_size=300, separator=1)
    file.add(documents)
    file.close()
    ids = TokenFile.read(tmp_path / "ids.bin", 300)
    flat = np.concatenate([[*d, 1] for d in documents])
    assert file.tokens == len(flat) and np.array_equal(ids, flat)
    for reverse in (False, True):
        source = flat[::-1].copy() if reverse else flat
        memory, disk = TextStreams(source, 3, 7), TokenStreams(ids, 3, 7, reverse=reverse)
        for offset in (0, 4):
            pairs = list(zip(memory.batches(offset), disk.batches(offset), strict=True))
            assert all(
                torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and a.first == b.first for a, b in pairs
            )
        pairs = list(zip(memory.full_pass(), disk.full_pass(), strict=True))
        assert all(torch.equal(a.x, b.x) and torch.equal(a.y, b.y) for a, b in pairs)
    part = list(disk.batches(2, chunks=range(1, 3)))
    assert [torch.equal(a.x, b.x) for a, b in zip(part, list(disk.batches(2))[1:3])] == [True, True]


def test_pretraining_learns_and_resumes_exactly(imdb_tarball, tmp_path):
    config = tiny_config()
    unbroken = pretrain.train(config, str(imdb_tarball), tmp_path / "unbroken")
    assert unbroken["epochs"] == 2 and unbroken["passes"] == 1.0
    assert unbroken["corpus"]["documents"] == {"train": 77, "validation": 8}  # 72 + 5 unlabelled; 8 held out
    history = [row["val_loss"] for row in sentiment_history(tmp_path / "unbroken")]
    assert history[-1] < np.log(400)  # better than a uniform guess over the vocabulary
    with pytest.raises(Killed):  # dies in the second slice, after the first one's checkpoint
        pretrain.train(config, str(imdb_tarball), tmp_path / "broken", callbacks=[KillAt(epoch=2, step=2)])
    resumed = pretrain.train(config, str(imdb_tarball), tmp_path / "broken")
    assert resumed["epochs"] == 2
    for name in (ckpt.LAST, ckpt.BEST):
        left = pretrain.load_run(tmp_path / "unbroken", name)[0]
        right = pretrain.load_run(tmp_path / "broken", name)[0]
        for (key, x), (_, y) in zip(left.state_dict().items(), right.state_dict().items(), strict=True):
            assert torch.equal(x, y), f"{name} differs at {key}"
    assert unbroken["best_val_loss"] == resumed["best_val_loss"]


def sentiment_history(run_dir):
    import csv

    with open(run_dir / "history.csv") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def test_a_classifier_starts_from_the_pretrained_weights(imdb_tarball, tmp_path, capsys):
    run = tmp_path / "lm"
    assert main(["sentiment", "pretrain", "--preset", "quick", "--data", str(imdb_tarball), "--out", str(run),
                 *[f"--set={o}" for o in TINY]]) == 0  # fmt: skip
    assert "validation perplexity" in capsys.readouterr().out
    config = apply_overrides(
        sentiment.preset("pretrained"),
        [
            f"init={run}",
            "model.embed_dim=16",
            "model.hidden_sizes=16",
            "model.dense_size=8",
            "train.epochs=1",
        ],
    )
    weights, tokenizer = sentiment.pretrained_start(config)
    lm = pretrain.load_run(run)[0]
    model = sentiment.build_model(
        sentiment.resolved(apply_overrides(config, [f"vocab_size={tokenizer.vocab_size}"]))
    )
    model.load_state_dict(weights, strict=False)
    assert torch.equal(model.embedding.weight, lm.embedding.weight)
    for direction in (0, 1):
        mine, theirs = model.recurrent[0].cells[direction], lm.rnns[direction].cells[0]
        assert all(torch.equal(a, b) for a, b in zip(mine.parameters(), theirs.parameters(), strict=True))
    # the new head starts from the seed's weights, as without a pretrained run: reading the LM (which
    # builds a model) must not move the random generator the classifier's new layers draw from
    recipe = sentiment.SentimentRecipe(str(imdb_tarball))
    seed_everything(config.train.seed)
    data = recipe.prepare(sentiment.resolved(config), None)
    started = recipe.build(recipe.decide(sentiment.resolved(config), data), data)
    seed_everything(config.train.seed)
    fresh = sentiment.build_model(recipe.decide(sentiment.resolved(config), data))
    head = [n for n, _ in fresh.named_parameters() if n not in sentiment.pretrained_keys(fresh)]
    assert head and all(torch.equal(started.get_parameter(n), fresh.get_parameter(n)) for n in head)
    results = sentiment.train(config, str(imdb_tarball), tmp_path / "clf")
    assert results["epochs"] == 1 and 0.0 <= results["test_accuracy"] <= 1.0
    saved = sentiment.load_config(tmp_path / "clf")
    assert saved.init == str(run) and saved.vocab_size == tokenizer.vocab_size


def test_a_classifier_of_other_sizes_is_refused_clearly(imdb_tarball, tmp_path):
    run = tmp_path / "lm"
    pretrain.train(tiny_config("train.epochs=1"), str(imdb_tarball), run)
    config = apply_overrides(sentiment.preset("pretrained"), [f"init={run}", "model.embed_dim=16"])
    with pytest.raises(ConfigError, match=r"model.hidden_sizes\[0\] 256 here, 16 pretrained"):
        sentiment.pretrained_start(config)
    with pytest.raises(ckpt.CheckpointError, match="no pretrained run at"):
        sentiment.pretrained_start(apply_overrides(config, [f"init={tmp_path}"]))  # no run.json
    sentiment_run = tmp_path / "clf"
    sentiment.RUNS.save_config(sentiment.preset("seed"), sentiment_run)
    with pytest.raises(ckpt.CheckpointError, match="is a sentiment run, not a pretrained"):
        pretrain.load_run(sentiment_run)


def test_classifier_weights_map_each_direction():
    lm = WordLM(WordLMConfig(vocab_size=50, embed_dim=4, hidden_size=3, cutoffs=(10,)))
    weights = classifier_weights(lm.state_dict())
    assert set(weights) == {"embedding.weight"} | {
        f"recurrent.0.cells.{d}.{name}" for d in (0, 1) for name, _ in lm.rnns[d].cells[0].named_parameters()
    }


def test_pretraining_goes_on_from_a_pretrained_run_on_new_text(imdb_tarball, tmp_path):
    """init: the new run keeps the old one's tokenizer and sizes and starts from its best weights
    (with a learning rate of 1e-30, below float32 rounding, it ends with them), then learns the new text."""
    first = tmp_path / "lm"
    pretrain.train(tiny_config("train.epochs=1"), str(imdb_tarball), first)
    texts = write_texts(tmp_path / "texts")
    old, _, old_config = pretrain.load_run(first)
    frozen = pretrain.train(
        tiny_config(f"init={first}", "train.lr=1e-30", "train.warmup=0", "model.hidden_size=99"),
        None,
        tmp_path / "same",
        text_dir=str(texts),
    )
    new, _, config = pretrain.load_run(tmp_path / "same")
    assert config.model == old_config.model  # its sizes, whatever the command said
    assert (tmp_path / "same" / "tokenizer.json").read_text() == (first / "tokenizer.json").read_text()
    for (key, x), (_, y) in zip(old.state_dict().items(), new.state_dict().items(), strict=True):
        assert torch.equal(x, y), key
    adapted = pretrain.train(
        tiny_config(f"init={first}", "train.epochs=3"), None, tmp_path / "adapted", text_dir=str(texts)
    )
    assert adapted["best_val_loss"] < frozen["best_val_loss"]


@pytest.mark.parametrize("slices", [1, 4, 20, 37])
def test_the_slices_of_a_pass_are_its_chunks_once_each_none_empty(slices):
    ids = np.random.default_rng(0).integers(0, 50, size=4 * 8 * 38 + 9)
    streams = TokenStreams(ids, 4, 8)
    assert len(streams) == 37  # chunks per pass; 20 slices of ceil(37 / 20) = 2 left the 20th empty
    cut = pretrain.Slices([streams], slices, seed=3)
    for done in (0, 1):  # two passes: each cuts at its own offset
        parts = [list(cut(done * slices + part + 1)) for part in range(slices)]
        sizes = [len(part) for part in parts]
        assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1 and max(sizes) == cut.size
        offset = int(np.random.default_rng(3 * 1000 + done).integers(8))
        whole = list(streams.batches(offset))
        joined = [batch.forward for part in parts for batch in part]
        assert len(joined) == len(whole)
        assert all(
            torch.equal(a.x, b.x) and torch.equal(a.y, b.y) for a, b in zip(joined, whole, strict=True)
        )
        assert [batch.forward.first for part in parts for batch in part[:1]] == [True] * slices


def test_a_pass_of_fewer_chunks_than_slices_is_cut_one_chunk_an_epoch():
    """A small corpus (a user's --text-dir) trains with the preset's slices: a pass of 37 chunks
    asked in 40 slices is cut into 37 epochs of one chunk each, every chunk once a pass."""
    streams = TokenStreams(np.arange(4 * 8 * 38 + 9) % 50, 4, 8)
    cut = pretrain.Slices([streams], 40, seed=0)
    assert (cut.slices, cut.size) == (37, 1)
    for done in (0, 1):
        parts = [list(cut(done * 37 + part + 1)) for part in range(37)]
        assert [len(part) for part in parts] == [1] * 37
        offset = int(np.random.default_rng(done).integers(8))
        whole = list(streams.batches(offset))
        assert all(torch.equal(part[0].forward.x, batch.x) for part, batch in zip(parts, whole, strict=True))


def test_a_corpus_too_small_for_one_chunk_is_refused_before_training():
    streams = TokenStreams(np.arange(40) % 50, 4, 8)
    with pytest.raises(ConfigError) as refused:
        pretrain.Slices([streams], 20, seed=0)
    assert str(refused.value) == (
        "the corpus is too small for one chunk of 4 streams of 8 pieces; use a smaller --batch-size "
        "or seq_len, or more text"
    )


def test_a_text_folder_smaller_than_the_presets_slices_pretrains(tmp_path):
    """docs/pretrain.md's `--text-dir my_texts/` on a small folder: it trains (it used to stop with
    'slices=20 cuts each pass ... but a pass holds only N chunks'), and says how the pass is cut."""
    texts = write_texts(tmp_path / "texts")
    said = []
    config = tiny_config("slices=500", "train.epochs=2")
    results = pretrain.train(config, None, tmp_path / "lm", text_dir=str(texts), callbacks=[_Told(said)])
    assert results["epochs"] == 2 and math.isfinite(results["best_val_loss"])
    assert any("fewer than slices=500" in line for line in said), said


def test_a_resume_refuses_other_model_sizes_unless_an_init_run_decides_them(imdb_tarball, tmp_path):
    run = tmp_path / "lm"
    pretrain.train(tiny_config("train.epochs=1"), str(imdb_tarball), run)
    with pytest.raises(ConfigError, match=r"other settings \(model.hidden_size: 16 saved, 32 asked\)"):
        pretrain.train(tiny_config("train.epochs=2", "model.hidden_size=32"), str(imdb_tarball), run)
    assert pretrain.load_config(run).model.hidden_size == 16
    # the vocabulary's size is the corpus's (287 here, 400 asked): a resume keeps it
    assert pretrain.train(tiny_config("train.epochs=2"), str(imdb_tarball), run)["epochs"] == 2
    texts = tmp_path / "texts"
    texts.mkdir()
    for i in range(40):
        (texts / f"{i:02d}.txt").write_text("Harry met Hermione in London on Monday . " * 4 + "\n")
    again = tmp_path / "again"
    command = tiny_config(f"init={run}", "train.epochs=1", "model.hidden_size=99")  # sizes: run's
    pretrain.train(command, None, again, text_dir=str(texts))
    resumed = pretrain.train(apply_overrides(command, ["train.epochs=2"]), None, again, text_dir=str(texts))
    assert resumed["epochs"] == 2 and pretrain.load_config(again).model == pretrain.load_config(run).model


class Syncs:
    """os.fsync, recording the inode of every file it makes durable, in order."""

    def __init__(self, monkeypatch):
        self.inodes, real = [], os.fsync

        def fsync(fd):
            self.inodes.append(os.fstat(fd).st_ino)
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)

    def index(self, path):
        inode = path.stat().st_ino
        assert inode in self.inodes, f"{path.name} was never fsynced"
        return self.inodes.index(inode)


def test_a_token_file_is_on_disk_when_closed(tmp_path, monkeypatch):
    syncs = Syncs(monkeypatch)
    file = TokenFile(tmp_path / "ids.bin", vocab_size=300, separator=1)
    file.add([[5, 6, 7]])
    file.close()
    assert syncs.inodes == [(tmp_path / "ids.bin").stat().st_ino]
    assert np.array_equal(TokenFile.read(tmp_path / "ids.bin", 300), [5, 6, 7, 1])


def test_corpus_json_is_written_after_the_token_files_are_on_disk(tmp_path, monkeypatch):
    texts = tmp_path / "texts"
    texts.mkdir()
    for i in range(40):
        (texts / f"{i:02d}.txt").write_text("Harry met Hermione in London on Monday . " * 4 + "\n")
    run = tmp_path / "run"
    run.mkdir()
    syncs = Syncs(monkeypatch)
    record = pretrain.build_corpus(tiny_config(), None, str(texts), run, lambda text: None)
    corpus = syncs.index(run / pretrain.CORPUS_FILE)  # its temporary file, renamed: the same inode
    files = (pretrain.TOKENIZER_FILE, pretrain.TRAIN_TOKENS, pretrain.VALIDATION_TOKENS)
    tokens = [syncs.index(run / name) for name in files]
    names = syncs.inodes.index(run.stat().st_ino)  # the directory: the files' names are durable
    assert max(tokens) < names < corpus
    assert record["documents"] == {"train": 38, "validation": 2}
