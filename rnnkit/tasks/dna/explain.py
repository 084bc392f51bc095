"""Which bases decided it: in-silico saturation mutagenesis, the field's standard attribution.

Every base of a sequence is changed to each of A, C, G, T in turn and the model is asked again.
For the class ``c`` the model predicts for the sequence as given, with probabilities ``p``,

    delta[t, b] = log p_c(sequence with base t set to b) - log p_c(sequence),

a (T, 4) matrix over positions t and the bases b in ACGT order; ``delta[t, b] = 0`` where b is the
base already there. A position's importance is minus the mean of its changes to the other bases
(to all four where it holds an ambiguity code, read as a mixture):

    importance[t] = -mean_{b != base_t} delta[t, b]

large where any change of the base costs the prediction (GT at a donor), negative where changing it
would make the model surer. The sequence and its 3T (or 4T) mutants go through the predictor's one
inference loop (:func:`~rnnkit.tasks.dna.task.probabilities`) in one call; a cross-validated run's
predictor is the mean of its folds' probabilities, so the mutants are scored by that mean too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ...data.sequences import FeatureSequences
from ...train.plots import save_png
from .data import BASES, CLASSES, encode
from .task import probabilities

ONE_HOT = np.eye(len(BASES), dtype=np.float64)  # (4, 4): the features of A, C, G, T


@dataclass
class Attribution:
    """One sequence's saturation mutagenesis."""

    name: str
    sequence: str
    label: str  # the predicted class, the one explained
    probabilities: np.ndarray  # (C,) of the sequence as given
    delta: np.ndarray  # (T, 4): change of log p(label) with base t set to A, C, G, T
    importance: np.ndarray  # (T,): minus the mean change over the other bases

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "class": self.label,
            "probabilities": {c: float(p) for c, p in zip(CLASSES, self.probabilities)},
            "importance": [round(float(v), 6) for v in self.importance],
            "delta": {b: [round(float(v), 6) for v in self.delta[:, i]] for i, b in enumerate(BASES)},
        }


def mutants(features: np.ndarray) -> np.ndarray:
    """(T * 4, T, 4): ``features`` (T, 4) with position t set to base b, at row ``4 * t + b``."""
    T = len(features)
    out = np.repeat(features[None].astype(np.float64), T * len(BASES), axis=0)  # (T * 4, T, 4)
    rows = np.arange(T * len(BASES))
    out[rows, rows // len(BASES)] = ONE_HOT[rows % len(BASES)]
    return out


def same_base(features: np.ndarray) -> np.ndarray:
    """(T, 4) bools: where base b is the base already at t (none at an ambiguity code)."""
    return (features == 1.0).astype(bool)


def saturation_mutagenesis(
    models: list,
    entries: Sequence[tuple[str, str]],
    dtype: type = np.float32,
    progress: Callable[[int, int], None] | None = None,
) -> list[Attribution]:
    """The attribution of each ``(name, sequence)`` under ``models`` (the mean of their
    probabilities), every mutant of every sequence in one pass of the inference loop. A sequence
    that is no DNA raises :class:`~rnnkit.errors.InputError` (see :func:`.data.encode`)."""
    encoded = [encode(sequence, name) for name, sequence in entries]
    if not encoded:
        return []
    features: list[np.ndarray] = []
    for x in encoded:
        features += [x, *mutants(x)]  # the sequence, then its T * 4 mutants
    probs = probabilities(models, FeatureSequences(features, dtype=dtype), progress)  # (sum(1 + 4T), C)
    out, at = [], 0
    for (name, sequence), x in zip(entries, encoded):
        T = len(x)
        p, mutated = probs[at], probs[at + 1 : at + 1 + 4 * T]  # (C,), (4T, C)
        at += 1 + 4 * T
        c = int(p.argmax())
        delta = (np.log(mutated[:, c]) - np.log(p[c])).reshape(T, len(BASES))  # (T, 4)
        same = same_base(x)
        delta[same] = 0.0
        others = (~same).sum(axis=1)  # 3 at a base, 4 at an ambiguity code
        importance = -delta.sum(axis=1) / others
        out.append(Attribution(name, sequence, CLASSES[c], p, delta, importance))
    return out


def decisive(importance: np.ndarray, share: float = 0.25) -> np.ndarray:
    """(T,) bools: the positions whose importance is at least ``share`` of the largest (none when
    no position matters, the largest importance being <= 0)."""
    top = float(importance.max()) if len(importance) else 0.0
    if top <= 0:
        return np.zeros(len(importance), dtype=bool)
    return importance >= share * top


def window_positions(length: int) -> list[str]:
    """The splice windows' coordinates (-30..-1, +1..+30 for 60 bases: no position 0, the junction
    lies between -1 and +1), for a sequence of ``length`` bases centred the same way."""
    c = length // 2
    return [f"{t - c}" if t < c else f"+{t - c + 1}" for t in range(length)]


def logo(attribution: Attribution, path: str) -> None:
    """A PNG: the sequence logo (each position's actual base, as tall as its importance; below the
    axis where a change would help the prediction) above the full mutation matrix as a heatmap."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    T = len(attribution.sequence)
    heights = np.zeros((T, len(BASES)))  # (T, 4)
    for t, base in enumerate(attribution.sequence.upper()):
        if base in BASES:
            heights[t, BASES.index(base)] = attribution.importance[t]
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(max(8, T * 0.22), 5.2), gridspec_kw={"height_ratios": [1.3, 1]}, sharex=True
    )
    logomaker.Logo(pd.DataFrame(heights, columns=list(BASES)), ax=top, color_scheme="classic")
    top.axhline(0, color="black", linewidth=0.5)
    top.set_ylabel("importance\n(-mean Δ log p)")
    probs = ", ".join(f"P({c}) {p:.3f}" for c, p in zip(CLASSES, attribution.probabilities))
    top.set_title(f"{attribution.name}: {attribution.label} ({probs})")
    limit = float(np.abs(attribution.delta).max()) or 1.0
    image = bottom.imshow(
        attribution.delta.T, aspect="auto", cmap="RdBu", vmin=-limit, vmax=limit, interpolation="nearest"
    )
    bottom.set_yticks(range(len(BASES)), list(BASES))
    bottom.set_ylabel("mutated to")
    labels = window_positions(T)
    ticks = [t for t in range(T) if labels[t] in ("-30", "-20", "-10", "-1", "+1", "+10", "+20", "+30")]
    bottom.set_xticks(ticks or range(0, T, 10), [labels[t] for t in ticks] or None)
    bottom.set_xlabel("position (the junction lies between -1 and +1)")
    figure.colorbar(image, ax=bottom, orientation="horizontal", fraction=0.08, pad=0.35, aspect=60).set_label(
        f"Δ log p({attribution.label}) when the base is changed"
    )
    save_png(figure, path, dpi=120)


__all__ = ["Attribution", "decisive", "logo", "mutants", "saturation_mutagenesis", "window_positions"]
