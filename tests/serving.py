"""Tiny runs of the four served tasks, made in seconds, for the serving tests (API and browser)."""

from __future__ import annotations

from pathlib import Path

from test_tag import write_conll
from test_translate import write_tatoeba

from rnnkit.cli import main
from rnnkit.config import apply_overrides
from rnnkit.models.charlm import CharLMConfig
from rnnkit.tasks import charlm, sentiment
from rnnkit.train import TrainConfig

SENTIMENT = ["vocab_size=300", "model.embed_dim=8", "model.hidden_sizes=8", "model.dense_size=8"]
SENTIMENT += ["model.pooling=max", "train.lr=0.01", "train.batch_size=16", "train.epochs=4"]
TAG = ["--set", "model.word_dim=8", "--set", "model.char_dim=4", "--set", "model.char_hidden=4"]
TAG += ["--set", "model.hidden_size=8", "--set", "model.casing_dim=2", "--set", "train.time_limit=none"]
TAG += ["--epochs", "1", "--batch-size", "32"]
TRANSLATE = ["--set", "source_vocab_size=300", "--set", "target_vocab_size=300", "--set", "test_pairs=20"]
TRANSLATE += ["--set", "validation_pairs=20", "--set", "model.embed_size=8", "--set", "model.hidden_size=8"]
TRANSLATE += ["--set", "model.decoder_size=16", "--set", "train.time_limit=null", "--epochs", "1"]


def make_runs(root: Path, imdb_tarball: Path) -> dict[str, Path]:
    """A run of each task under ``root``: {"review": sentiment, "shakespeare": language model,
    "ner": tagging, "fr-en": translation}."""
    runs = {name: root / name for name in ("review", "shakespeare", "ner", "fr-en")}
    sentiment.train(apply_overrides(sentiment.preset("seed"), SENTIMENT), imdb_tarball, runs["review"])
    text = root / "text.txt"
    text.write_text("ROMEO: the cat sat on the mat.\nJULIET: a dog, a log!\n" * 40, encoding="utf-8")
    lm = charlm.LMConfig(
        seq_len=16,
        val_batch_size=2,
        model=CharLMConfig(hidden_size=16, embed_dim=8),
        train=TrainConfig(epochs=1, batch_size=4, lr=1e-2, monitor="val_loss"),
    )
    charlm.train(lm, text, runs["shakespeare"])
    conll = write_conll(root / "conll", sizes=(60, 20, 20))
    assert main(["tag", "train", "--data", str(conll), "--out", str(runs["ner"]), *TAG]) == 0
    pairs = write_tatoeba(root / "tatoeba")
    assert main(["translate", "train", "--data", str(pairs), "--out", str(runs["fr-en"]), *TRANSLATE]) == 0
    return runs
