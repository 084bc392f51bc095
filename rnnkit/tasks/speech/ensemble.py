"""Several finished FSDD digits runs answering as one (issue 29): the mean of their class
probabilities, each member reading the audio at its own features and rate,

    p(d | x) = (1/M) sum_m p_m(d | x_m)          x_m: the recording at member m's features

so members may differ in features, shape and initialisation (docs/speech.md measures the mean of
four such runs leaving each speaker out). Only the clip head's probabilities are averaged: a CTC
run's frames differ in rate and length between shapes, so its runs are refused by name.

An ensemble directory holds ``run.json`` (task ``speech``), ``ensemble.json`` (the members' folders
and the runs they were copied from) and ``members/01``, ``members/02``, ...: a copy of what each
member needs to answer and to be scored again (``run.json``, ``config.json``, the best weights and
the split; for a leave-one-speaker-out run, each fold's), so the directory can be moved or shared
on its own. Members must test (and validate) on the same recordings, fold by fold: runs of the same
split seed and validation share do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ... import __version__
from ...audio import AugmentConfig
from ...errors import ConfigError, InputError
from ...models.sequence import probabilities
from ...train import checkpoint as ckpt
from ...train import folds
from ...train.cv import Splits
from ...train.metrics import classification_scores
from ...train.rundir import RUN_FILE
from . import data as corpora
from .scoring import EVAL_BATCH, EVAL_STEPS
from .task import RUNS, SpeechConfig, build_model, prepare

ENSEMBLE_FILE = "ensemble.json"
MEMBERS = "members"
KEPT = (RUN_FILE, ckpt.CONFIG, ckpt.BEST, folds.SPLITS_FILE)  # what a member's copy keeps


def is_ensemble(run_dir: str | Path) -> bool:
    return (Path(run_dir) / ENSEMBLE_FILE).is_file()


def create(runs: list[str | Path], out: str | Path) -> list[Path]:
    """Copy the finished digits ``runs`` into a new ensemble directory ``out``; returns the members'
    folders there. Refused: fewer than two runs, a CTC run, an unfinished run, an ensemble, the same
    run twice (by two paths or as a copy: the same weights), runs that hold different numbers of
    models (a leave-one-speaker-out run beside a single one) or test or validate on other
    recordings, and an ``out`` that already holds something."""
    runs, out = [Path(r) for r in runs], Path(out)
    if len(runs) < 2:
        raise InputError(f"an ensemble needs two runs or more, got {len(runs)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} already exists and is not an empty folder; give a new --out")
    models = []
    for run in runs:
        if is_ensemble(run):
            raise ConfigError(
                f"{run} is an ensemble; give the runs it joins (its {ENSEMBLE_FILE} lists them under 'from')"
            )
        config = RUNS.load_config(run)
        if config.task != "digits":
            raise ConfigError(
                f"{run} is a --task {config.task} run; an ensemble averages class probabilities, so "
                "its members must be --task digits runs"
            )
        models.append(folds.members(RUNS, run))  # an unfinished fold: an error saying how to finish
    for run, dirs in zip(runs[1:], models[1:]):
        if len(dirs) != len(models[0]):
            raise ConfigError(
                f"{runs[0]} holds {len(models[0])} model(s) and {run} {len(dirs)}: give runs of one "
                "protocol (all --loso, or all on the dataset's split)"
            )
        for k, (ours, first) in enumerate(zip(dirs, models[0]), 1):
            _check_same_split(first, ours, k if len(dirs) > 1 else 0)
    _check_distinct(runs, models)
    members = []
    for i, run in enumerate(runs, 1):
        member = out / MEMBERS / f"{i:02d}"
        _copy_run(run, member)
        members.append(member)
    ckpt.save_json(
        {"members": [m.relative_to(out).as_posix() for m in members], "from": [str(r) for r in runs]},
        out / ENSEMBLE_FILE,
    )
    ckpt.save_json({"task": RUNS.name, "rnnkit": __version__, "ensemble": True}, out / RUN_FILE)
    return members


def _check_same_split(first: Path, other: Path, fold: int) -> None:
    a, b = Splits.load(first / folds.SPLITS_FILE)[0], Splits.load(other / folds.SPLITS_FILE)[0]
    for part in ("validation", "test"):
        if not np.array_equal(getattr(a, part), getattr(b, part)):
            raise ConfigError(
                f"{other} ({'fold ' + str(fold) if fold else 'its split'}) has other {part} recordings "
                f"than {first}: an ensemble's members must be scored on the same ones (train them "
                "with the same split_seed and validation_share)"
            )


def _check_distinct(runs: list[Path], models: list[list[Path]]) -> None:
    """Refuse runs with the same best weights, model by model (a run given twice, by two paths or
    as a copy): their vote would count double, and an ensemble of one model is that model."""
    seen: dict[tuple[str, ...], Path] = {}
    for run, dirs in zip(runs, models):
        weights = tuple(hashlib.sha256((d / ckpt.BEST).read_bytes()).hexdigest() for d in dirs)
        if weights in seen:
            raise ConfigError(
                f"{run} and {seen[weights]} hold the same weights (one run given twice, a copy, or runs "
                "of one seed that kept the same epoch); give runs whose models differ"
            )
        seen[weights] = run


def _copy_run(run: Path, member: Path) -> None:
    """``run``'s kept files into ``member``, and each fold's into ``member/folds/NN``."""
    member.mkdir(parents=True)
    for name in KEPT:
        if (run / name).is_file():
            shutil.copy2(run / name, member / name)
    if (run / folds.FOLDS).is_dir() and not RUNS.load_config(run).fold:
        for fold in folds.members(RUNS, run):
            _copy_run(fold, member / folds.FOLDS / fold.name)


def member_dirs(run_dir: str | Path) -> list[Path]:
    """The members' folders of the ensemble at ``run_dir`` (a damaged ``ensemble.json``, or a
    member that is not there, is a CheckpointError naming it)."""
    run_dir = Path(run_dir)
    record = ckpt.load_json(run_dir / ENSEMBLE_FILE)
    names = record.get("members") if isinstance(record, dict) else None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ckpt.CheckpointError(f"{run_dir / ENSEMBLE_FILE} lists no members")
    dirs = [run_dir / name for name in names]
    for d in dirs:
        if not d.resolve().is_relative_to(run_dir.resolve()) or not d.is_dir():
            raise ckpt.CheckpointError(f"{run_dir / ENSEMBLE_FILE} names a member {d} that is not in it")
    return dirs


def load(run_dir: str | Path) -> list[tuple[Any, SpeechConfig]]:
    """Each member's (model, config), its best weights, in eval mode: what answers files. An
    ensemble of leave-one-speaker-out runs holds a model per member and held-out speaker, for
    scoring (:func:`evaluate`), and is refused here with what to do instead."""
    members = member_dirs(run_dir)
    if any(len(folds.members(RUNS, member)) > 1 for member in members):
        raise ConfigError(
            f"{run_dir} joins leave-one-speaker-out runs (a model per held-out speaker): score it with "
            f"'rnnkit speech evaluate {run_dir}'; to transcribe files, join runs trained on the dataset's "
            "split, or the same fold of each run (rnnkit speech ensemble A/folds/01 B/folds/01 --out ENS)"
        )
    return [RUNS.load_model(member, build_model) for member in members]


def part_probabilities(model_dir: Path, data: str | Path | None, corpus: corpora.Fsdd) -> dict[str, Any]:
    """One model's (N, 10) probabilities on its split's validation and test recordings, with their
    labels and the split's name."""
    model, config = RUNS.load_model(model_dir, build_model)
    splits = Splits.load(model_dir / folds.SPLITS_FILE)
    # scoring reads no training recording: no perturbed voices to make
    prepared = prepare(dataclasses.replace(config, augment=AugmentConfig()), data, corpus, splits)
    parts = {"validation": prepared.validation, "test": prepared.test}
    found: dict[str, Any] = {"name": splits.name(0), "sizes": prepared.sizes}
    for name, part in parts.items():
        found[name] = np.stack(probabilities([model], part, None, EVAL_BATCH, EVAL_STEPS))
        found[name + "_labels"] = part.labels
    return found


def evaluate(run_dir: str | Path, data: str | Path | None) -> list[dict[str, Any]]:
    """The ensemble's scores, one dict per fold (one for the dataset's split): its test accuracy,
    confusion and per-digit scores, its validation accuracy, and each member's accuracies."""
    corpus = corpora.read_fsdd(data)
    per_member = [folds.members(RUNS, member) for member in member_dirs(run_dir)]
    results = []
    for dirs in zip(*per_member):
        found = [part_probabilities(d, data, corpus) for d in dirs]
        for f, d in zip(found[1:], dirs[1:]):  # the copies were checked; a hand-edited one is caught
            for part in ("validation", "test"):
                if not np.array_equal(f[part + "_labels"], found[0][part + "_labels"]):
                    raise ckpt.CheckpointError(f"{d} reads other {part} recordings than {dirs[0]}")
        labels = {part: found[0][part + "_labels"] for part in ("validation", "test")}
        mean = {part: np.mean([f[part] for f in found], axis=0) for part in labels}
        scores = classification_scores(mean["test"], labels["test"], corpora.DIGIT_SYMBOLS)
        results.append(
            {
                **{f"test_{name}": value for name, value in scores.items()},
                "validation_accuracy": float((mean["validation"].argmax(1) == labels["validation"]).mean()),
                "members": [
                    {part + "_accuracy": float((f[part].argmax(1) == labels[part]).mean()) for part in labels}
                    for f in found
                ],
                "sizes": found[0]["sizes"],
                "task": "digits",
                "name": found[0]["name"],
            }
        )
    return results


__all__ = ["ENSEMBLE_FILE", "create", "evaluate", "is_ensemble", "load", "member_dirs", "part_probabilities"]
