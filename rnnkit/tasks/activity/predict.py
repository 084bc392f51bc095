"""A trained activity run at work: its test scores (:func:`evaluate`), a baseline on the same split
(:func:`baseline`) and the answers for a user's files (:class:`Predictor`): the clip's action with
its probabilities and the label of every frame."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...data.locate import DataError
from ...data.multichannel import read_csv_file, read_ts
from ...data.sequences import FeatureSequences
from ...errors import InputError
from ...train import folds
from ...train.cv import Splits
from ...train.metrics import classification_scores
from ...train.plots import plot_confusion
from .data import clean, read_skeleton
from .dtw import DTW_FILE, DTWReference
from .logistic import LOGISTIC_FILE, Logistic, logistic_probs, statistics
from .skeleton import features, normalise
from .task import (
    ADAPTER_FILE,
    RUNS,
    SPLITS_FILE,
    Adapter,
    Inputs,
    answer_clips,
    build_model,
    load_inputs,
)


def load_run(run_dir: str | Path):
    """(models, config, adapter) of a finished run: its model, or an ensemble's members."""
    run_dir = Path(run_dir)
    models = [RUNS.load_model(d, build_model)[0].eval() for d in folds.members(RUNS, run_dir)]
    return models, RUNS.load_config(run_dir), Adapter.load(run_dir / ADAPTER_FILE)


def load_logistic(run_dir: str | Path, config) -> Logistic | None:
    """The run's logistic baseline (``logistic.json``) if it fuses one (``config.fusion`` > 0)."""
    return Logistic.load(Path(run_dir) / LOGISTIC_FILE) if config.fusion else None


def load_dtw(run_dir: str | Path, config) -> DTWReference | None:
    """The run's DTW reference clips (``dtw.npz``) if it fuses DTW (``config.dtw`` > 0)."""
    return DTWReference.load(Path(run_dir) / DTW_FILE) if config.dtw else None


def run_data(run_dir: str | Path, data: str | None = None, test: str | None = None):
    """The run's config, adapter and data on its recorded split (``data``/``test``: where the files
    are now, if they moved)."""
    run_dir = Path(run_dir)
    config = RUNS.load_config(run_dir)
    adapter = Adapter.load(run_dir / ADAPTER_FILE)
    saved = dict(adapter.inputs)
    inputs = Inputs(saved["kind"], data or saved["data"], test or saved.get("test"))
    return config, adapter, load_inputs(inputs, config, Splits.load(run_dir / SPLITS_FILE))


def evaluate(
    run_dir: str | Path, data: str | None = None, test: str | None = None, png: str | Path | None = None
) -> dict[str, Any]:
    """Accuracy, per-class scores and the confusion matrix on the run's test part; the matrix also
    drawn to ``png`` (default: RUN/confusion.png)."""
    run_dir = Path(run_dir)
    predictor = Predictor.from_run(run_dir)
    adapter = predictor.adapter
    _, _, prepared = run_data(run_dir, data, test)
    start = time.perf_counter()
    probs = np.stack([clip for clip, _ in predictor.answer_clips(prepared.test)])
    result = classification_scores(probs, prepared.test.labels, adapter.classes)
    result["seconds"] = time.perf_counter() - start
    result["tested"] = len(prepared.test)
    result["classes"] = adapter.classes
    result["png"] = str(png or run_dir / "confusion.png")
    plot_confusion(
        result["confusion"], adapter.classes, result["png"], f"test accuracy {result['accuracy']:.2%}"
    )
    return result


def baseline(run_dir: str | Path, data: str | None = None, test: str | None = None) -> dict[str, Any]:
    """:func:`logistic_probs` on the run's split: it trains on the training and validation parts
    (it chooses no epoch), scores the same test part."""
    _, adapter, prepared = run_data(run_dir, data, test)
    start = time.perf_counter()
    fit = [*prepared.train.features, *prepared.validation.features]
    y = np.concatenate([prepared.train.labels, prepared.validation.labels])
    probs = logistic_probs(fit, y, list(prepared.test.features), len(adapter.classes))
    result = classification_scores(probs, prepared.test.labels, adapter.classes)
    return {"accuracy": result["accuracy"], "tested": len(probs), "seconds": time.perf_counter() - start}


class Predictor:
    """The answers of a run for files: skeleton files (a skeleton run), or ``.ts`` / ``.csv`` files
    (a multichannel run: every case of a .ts file, a .csv file as one case)."""

    def __init__(
        self,
        models: list,
        adapter: Adapter,
        config,
        logistic: Logistic | None = None,
        reference: DTWReference | None = None,
    ) -> None:
        self.models, self.adapter, self.config = models, adapter, config
        self.logistic, self.reference = logistic, reference

    @classmethod
    def from_run(cls, run_dir: str | Path) -> Predictor:
        models, config, adapter = load_run(run_dir)
        return cls(models, adapter, config, load_logistic(run_dir, config), load_dtw(run_dir, config))

    def answer_clips(
        self, clips: FeatureSequences, progress: Callable[[int, int], None] | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """:func:`answer_clips` with the run's models, logistic baseline and DTW reference."""
        config = self.config
        return answer_clips(
            self.models, clips, self.logistic, config.fusion, progress,
            reference=self.reference, dtw=config.dtw, sharpness=config.dtw_sharpness,
        )  # fmt: skip

    def read(self, path: str | Path) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
        """(name, features (T, E), normalised joints (T, J, 3) or None) for each clip in ``path``."""
        path = Path(path)
        if self.adapter.input == "skeleton":
            joints = normalise(clean(read_skeleton(path), path.name)[0], self.config.skeleton)
            return [(path.name, features(joints, self.config.skeleton), joints)]
        if path.suffix == ".ts":
            cases = read_ts(path)
            return [(n, self.adapter.channels(x), None) for n, x in zip(cases.names, cases.features)]
        if path.suffix == ".csv":
            return [(path.name, self.adapter.channels(read_csv_file(path, path.name)), None)]
        raise InputError(
            f"{path}: a multichannel run reads .ts or .csv files, got {path.suffix or 'no suffix'}"
        )

    def __call__(
        self, paths: list[str | Path], progress: Callable[[int, int], None] | None = None
    ) -> list[dict[str, Any]]:
        """One answer per clip, in order: ``{"name", "frames", "class", "probabilities",
        "frame_labels"}`` (and ``"joints"`` for a skeleton, for drawing), or ``{"name", "error"}``
        for a file that cannot be read (the others are answered all the same)."""
        answers, clips, where = [], [], []
        for path in paths:
            try:
                read = self.read(path)
            except (DataError, InputError, OSError) as error:
                answers.append({"name": Path(path).name, "error": str(error)})
                continue
            for name, x, joints in read:
                where.append(len(answers))
                clips.append(x)
                answers.append({"name": name, "frames": len(x), "joints": joints})
        if clips:
            classes = self.adapter.classes
            for i, (clip, frames) in zip(where, self.answer_clips(FeatureSequences(clips), progress)):
                answers[i]["class"] = classes[int(clip.argmax())]
                answers[i]["probabilities"] = {c: float(p) for c, p in zip(classes, clip)}
                answers[i]["frame_labels"] = [classes[int(k)] for k in frames.argmax(axis=1)]
        return answers


__all__ = [
    "Predictor",
    "answer_clips",
    "baseline",
    "evaluate",
    "load_dtw",
    "load_logistic",
    "load_run",
    "logistic_probs",
    "run_data",
    "statistics",
]
