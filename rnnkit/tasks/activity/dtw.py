"""1-NN DTW as class probabilities, for the three-way late fusion of a run (issue 28).

The run keeps its training clips' features (``dtw.npz``: NumPy arrays, read without pickle) and
answers a clip x with the DTW distance to each of them (aeon's, full window: the distance of the
1-NN DTW baseline of ``benchmarks/activity_baselines.py``):

    d_c = min over the kept clips j of class c of DTW(x, x_j)
    p_c = softmax(-d / tau)_c,   tau = median over the classes of d_c / sharpness

(scale-free; argmax p is the 1-NN answer; a class with no kept clip gets 0). The clip's answer is

    p = (1 - fusion - dtw) * p_RNN + fusion * p_logistic + dtw * p_DTW

DTW needs aeon (``pip install 'rnnkit[ts]'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...train import checkpoint as ckpt

DTW_FILE = "dtw.npz"


def dtw_distances(
    reference: list[np.ndarray], clips: list[np.ndarray], window: float | None = None
) -> np.ndarray:
    """(N_clips, N_reference): aeon's DTW distance of each clip to each reference clip, on clips
    (T, E) of any lengths; ``window``: aeon's Sakoe-Chiba band as a fraction of the length (None:
    the full window)."""
    try:
        from aeon.distances import dtw_pairwise_distance
    except ImportError:
        raise ImportError(
            "the DTW fusion (dtw > 0) needs aeon: pip install 'rnnkit[ts]' (or aeon>=1.0)"
        ) from None
    x = [np.asarray(c, dtype=np.float64).T for c in clips]  # each (E, T): aeon's channels first
    y = [np.asarray(c, dtype=np.float64).T for c in reference]  # one dtype for numba
    return dtw_pairwise_distance(x, y, window=window)


def dtw_probs(
    distances: np.ndarray, labels: np.ndarray, num_classes: int, sharpness: float = 1.0
) -> np.ndarray:
    """(N, C) class probabilities from (N, M) distances to M reference clips of classes ``labels``:

        d_c = min over the reference clips j of class c of distances[:, j]
        p   = softmax(-d / tau),   tau = m / sharpness,
        m   = the clip's median of d_c over the classes that have clips

    tau makes p scale-free (multiplying every distance by a constant leaves p unchanged); a larger
    ``sharpness`` (> 0) gives a peakier p with the same argmax. A class with no reference clip gets
    0. argmax p is the 1-NN answer (up to ties)."""
    if not sharpness > 0:
        raise ValueError(f"dtw_probs: sharpness must be > 0 (tau = median / sharpness), got {sharpness!r}")
    seen = np.isin(np.arange(num_classes), labels)  # (C,): the classes that have reference clips
    d = np.full((len(distances), num_classes), np.inf)  # (N, C)
    for c in np.flatnonzero(seen):
        d[:, c] = distances[:, labels == c].min(axis=1)
    median = np.median(d[:, seen], axis=1, keepdims=True)  # (N, 1)
    tau = np.maximum(median / sharpness, np.finfo(float).tiny)  # (N, 1)
    z = np.where(seen, -d / tau, -np.inf)
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


@dataclass
class DTWReference:
    """The clips DTW compares with: ``clips`` (each (T_j, E)), their ``labels`` (M,) and the run's
    ``num_classes``."""

    clips: list[np.ndarray]
    labels: np.ndarray
    num_classes: int

    def probs(self, clips: list[np.ndarray], sharpness: float = 1.0) -> np.ndarray:
        """(N, num_classes) float64: :func:`dtw_probs` of ``clips`` (each (T, E)) against the reference."""
        distances = dtw_distances(self.clips, clips)  # (N, M)
        return dtw_probs(distances, self.labels, self.num_classes, sharpness)

    def save(self, path: Path) -> None:
        """One .npz of plain arrays: the clips' frames stacked (sum T_j, E), their lengths, labels."""
        frames = np.concatenate([np.asarray(x, dtype=np.float64) for x in self.clips])  # (sum T_j, E)
        lengths = np.array([len(x) for x in self.clips], dtype=np.int64)
        with open(path, "wb") as f:
            np.savez(f, frames=frames, lengths=lengths, labels=np.asarray(self.labels, dtype=np.int64),
                     num_classes=np.int64(self.num_classes))  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> DTWReference:
        try:
            with np.load(path, allow_pickle=False) as saved:
                frames, lengths, labels = saved["frames"], saved["lengths"], saved["labels"]
                num_classes = int(saved["num_classes"])
        except FileNotFoundError:
            raise ckpt.CheckpointError(f"no {path.name} in {path.parent}") from None
        except (ValueError, KeyError, OSError) as error:  # not an .npz, or not these arrays
            raise ckpt.CheckpointError(f"{path} is not a saved DTW reference ({error})") from None
        if frames.ndim != 2 or lengths.sum() != len(frames) or len(labels) != len(lengths):
            raise ckpt.CheckpointError(f"{path} is not a saved DTW reference (its arrays disagree)")
        return cls(np.split(frames, np.cumsum(lengths)[:-1]), labels, num_classes)


def fuse3(
    rnn: np.ndarray,
    logistic: np.ndarray | None,
    dtw: np.ndarray | None,
    fusion: float,
    dtw_weight: float,
) -> np.ndarray:
    """(N, C) each -> (N, C): ``(1 - fusion - dtw_weight) * rnn + fusion * logistic + dtw_weight *
    dtw``; a part whose weight is 0 may be None."""
    p = (1 - fusion - dtw_weight) * rnn
    if fusion:
        p = p + fusion * logistic
    if dtw_weight:
        p = p + dtw_weight * dtw
    return p


__all__ = ["DTW_FILE", "DTWReference", "dtw_distances", "dtw_probs", "fuse3"]
