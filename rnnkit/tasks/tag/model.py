"""The tagger of a config, its training step, a trained run's model, and the pretrained language
model a tagger reads (:func:`rnnkit.train.pretrained.load_word_lm`)."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from ...data.tokenizer import Tokenizer
from ...errors import ConfigError
from ...models.tagger import SequenceTagger, TagBatch, TaggerEnsemble
from ...models.wordlm import WordLM
from ...train import checkpoint as ckpt
from ...train.pretrained import load_word_lm
from .config import RUNS, VOCAB_FILE, TagConfig, member_dir
from .data import Vocabularies


def step(model: nn.Module, batch: TagBatch) -> tuple[Tensor, dict[str, float], int]:
    """The mean negative log-likelihood per sentence (CRF) or per word (softmax)."""
    loss, _ = model.loss(batch)
    count = len(batch.indices) if model.crf is not None else int(batch.lengths.sum())
    return loss / count, {}, count


def build_model(config: TagConfig) -> SequenceTagger:
    return SequenceTagger(config.model)


def load_run(run_dir: str | Path) -> tuple[SequenceTagger | TaggerEnsemble, TagConfig, Vocabularies]:
    """A trained run's model (best weights, eval mode), config and vocabularies; for an ensemble,
    its members as one :class:`~rnnkit.models.tagger.TaggerEnsemble`."""
    config = RUNS.load_config(run_dir)
    if config.members == 1:
        model, config = RUNS.load_model(run_dir, build_model)
        return model, config, Vocabularies.load(Path(run_dir) / VOCAB_FILE)
    models, vocab = [], None
    for k in range(1, config.members + 1):
        folder = member_dir(run_dir, k)
        if not (folder / ckpt.BEST).is_file():
            raise ckpt.CheckpointError(f"member {k} of the ensemble {run_dir} has no trained weights yet")
        models.append(RUNS.load_model(folder, build_model)[0])
        mine = Vocabularies.load(folder / VOCAB_FILE)
        if vocab is None:
            vocab = mine
        elif (mine.words.items, mine.chars.items, mine.tags.tags) != (
            vocab.words.items,
            vocab.chars.items,
            vocab.tags.tags,
        ):
            raise ckpt.CheckpointError(f"the members of {run_dir} have different vocabularies")
    return TaggerEnsemble(models).eval(), config, vocab


def language_model(path: str) -> tuple[WordLM, Tokenizer]:
    """The pretrained language model of ``path`` (a ``rnnkit sentiment pretrain`` run) and its
    tokenizer; a clear error saying how to make one when there is none."""
    if not (Path(path) / ckpt.BEST).is_file():
        raise ConfigError(
            f"no pretrained language model at {path}: this preset reads one (lm={path!r}); make it with "
            "'rnnkit sentiment pretrain' (about an hour on 2 cores; preset best then adapts it to "
            "eng.train's words, docs/tag.md), or pass --lm RUN"
        )
    return load_word_lm(path)
