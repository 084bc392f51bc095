"""Transcribing audio files with a speech run, evaluating a run again, and the alignment picture.

:class:`Predictor` reads each file at the run's rate (:func:`rnnkit.audio.read_audio`), makes its
features, runs the model through the one inference loop and decodes: a digit and its
probabilities (``digits``), or a transcript by greedy or prefix beam search, with the LM of the run
when the beam is wider than 1. A file that cannot be read is answered by an error in its place;
the others are answered all the same, in order. An ensemble of digits runs (:mod:`.ensemble`)
answers with the mean of its members' probabilities, each member reading the file at its own
features.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ...audio import features, read_audio
from ...data.sequences import FeatureSequences
from ...decode.ctc import greedy
from ...errors import InputError
from ...train import folds
from ...train.cv import Splits, mean_sd
from ...train.plots import save_png
from . import ensemble
from .scoring import load_lm
from .task import RUNS, SpeechConfig, build_model, decode, outputs, prepare, score


class Predictor:
    """Answers audio with ``model`` (``config``: its features, task and decoding); ``others``: the
    further (model, config) members of a digits ensemble, whose probabilities are averaged with it."""

    def __init__(self, model, config: SpeechConfig, lm=None, others: Sequence[tuple[Any, SpeechConfig]] = ()):
        self.model, self.config, self.lm = model.eval(), config, lm
        self.others = [(m.eval(), c) for m, c in others]
        if self.others and any(c.task != "digits" for c in (config, *(c for _, c in self.others))):
            raise ValueError("only --task digits runs answer together (the mean of their probabilities)")

    @classmethod
    def from_run(cls, run_dir: str | Path) -> Predictor:
        """The run at ``run_dir``, or the ensemble there (``rnnkit speech ensemble``)."""
        if ensemble.is_ensemble(run_dir):
            (model, config), *others = ensemble.load(run_dir)
            return cls(model, config, None, others)
        model, config = RUNS.load_model(run_dir, build_model)
        return cls(model, config, load_lm(config, Path(run_dir)))

    def __call__(
        self,
        entries: list[tuple[str, str | Path | bytes]],
        beam: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        keep: bool = False,
    ) -> list[dict[str, Any]]:
        """One answer per ``(name, path or bytes)``: ``{"name", "seconds", "transcript"}`` (digits:
        also ``"digit"`` and ``"probabilities"``; CTC: ``"symbols"``, each emitted symbol with the
        times of its greedy frames), or ``{"name", "error"}``. ``keep`` adds the features and the
        model's outputs (for the alignment picture)."""
        config = self.config
        configs = self.configs
        answers: list[dict[str, Any]] = []
        inputs: list[list[np.ndarray]] = [[] for _ in configs]  # per member: each readable file's features
        where = []
        for name, source in entries:
            try:  # a file that any member cannot read (its rate, its length limit) is an error in its place
                waves = self.read(source, name)
            except InputError as error:
                answers.append({"name": name, "error": str(error)})
                continue
            where.append(len(answers))
            for member, wave, c in zip(inputs, waves, configs):
                member.append(features(wave, c.features))
            answers.append({"name": name, "seconds": len(waves[0]) / config.features.sample_rate})
        if not where:
            return answers
        out = outputs(self.model, FeatureSequences(inputs[0]), progress)
        if self.others:
            each = [outputs(m, FeatureSequences(x)) for (m, _), x in zip(self.others, inputs[1:])]
            out = list(np.mean([out, *each], axis=0))
        width = beam if beam is not None else config.beam
        step = config.features.step_seconds * config.model.time_stride  # one output step's seconds
        for i, x, o in zip(where, inputs[0], out):
            answer = answers[i]
            if config.task == "digits":
                answer["digit"] = int(o.argmax())
                answer["transcript"] = config.symbols[int(o.argmax())]
                answer["probabilities"] = [float(p) for p in o]
            else:
                ids = decode(config, o, width, self.lm if width > 1 else None)
                answer["transcript"] = config.transcript(ids)
                answer["symbols"] = [
                    {"symbol": config.symbols[e.symbol - 1], "start": e.start * step, "end": e.end * step}
                    for e in greedy(o)[1]
                ]
            if keep:
                answer["features"], answer["outputs"] = x, o
        return answers

    @property
    def configs(self) -> list[SpeechConfig]:
        """Every member's config, the first's (``config``) first."""
        return [self.config, *(c for _, c in self.others)]

    def read(self, source: str | Path | bytes, name: str) -> list[np.ndarray]:
        """``source``'s waveform for each member, at its rate and length limit (read once per pair);
        an InputError naming ``name`` when any member cannot read it."""
        keys = [(c.features.sample_rate, c.features.max_seconds) for c in self.configs]
        read = {key: read_audio(source, *key, name=name) for key in dict.fromkeys(keys)}
        return [read[key] for key in keys]


def evaluate(run_dir: str | Path, data: str | Path | None, beam: int | None = None) -> dict[str, Any]:
    """The run's test scores again, from its best weights, on the same test part; for a
    leave-one-speaker-out run, each fold's (``folds``) beside the first fold's details, and the
    folds' mean accuracy (digits). An ensemble is scored by the mean of its members' probabilities."""
    start = time.perf_counter()
    if ensemble.is_ensemble(run_dir):
        return _with_folds(ensemble.evaluate(run_dir, data), start)
    results = []
    for member in folds.members(RUNS, run_dir):
        model, config = RUNS.load_model(member, build_model)
        if beam is not None:
            config.beam = beam
        prepared = prepare(config, data, splits=Splits.load(Path(member) / folds.SPLITS_FILE))
        result = score(config, model, prepared, load_lm(config, Path(member)))
        results.append(
            {**result, "sizes": prepared.sizes, "task": config.task, "name": prepared.splits.name(0)}
        )
    return _with_folds(results, start)


def _with_folds(results: list[dict[str, Any]], start: float) -> dict[str, Any]:
    """The first fold's scores, every fold's (when there are several) and their mean accuracy."""
    summary = {
        **results[0],
        "folds": results if len(results) > 1 else [],
        "seconds": time.perf_counter() - start,
    }
    if len(results) > 1 and "test_accuracy" in results[0]:
        mean, sd = mean_sd([r["test_accuracy"] for r in results])
        summary["test_accuracy_mean"], summary["test_accuracy_sd"] = mean, sd
    return summary


def plot_alignment(answer: dict[str, Any], config: SpeechConfig, path: str | Path | BinaryIO) -> None:
    """The log-mel spectrogram of ``answer`` (kept by :class:`Predictor`) with, under it, the frames
    that emitted each symbol of the greedy path, and the blank's probability: a PNG at ``path`` (or
    written into a binary file object)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_mels, step = config.features.n_mels, config.features.step_seconds
    frames = answer["features"].reshape(-1, n_mels)  # (T*K, n_mels): the stacked frames unstacked
    seconds = len(answer["features"]) * step
    figure, (top, middle, bottom) = plt.subplots(
        3, 1, figsize=(max(6.0, seconds * 2.5), 5), sharex=True, gridspec_kw={"height_ratios": [3, 1, 1]}
    )
    top.imshow(frames.T, origin="lower", aspect="auto", extent=(0, seconds, 0, n_mels), cmap="magma")
    top.set_ylabel("mel band")
    top.set_title(f"{Path(answer['name']).name}: {answer['transcript']!r}")
    for symbol in answer.get("symbols", []):
        middle.axvspan(symbol["start"], symbol["end"], color="tab:blue", alpha=0.35)
        middle.text((symbol["start"] + symbol["end"]) / 2, 0.5, symbol["symbol"].replace(" ", "␣"),
                    ha="center", va="center", fontsize=11)  # fmt: skip
    middle.set_yticks([])
    middle.set_ylabel("emitted")
    if config.task != "digits":
        blank = np.exp(answer["outputs"][:, 0])  # one per output step: time_stride input steps
        out_step = step * config.model.time_stride
        bottom.plot((np.arange(len(blank)) + 0.5) * out_step, blank, color="gray")
    bottom.set_ylim(0, 1.05)
    bottom.set_ylabel("P(blank)")
    bottom.set_xlabel("seconds")
    if isinstance(path, (str, Path)):
        save_png(figure, path)
    else:
        figure.tight_layout()
        figure.savefig(path, format="png", dpi=100)
        plt.close(figure)


__all__ = ["Predictor", "evaluate", "plot_alignment"]
