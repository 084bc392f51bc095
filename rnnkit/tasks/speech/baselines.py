"""The baselines in the speech tables: MFCC statistics with scikit-learn for isolated digits, and
segment-at-silences then classify for digit strings.

- :func:`mfcc_statistics`: 13 MFCCs (the DCT-II, orthonormal, of the unnormalised HTK log-mel
  energies of :mod:`rnnkit.audio`) and their first differences, summarised over the recording by
  mean, standard deviation, minimum and maximum: one fixed vector of 104 numbers per recording.
- :func:`fit_classifier`: standardised features into a logistic regression or an RBF SVM.
- :func:`segment`: frames (25 ms, hop 10 ms) whose energy is within ``floor_db`` of the loudest
  frame are speech; silences shorter than ``min_gap`` seconds inside a digit (the closure of the
  k in "six") are bridged; segments shorter than ``min_length`` are dropped. Each segment is then
  one digit for the isolated-digit classifier.

The baselines are fitted on the same training recordings as the models (FSDD's training part, or
every other speaker) and scored on the same test recordings and strings.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct

from ...audio import FeatureConfig, log_mel

N_MFCC = 13


def mfcc_statistics(wave: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """(104,): mean, std, min and max over time of 13 MFCCs and their deltas."""
    cepstra = dct(log_mel(wave, config), type=2, norm="ortho", axis=1)[:, :N_MFCC]  # (T, 13)
    deltas = np.diff(cepstra, axis=0, prepend=cepstra[:1])  # (T, 13)
    both = np.concatenate([cepstra, deltas], axis=1)  # (T, 26)
    return np.concatenate([both.mean(0), both.std(0), both.min(0), both.max(0)])


def fit_classifier(x: np.ndarray, y: np.ndarray, kind: str = "logistic", seed: int = 0):
    """A fitted scikit-learn pipeline: StandardScaler, then LogisticRegression or SVC (RBF)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if kind == "logistic":
        model = LogisticRegression(C=1.0, max_iter=5000, random_state=seed)
    elif kind == "svm":
        model = SVC(C=10.0, gamma="scale", random_state=seed)
    else:
        raise ValueError(f"kind must be 'logistic' or 'svm', got {kind!r}")
    return make_pipeline(StandardScaler(), model).fit(x, y)


def segment(
    wave: np.ndarray,
    rate: int,
    floor_db: float = 25.0,
    min_gap: float = 0.06,
    min_length: float = 0.08,
) -> list[tuple[int, int]]:
    """Speech segments of ``wave`` as (start, end) sample positions, in order (see the module)."""
    window, hop = int(0.025 * rate), int(0.010 * rate)
    frames = 1 + max(0, len(wave) - window) // hop
    energy = np.array([np.mean(wave[t * hop : t * hop + window] ** 2) for t in range(frames)])  # (T,)
    level = 10 * np.log10(energy + 1e-12)
    speech = level > level.max() - floor_db
    runs, start = [], None
    for t, on in enumerate([*speech.tolist(), False]):
        if on and start is None:
            start = t
        elif not on and start is not None:
            runs.append([start, t])
            start = None
    merged: list[list[int]] = []
    for run in runs:
        if merged and (run[0] - merged[-1][1]) * hop < min_gap * rate:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    return [
        (a * hop, min(len(wave), b * hop + window)) for a, b in merged if (b - a) * hop >= min_length * rate
    ]


__all__ = ["N_MFCC", "fit_classifier", "mfcc_statistics", "segment"]
