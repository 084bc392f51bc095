"""Transcribing audio files with a speech run, evaluating a run again, and the alignment picture.

:class:`Predictor` reads each file at the run's rate (:func:`rnnkit.audio.read_audio`), makes its
features, runs the model through the one inference loop and decodes: a digit and its
probabilities (``digits``), or a transcript by greedy or prefix beam search, with the LM of the run
when the beam is wider than 1. A file that cannot be read is answered by an error in its place;
the others are answered all the same, in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ...audio import features, read_audio
from ...data.sequences import FeatureSequences
from ...decode.ctc import greedy
from ...errors import InputError
from ...train import folds
from ...train.cv import Splits
from ...train.plots import save_png
from .scoring import load_lm
from .task import RUNS, SpeechConfig, build_model, decode, outputs, prepare, score


class Predictor:
    def __init__(self, model, config: SpeechConfig, lm=None) -> None:
        self.model, self.config, self.lm = model.eval(), config, lm

    @classmethod
    def from_run(cls, run_dir: str | Path) -> Predictor:
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
        rate = config.features.sample_rate
        answers: list[dict[str, Any]] = []
        inputs, where = [], []
        for name, source in entries:
            try:
                wave = read_audio(source, rate, config.features.max_seconds, name=name)
            except InputError as error:
                answers.append({"name": name, "error": str(error)})
                continue
            where.append(len(answers))
            inputs.append(features(wave, config.features))
            answers.append({"name": name, "seconds": len(wave) / rate})
        if not inputs:
            return answers
        out = outputs(self.model, FeatureSequences(inputs), progress)
        width = beam if beam is not None else config.beam
        step = config.features.step_seconds * config.model.time_stride  # one output step's seconds
        for i, x, o in zip(where, inputs, out):
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


def evaluate(run_dir: str | Path, data: str | Path | None, beam: int | None = None) -> dict[str, Any]:
    """The run's test scores again, from its best weights, on the same test part; for a
    leave-one-speaker-out run, each fold's (``folds``) beside the first fold's details."""
    results = []
    start = time.perf_counter()
    for member in folds.members(RUNS, run_dir):
        model, config = RUNS.load_model(member, build_model)
        if beam is not None:
            config.beam = beam
        prepared = prepare(config, data, splits=Splits.load(Path(member) / folds.SPLITS_FILE))
        result = score(config, model, prepared, load_lm(config, Path(member)))
        results.append(
            {**result, "sizes": prepared.sizes, "task": config.task, "name": prepared.splits.name(0)}
        )
    first = results[0]
    return {**first, "folds": results if len(results) > 1 else [], "seconds": time.perf_counter() - start}


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
