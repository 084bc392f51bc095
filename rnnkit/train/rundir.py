"""Run directories, the same for every task: presets, the task record, resume checks, loading.

A task describes its runs once, as a :class:`RunKind`::

    RUNS = RunKind(
        "sentiment", SentimentConfig, PRESETS,
        may_change=("train.epochs",),                    # what a resume may change
        from_data=("vocab_size", "model.vocab_size"),    # fields the data decided: kept as saved
        files=(TOKENIZER_FILE, RESULTS_FILE),            # its own files, removed by --restart
    )

and gets from it: a preset by name (:meth:`RunKind.preset`), the config a resume may go on with
(:meth:`RunKind.resumable`), ``config.json`` with the task recorded beside it in ``run.json``
(:meth:`RunKind.save_config`), the trainer, resumed where the run stopped (:meth:`RunKind.trainer`),
and the config or the model of a finished run (:meth:`RunKind.load_config`,
:meth:`RunKind.load_model`). Loading a run of another task is a :class:`~rnnkit.train.CheckpointError`
of one line ("runs/x is a language-model run, not a sentiment run"); a run from before ``run.json``
existed loads as before, by its config alone.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from torch import nn

from .. import __version__
from ..config import from_dict, get_field, replace_field, to_dict
from ..errors import ConfigError
from . import checkpoint as ckpt
from .checkpoint import CheckpointError
from .trainer import StepFn, TrainConfig, Trainer

RUN_FILE = "run.json"  # {"task": "sentiment", "rnnkit": "0.1.0"}: which task wrote the run

C = TypeVar("C")  # a task's config dataclass
M = TypeVar("M", bound=nn.Module)


@dataclasses.dataclass(frozen=True)
class RunKind(Generic[C]):
    """The runs of one task: its name, config class and presets, and what a resume may change.

    ``name`` is recorded in ``run.json`` and named in errors ("a sentiment run"). ``may_change``
    lists the dotted config fields that a resumed run takes from the new command (more epochs, a
    longer time budget); ``from_data`` those decided by the data when the run began (a vocabulary
    size), which a resume keeps as saved whatever the new command says; ``from_init`` those that a
    run started from another (its config's ``init`` field set) takes from that run (its sizes):
    kept as saved when the command names an ``init`` too, and compared like any other field when
    it does not, since the command's own values then made the model. ``files`` are the task's
    own files in the run directory, removed with the trainer's by :meth:`clear`, and ``folders``
    its own folders (an ensemble's members), removed whole. ``upgrade`` turns a ``config.json``
    written by an older rnnkit (as a dict) into today's form before it is read; the run's next save
    writes today's form.
    """

    name: str
    config: type[C]
    presets: Mapping[str, C] = dataclasses.field(default_factory=dict)
    may_change: tuple[str, ...] = ("train.epochs",)
    from_data: tuple[str, ...] = ()
    from_init: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        names = {f.name for f in dataclasses.fields(self.config)}
        if self.from_init and "init" not in names:
            raise TypeError(f"from_init needs a config with an 'init' field; {self.config.__name__} has none")

    def preset(self, name: str) -> C:
        if name not in self.presets:
            raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(self.presets)}")
        return self.presets[name]

    def resumable(self, saved: C, asked: C, run_dir: str | Path) -> C:
        """The config to resume ``run_dir`` with: the saved one, with the asked values of
        ``may_change``. Any other difference is a :class:`~rnnkit.errors.ConfigError` that names the
        fields and says to resume with the same options or to start a new run; ``from_data`` (and
        ``from_init`` when ``asked`` names an ``init`` run) are kept as saved without comparing."""
        saved_fields, asked_fields = _flat(to_dict(saved)), _flat(to_dict(asked))
        kept = set(self.may_change) | set(self.from_data)
        if self.from_init and getattr(asked, "init", None):
            kept |= set(self.from_init)
        differ = [
            f"{key}: {saved_fields.get(key)!r} saved, {asked_fields.get(key)!r} asked"
            for key in sorted(saved_fields.keys() | asked_fields.keys())
            if key not in kept and saved_fields.get(key) != asked_fields.get(key)
        ]
        if differ:
            shown = "; ".join(differ[:3]) + (f"; {len(differ) - 3} more" if len(differ) > 3 else "")
            raise ConfigError(
                f"{run_dir} holds a run with other settings ({shown}); resume it with the "
                f"same options (only {', '.join(self.may_change)} may change), or pass a new --out"
            )
        for key in self.may_change:
            saved = replace_field(saved, key, get_field(asked, key))
        return saved

    def save_config(self, config: C, run_dir: str | Path) -> None:
        """Write ``config.json`` and ``run.json`` (the task), refusing a directory of another task."""
        run_dir = Path(run_dir)
        self.check_task(run_dir)
        ckpt.save_json(to_dict(config), run_dir / ckpt.CONFIG)
        ckpt.save_json({"task": self.name, "rnnkit": __version__}, run_dir / RUN_FILE)

    def check_task(self, run_dir: str | Path) -> None:
        """Refuse a run directory that ``run.json`` gives to another task (none: an older run)."""
        path = Path(run_dir) / RUN_FILE
        if not path.is_file():
            return
        record = ckpt.load_json(path)
        task = record.get("task") if isinstance(record, dict) else None
        if task != self.name:
            raise CheckpointError(f"{run_dir} is a {task} run, not a {self.name} run")

    def load_config(self, run_dir: str | Path) -> C:
        """The config saved in ``run_dir``, after checking that the run is one of this task's."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise CheckpointError(f"no run directory at {run_dir}")
        self.check_task(run_dir)
        raw = ckpt.load_json(run_dir / ckpt.CONFIG)
        if self.upgrade is not None and isinstance(raw, dict):
            raw = self.upgrade(raw)
        try:
            return from_dict(self.config, raw)
        except (TypeError, ValueError) as error:
            raise CheckpointError(f"{run_dir}/{ckpt.CONFIG} is not a {self.name} config ({error})") from None

    def load_model(
        self, run_dir: str | Path, build: Callable[[C], M], weights: str = ckpt.BEST
    ) -> tuple[M, C]:
        """The model that ``build(config)`` makes, with the run's ``weights``, in eval mode."""
        config = self.load_config(run_dir)
        model = build(config)
        ckpt.load_weights(model, Path(run_dir) / weights)
        return model.eval(), config

    def trainer(
        self,
        model: nn.Module,
        step: StepFn,
        config: TrainConfig,
        run_dir: str | Path,
        callbacks: Iterable[Any] = (),
        resume: bool = True,
        param_groups: list[dict[str, Any]] | None = None,
    ) -> Trainer:
        """The :class:`~rnnkit.train.Trainer` of ``run_dir``; with ``resume``, restored to the end of
        the last finished epoch if one is saved there (and it says so)."""
        trainer = Trainer(model, step, config, run_dir, callbacks, param_groups)
        if resume and trainer.resume():
            trainer.message(f"resuming the {self.name} run in {run_dir} after epoch {trainer.epoch}")
        return trainer

    def clear(self, run_dir: str | Path) -> None:
        """Remove what a run of this task holds (``--restart``), keeping anything else there."""
        ckpt.clear_run(Path(run_dir), extra=(*self.files, RUN_FILE))
        for name in self.folders:
            shutil.rmtree(Path(run_dir) / name, ignore_errors=True)


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"epochs": 3}}`` -> ``{"train.epochs": 3}``."""
    flat = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


__all__ = ["RUN_FILE", "RunKind"]
