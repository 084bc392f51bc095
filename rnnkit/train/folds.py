"""Cross-validation on the run template: one run per fold, the folds' figures gathered.

A cross-validated run directory holds the splits it was made with and one run of the template per
split::

    RUN/config.json       the task's config (``fold`` = 0)
    RUN/splits.json       every split, made once and seeded (rnnkit.train.cv)
    RUN/folds/01 ...      a run of the template per split (config ``fold`` = k, its own
                          splits.json holding split k alone)
    RUN/results.json      each fold's figures and their mean and sample standard deviation

Every task that cross-validates (DNA's stratified folds, speech's leave-one-speaker-out) hands
:func:`cross_validate` its splits and a recipe for one fold; running the same command again keeps
the finished folds and resumes an interrupted one. A task's config needs a ``fold: int`` field
(0 for the whole run, k in a fold's run) so that a fold's config says which fold it is.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..config import to_dict
from . import checkpoint as ckpt
from .cv import Splits, mean_sd
from .progress import tell
from .rundir import RunKind
from .template import RESULTS_FILE, Recipe, train_run

SPLITS_FILE = "splits.json"
FOLDS = "folds"  # a cross-validated run's folder of fold runs: folds/01, folds/02, ...
FOLD_FIGURES = ("best_val", "epochs", "train_seconds_total")  # kept from each fold's results


def fold_dir(run_dir: str | Path, fold: int) -> Path:
    """The run of fold ``fold`` (1-based)."""
    return Path(run_dir) / FOLDS / f"{fold:02d}"


def cross_validate(
    runs: RunKind,
    config: Any,
    splits: Splits,
    make_recipe: Callable[[Splits], Recipe],
    run_dir: str | Path,
    callbacks: Iterable[Any] = (),
    resume: bool = True,
    metrics: Sequence[str] = ("test_accuracy",),
) -> dict[str, Any]:
    """Train a run of the template per split of ``splits`` (``make_recipe(one)`` gives the recipe
    of a fold, ``one`` holding its split alone), in ``run_dir/folds/NN``; return (and write to
    ``results.json``) each fold's ``metrics`` and their mean and sample standard deviation
    (``NAME_mean``, ``NAME_sd``).

    A resumed run reads the splits it saved (``splits`` must then describe the same data: the same
    number of items and source), and a fold already finished with the same config is kept."""
    run_dir, callbacks = Path(run_dir), list(callbacks)
    runs.check_task(run_dir)
    start = time.perf_counter()
    if resume and (run_dir / ckpt.CONFIG).is_file():
        config = runs.resumable(runs.load_config(run_dir), config, run_dir)
        saved = Splits.load(run_dir / SPLITS_FILE)
        saved.check_source(splits.n, splits.source, run_dir / SPLITS_FILE)
        splits = saved
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        splits.save(run_dir / SPLITS_FILE)
    runs.save_config(config, run_dir)
    folds = []
    for k in range(1, len(splits) + 1):
        tell(callbacks, f"fold {k} of {len(splits)} ({splits.name(k - 1)})")
        fold_config = dataclasses.replace(config, fold=k)
        where = fold_dir(run_dir, k)
        if resume and _finished(runs, where, fold_config):
            folds.append(ckpt.load_json(where / RESULTS_FILE))
            continue
        recipe = make_recipe(splits.only(k - 1))
        folds.append(train_run(recipe, fold_config, where, callbacks, resume))
    results: dict[str, Any] = {"folds_kind": splits.kind, "cv": len(splits)}
    for metric in metrics:
        results[f"{metric}_mean"], results[f"{metric}_sd"] = mean_sd([f[metric] for f in folds])
    results["folds"] = [
        {
            "name": splits.name(k),
            **{name: f[name] for name in (*metrics, "test_loss", *FOLD_FIGURES) if name in f},
        }
        for k, f in enumerate(folds)
    ]
    results["train_seconds_total"] = sum(f["train_seconds_total"] for f in folds)
    results["seconds_this_session"] = time.perf_counter() - start
    results["parameters"] = folds[0]["parameters"]
    ckpt.save_json(results, run_dir / RESULTS_FILE)
    return results


def refuse_overwrite(runs: RunKind, config: Any, run_dir: str | Path, resume: bool) -> None:
    """Before a single-split run in ``run_dir``: a cross-validated run there (a config but no
    trainer state) is refused unless ``config`` may resume it, instead of being written over."""
    run_dir = Path(run_dir)
    if resume and (run_dir / ckpt.CONFIG).is_file() and not (run_dir / ckpt.STATE).is_file():
        runs.resumable(runs.load_config(run_dir), config, run_dir)


def members(runs: RunKind, run_dir: str | Path) -> list[Path]:
    """The runs that hold a model: the run itself, or every fold of a cross-validated run (an
    unfinished fold is an error that says how to finish it)."""
    run_dir = Path(run_dir)
    config = runs.load_config(run_dir)
    if getattr(config, "fold", 0) or not (run_dir / FOLDS).is_dir():
        return [run_dir]
    count = len(Splits.load(run_dir / SPLITS_FILE))
    dirs = [fold_dir(run_dir, k) for k in range(1, count + 1)]
    missing = [d.name for d in dirs if not (d / ckpt.BEST).is_file()]
    if missing:
        raise ckpt.CheckpointError(
            f"{run_dir} holds a {count}-fold run whose fold(s) {', '.join(missing)} have no weights yet; "
            "run the same train command again to finish it"
        )
    return dirs


def _finished(runs: RunKind, where: Path, config: Any) -> bool:
    if not (where / RESULTS_FILE).is_file():
        return False
    return to_dict(runs.load_config(where)) == to_dict(config)


__all__ = ["FOLDS", "SPLITS_FILE", "cross_validate", "fold_dir", "members", "refuse_overwrite"]
