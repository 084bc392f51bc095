"""One run template for every task: a task gives its parts, :func:`train_run` runs the steps.

Every task trains the same way::

    check the run directory -> resume check (the saved config, only ``may_change`` may differ)
    -> seed -> data (a resumed run reads its saved tokenizer) -> fields the data decides
    -> config.json and the task's own files -> model -> trainer (resumed) -> fit
    -> best weights -> test scores -> results.json

A task writes that once, as a :class:`Recipe` (the idea of fairseq's ``FairseqTask`` and
Lightning's hooks, without the framework)::

    class SentimentRecipe(Recipe[SentimentConfig, PreparedData]):
        runs = RUNS
        def prepare(self, config, saved): ...          # the data; saved: a resumed run's files
        def build(self, config, data): ...             # the model
        def step(self, config): ...                    # the training step (rnnkit.train.StepFn)
        def fit(self, config, data, trainer, model): ...   # the batches: a Fit
        def test(self, config, data, trainer, model): ...  # the best weights' scores

and ``train_run(SentimentRecipe(data_path), config, run_dir, callbacks)`` runs it. The other hooks
have defaults that do nothing. Under torchrun every process runs the template; rank 0 alone
writes the run directory.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from torch import nn

from . import checkpoint as ckpt
from .distributed import is_main
from .rundir import RunKind
from .trainer import StepFn, Trainer, seed_everything

C = TypeVar("C")  # the task's config dataclass (with a ``train: TrainConfig`` field)
D = TypeVar("D")  # the task's prepared data

RESULTS_FILE = "results.json"


@dataclass
class Fit:
    """What :meth:`Trainer.fit` reads for one run: the training batches of an epoch, how many
    there are, and the validation (mean step metrics over ``validation()`` and/or ``validate``'s
    own metrics, such as a BLEU)."""

    train: Callable[[int], Iterable[Any]]  # epoch -> its batches
    steps: int  # batches per epoch (of the whole data, before any torchrun sharding)
    validation: Callable[[], Iterable[Any]] | None = None
    validate: Callable[[nn.Module], dict[str, float]] | None = None


class Recipe(ABC, Generic[C, D]):
    """A task's parts for :func:`train_run`: ``prepare``, ``build``, ``step``, ``fit`` and ``test``
    must be given; the other hooks default to nothing."""

    runs: ClassVar[RunKind]

    def load_saved(self, run_dir: Path, config: C) -> Any:
        """What a resumed run reads back from ``run_dir`` before the data (its tokenizer), or
        ``None``. Raise here to refuse a resume (trained on another file, say)."""
        return None

    @abstractmethod
    def prepare(self, config: C, saved: Any) -> D:
        """The data; ``saved`` is :meth:`load_saved`'s for a resumed run, ``None`` for a new one
        (which then learns its tokenizer from the training split)."""

    def decide(self, config: C, data: D) -> C:
        """A new run's config with the fields its data decides (a vocabulary size)."""
        return config

    def save_new(self, config: C, data: D, run_dir: Path) -> None:
        """A new run's own files (its tokenizer), written once, before ``config.json``."""

    @abstractmethod
    def build(self, config: C, data: D) -> nn.Module:
        """The model (new weights: a resumed run's are loaded by the trainer)."""

    def param_groups(self, config: C, model: nn.Module) -> list[dict[str, Any]] | None:
        """Optimizer groups (e.g. a slower rate for pretrained layers), or ``None`` for one group."""
        return None

    @abstractmethod
    def step(self, config: C) -> StepFn:
        """The training step: ``(model, batch) -> (loss, metric sums, count)``."""

    @abstractmethod
    def fit(self, config: C, data: D, trainer: Trainer, model: nn.Module) -> Fit:
        """The batches of training and validation (``trainer.shard`` under torchrun)."""

    def started(self, config: C, data: D, trainer: Trainer, model: nn.Module) -> None:
        """Called once the trainer is ready, before fitting (to print the model's summary)."""

    @abstractmethod
    def test(self, config: C, data: D, trainer: Trainer, model: nn.Module) -> dict[str, Any]:
        """The scores of the best weights (already loaded into ``model``), for ``results.json``."""


def train_run(
    recipe: Recipe[C, D], config: C, run_dir: str | Path, callbacks: Iterable[Any] = (), resume: bool = True
) -> dict[str, Any]:
    """Train (or resume) ``recipe``'s run in ``run_dir`` and score its best weights; returns the
    results (also written to ``results.json``): the recipe's test scores, then ``best_val``,
    ``epochs``, ``train_seconds_total``, ``train_seconds_this_session`` and ``parameters``."""
    run_dir = Path(run_dir)
    runs = recipe.runs
    runs.check_task(run_dir)  # before any data is read or tokenizer trained
    saved = None
    resuming = resume and (run_dir / ckpt.STATE).is_file()
    if resuming:
        config = runs.resumable(runs.load_config(run_dir), config, run_dir)
        saved = recipe.load_saved(run_dir, config)
        if is_main():  # the resolved config, a grown budget included
            runs.save_config(config, run_dir)
    seed_everything(config.train.seed)
    data = recipe.prepare(config, saved)
    if not resuming:
        config = recipe.decide(config, data)
        if is_main():  # under torchrun, rank 0 alone writes the run directory
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / ckpt.STATE).unlink(missing_ok=True)  # a fresh run: no older state to resume later
            recipe.save_new(config, data, run_dir)
            runs.save_config(config, run_dir)
    model = recipe.build(config, data)
    groups = recipe.param_groups(config, model)
    trainer = runs.trainer(model, recipe.step(config), config.train, run_dir, callbacks, resume, groups)
    recipe.started(config, data, trainer, model)
    fit = recipe.fit(config, data, trainer, model)
    start = time.perf_counter()
    trainer.fit(fit.train, fit.steps, fit.validation, validate=fit.validate)
    session = time.perf_counter() - start
    ckpt.load_weights(model, run_dir / ckpt.BEST)
    results = {
        **recipe.test(config, data, trainer, model),
        "best_val": trainer.best,
        "epochs": trainer.epoch,
        "train_seconds_total": trainer.elapsed,
        "train_seconds_this_session": session,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if trainer.writes:
        ckpt.save_json(results, run_dir / RESULTS_FILE)
    return results


__all__ = ["RESULTS_FILE", "Fit", "Recipe", "train_run"]
