"""The pretrained word language model of a ``rnnkit sentiment pretrain`` run, for any task to read.

A pretraining run directory holds ``run.json`` (task ``sentiment-pretrain``), ``config.json`` (its
``model`` part a :class:`~rnnkit.models.wordlm.WordLMConfig`), ``tokenizer.json`` (the byte-level
BPE, with :data:`SEPARATOR` between documents) and the weights. :func:`load_word_lm` gives the model
and its tokenizer, so that a task built on them (the pretrain task going on from a run, a tagger's
frozen features) needs neither the pretrain task nor its config.
"""

from __future__ import annotations

from pathlib import Path

from ..config import from_dict
from ..data.tokenizer import Tokenizer
from ..models.wordlm import WordLM, WordLMConfig
from . import checkpoint as ckpt
from .rundir import RUN_FILE

TASK = "sentiment-pretrain"  # the task recorded in a pretraining run's run.json
TOKENIZER_FILE = "tokenizer.json"
SEPARATOR = "</s>"  # the piece between documents


def check_pretrained(run_dir: str | Path) -> Path:
    """``run_dir`` as a path, after checking that ``run.json`` names a pretraining run."""
    run_dir = Path(run_dir)
    if not (run_dir / RUN_FILE).is_file():
        raise ckpt.CheckpointError(f"no pretrained run at {run_dir} (no {RUN_FILE})")
    task = ckpt.load_json(run_dir / RUN_FILE).get("task")
    if task != TASK:
        raise ckpt.CheckpointError(
            f"{run_dir} is a {task} run, not a pretrained language model (rnnkit sentiment pretrain)"
        )
    return run_dir


def load_word_lm(run_dir: str | Path, weights: str = ckpt.BEST) -> tuple[WordLM, Tokenizer]:
    """The pretrained model (its ``weights``, eval mode) and its tokenizer; a clear error for a
    run of another task. ``model.config`` holds its sizes."""
    run_dir = check_pretrained(run_dir)
    raw = ckpt.load_json(run_dir / ckpt.CONFIG)
    try:
        config = from_dict(WordLMConfig, raw["model"])
    except (KeyError, TypeError, ValueError) as error:
        raise ckpt.CheckpointError(
            f"{run_dir}/{ckpt.CONFIG} has no language model's sizes ({error})"
        ) from None
    model = WordLM(config)
    ckpt.load_weights(model, run_dir / weights)
    return model.eval(), Tokenizer.load(run_dir / TOKENIZER_FILE)


__all__ = ["SEPARATOR", "TASK", "TOKENIZER_FILE", "check_pretrained", "load_word_lm"]
