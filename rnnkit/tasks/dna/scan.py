"""A scan along a sequence longer than the model's window: every window of ``width`` bases (60 for a
splice run) in order, each asking "is there a donor or an acceptor between the two bases at my
centre?".

Position ``p`` (1-based) names the junction between base ``p`` and base ``p + 1``: its window holds
bases ``p - 29 .. p + 30``, as the splice windows hold positions -30..-1 and +1..+30 around theirs.
So the first position scanned is ``width / 2`` and the last ``L - width / 2``: a junction with less
than half a window of sequence on one side is not scanned (the model never saw a padded window).
A donor's GT is then at bases ``p + 1, p + 2``, an acceptor's AG at ``p - 1, p``.

The windows are read as the model was trained, one window each, through the predictor's inference
loop (:func:`~rnnkit.tasks.dna.task.probabilities`, a cross-validated run's mean over its folds):
running the recurrent encoder once along the whole sequence would be cheaper, but its states would
have read past the window's ends, which no training window did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...data.sequences import FeatureSequences
from ...errors import InputError
from ...train.plots import save_png
from .data import CLASSES, WINDOW, encode
from .task import probabilities

SITES = {"EI": "donor", "IE": "acceptor"}


@dataclass
class Track:
    """One sequence's scan: the class probabilities of the junction after each base ``positions``."""

    name: str
    length: int
    positions: np.ndarray  # (W,) int64, 1-based: the junction between base p and base p + 1
    probabilities: np.ndarray  # (W, C) float64

    def sites(self, threshold: float) -> list[dict]:
        """The candidate sites, in order of position: every position where P(EI) (a donor) or P(IE)
        (an acceptor) is at least ``threshold``."""
        found = []
        for row, position in enumerate(self.positions):
            for label, kind in SITES.items():
                p = float(self.probabilities[row, CLASSES.index(label)])
                if p >= threshold:
                    found.append({"position": int(position), "site": kind, "class": label, "probability": p})
        return found


def scan(
    models: list,
    name: str,
    sequence: str,
    width: int = WINDOW,
    dtype: type = np.float32,
    progress: Callable[[int, int], None] | None = None,
) -> Track:
    """The probabilities of every window of ``width`` bases along ``sequence``, in order."""
    if width < 2 or width % 2:
        raise ValueError(f"width must be an even number of bases >= 2, got {width}")
    features = encode(sequence, name)  # (L, 4); an InputError names the first bad base
    L, half = len(features), width // 2
    if len(features) < width:
        raise InputError(
            f"{name} has {L} bases, fewer than the model's {width}-base window: classify it, not scan it"
        )
    starts = np.arange(L - width + 1)  # window k holds bases k .. k + width - 1 (0-based)
    windows = [features[k : k + width] for k in starts]  # views, no copies
    probs = probabilities(models, FeatureSequences(windows, dtype=dtype), progress)  # (W, C)
    return Track(name, L, starts + half, probs)


def track_plot(track: Track, path: str, threshold: float) -> None:
    """A PNG of P(EI) and P(IE) along the sequence, the threshold dashed, the candidate sites marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(min(max(8, track.length / 60), 24), 3.2))
    for label, colour in (("EI", "tab:red"), ("IE", "tab:blue")):
        p = track.probabilities[:, CLASSES.index(label)]
        ax.plot(track.positions, p, color=colour, linewidth=0.9, label=f"P({label}): {SITES[label]}")
        above = p >= threshold
        ax.scatter(track.positions[above], p[above], color=colour, s=10, zorder=3)
    ax.axhline(threshold, color="grey", linestyle="--", linewidth=0.7, label=f"threshold {threshold:g}")
    ax.set_xlim(0, track.length)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("position p: the junction between base p and p + 1")
    ax.set_ylabel("probability")
    ax.set_title(f"{track.name}: {track.length:,} bases, {len(track.positions):,} windows")
    ax.legend(loc="upper right", fontsize=8, ncol=3)
    save_png(figure, path, dpi=120)


__all__ = ["SITES", "Track", "scan", "track_plot"]
