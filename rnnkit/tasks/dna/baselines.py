"""The baselines of issue 27, scored on a run's own recorded splits (``splits.json``), so that they
and the RNN are compared on the very same test windows:

- ``consensus``: the canonical dinucleotides at the window's centre junction. The splice windows
  run from position -30 to +30 with no position 0 (``splice.names``), so the junction lies between
  index ``c - 1`` and ``c = T // 2`` (0-based): a donor (EI) starts its intron with GT at
  ``[c, c + 2)``, an acceptor (IE) ends its intron with AG at ``[c - 2, c)``. A window with both is
  ambiguous; which rule goes first is the one parameter, chosen on each split's training part (the
  one with more training windows right). Neither: N. Ambiguity codes match no base.
- ``kmer-logreg``: counts of every k-mer, k = 1..6 (4 + 16 + ... + 4,096 = 5,460 features, the
  position thrown away), scaled by their largest count, and a multinomial logistic regression;
  ``C`` chosen by the validation part's log-loss. A k-mer with an ambiguity code is not counted.
- ``onehot-boosting``: the (T, 4) base features of the RNN flattened (an ambiguity code is its
  mixture, as for the RNN), and scikit-learn's ``HistGradientBoostingClassifier``; the number of
  boosting iterations chosen by the validation part's log-loss (as the RNN's best epoch is).

Each model trains on the split's training part, chooses on its validation part and is scored once
on its test part.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...train import checkpoint as ckpt
from ...train.cv import Splits, mean_sd
from ...train.template import RESULTS_FILE
from .data import SpliceData, find, read_splice
from .task import SPLITS_FILE

BASELINES = ("consensus", "kmer-logreg", "onehot-boosting")
BASELINES_FILE = "baselines.json"
EI, IE, N = 0, 1, 2  # indices into CLASSES
KMAX = 6
LOGREG_C = (0.01, 0.1, 1.0, 10.0)
BOOSTING_ITERATIONS = 300


# -- the consensus rule -----------------------------------------------------------------------------


def consensus_signals(sequences: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(N,) bools each: GT right after the window's centre junction (a donor's), AG right before
    it (an acceptor's)."""
    donor, acceptor = [], []
    for sequence in sequences:
        c = len(sequence) // 2
        donor.append(sequence[c : c + 2].upper() == "GT")
        acceptor.append(sequence[c - 2 : c].upper() == "AG" if c >= 2 else False)
    return np.array(donor, dtype=bool), np.array(acceptor, dtype=bool)


class ConsensusRule:
    """GT after the junction -> EI, AG before it -> IE, else N. ``donor_first``: whether GT wins
    when a window has both; None until :meth:`fit` chooses it on training windows."""

    def __init__(self, donor_first: bool | None = None) -> None:
        self.donor_first = donor_first

    def predict(self, sequences: Sequence[str]) -> np.ndarray:
        """(N,) class indices."""
        if self.donor_first is None:
            raise ValueError("ConsensusRule has no precedence yet: call fit(...) or pass donor_first")
        donor, acceptor = consensus_signals(sequences)
        first, second = (donor, EI), (acceptor, IE)
        if not self.donor_first:
            first, second = second, first
        return np.where(first[0], first[1], np.where(second[0], second[1], N)).astype(np.int64)

    def fit(self, sequences: Sequence[str], labels: np.ndarray) -> ConsensusRule:
        """The precedence that gets more of ``sequences`` right (GT first on a tie)."""
        right = {
            first: int((ConsensusRule(first).predict(sequences) == labels).sum()) for first in (True, False)
        }
        self.donor_first = right[True] >= right[False]
        return self


# -- k-mer counts + logistic regression -----------------------------------------------------------


def kmer_counts(sequences: Sequence[str], kmax: int = KMAX) -> Any:
    """A scipy CSR matrix (N, 4 + 16 + ... + 4**kmax): the counts of every k-mer, k = 1..kmax, in
    each sequence (either case). Columns of each k follow the k-mers in lexicographic order over
    ACGT (``AA``, ``AC``, ... for k = 2), after those of k - 1. A k-mer holding any other letter
    (an ambiguity code) is not counted."""
    from scipy import sparse

    code = np.full(256, -1, dtype=np.int64)
    for i, base in enumerate("ACGT"):
        code[ord(base)] = code[ord(base.lower())] = i
    offsets = np.cumsum([0] + [4**k for k in range(1, kmax + 1)])
    rows, cols = [], []
    for row, sequence in enumerate(sequences):
        x = code[np.frombuffer(sequence.encode("ascii", errors="replace"), dtype=np.uint8)]  # (T,)
        for k in range(1, min(kmax, len(x)) + 1):
            windows = np.lib.stride_tricks.sliding_window_view(x, k)  # (T - k + 1, k)
            valid = (windows >= 0).all(axis=1)
            index = windows[valid] @ (4 ** np.arange(k - 1, -1, -1))  # base-4 number, first base highest
            rows.append(np.full(len(index), row))
            cols.append(offsets[k - 1] + index)
    rows_, cols_ = np.concatenate(rows or [[]]), np.concatenate(cols or [[]])
    matrix = sparse.coo_matrix(
        (np.ones(len(rows_)), (rows_.astype(np.int64), cols_.astype(np.int64))),
        shape=(len(sequences), offsets[-1]),
    )
    return matrix.tocsr()  # duplicates summed: the counts


def _log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())


def kmer_logreg(
    features: Any,
    labels: np.ndarray,
    train: np.ndarray,
    validation: np.ndarray,
    cs: Sequence[float] = LOGREG_C,
) -> tuple[Any, dict[str, Any]]:
    """Logistic regression on scaled k-mer counts; ``C`` from ``cs`` by the validation log-loss."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler

    best = None
    for c in cs:
        model = make_pipeline(MaxAbsScaler(), LogisticRegression(C=c, max_iter=3000))
        model.fit(features[train], labels[train])
        loss = _log_loss(model.predict_proba(features[validation]), labels[validation])
        if best is None or loss < best[0]:
            best = (loss, c, model)
    assert best is not None
    return best[2], {"C": best[1], "val_loss": best[0]}


# -- one-hot + gradient boosting ------------------------------------------------------------------


def onehot(corpus: SpliceData) -> np.ndarray:
    """(N, T * 4): the RNN's base features, flattened (every window has the same length T)."""
    lengths = {len(f) for f in corpus.features}
    if len(lengths) != 1:
        raise ValueError(f"one-hot features need windows of one length, got lengths {sorted(lengths)}")
    return np.stack(corpus.features).reshape(len(corpus.features), -1)  # (N, T * 4)


class StagedBoosting:
    """A fitted ``HistGradientBoostingClassifier`` used with its first ``iterations`` trees."""

    def __init__(self, model: Any, iterations: int) -> None:
        self.model, self.iterations = model, iterations

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        for i, probs in enumerate(self.model.staged_predict_proba(x), 1):
            if i == self.iterations:
                return probs
        return probs


def onehot_boosting(
    features: np.ndarray,
    labels: np.ndarray,
    train: np.ndarray,
    validation: np.ndarray,
    iterations: int = BOOSTING_ITERATIONS,
    seed: int = 0,
) -> tuple[StagedBoosting, dict[str, Any]]:
    """Gradient boosting on the one-hot bases; its number of trees by the validation log-loss."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=iterations, early_stopping=False, random_state=seed)
    model.fit(features[train], labels[train])
    losses = [_log_loss(p, labels[validation]) for p in model.staged_predict_proba(features[validation])]
    best = int(np.argmin(losses)) + 1
    return StagedBoosting(model, best), {"iterations": best, "val_loss": float(losses[best - 1])}


# -- scoring on recorded splits ---------------------------------------------------------------------


def score(
    corpus: SpliceData,
    splits: Splits,
    names: Sequence[str] = BASELINES,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Each baseline's test accuracy on each split of ``splits`` (trained on its training part,
    chosen on its validation part), with the mean and sample sd over the splits and the seconds
    each baseline took over all splits."""
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)}; choose from {', '.join(BASELINES)}")
    labels = corpus.labels
    kmers = kmer_counts(corpus.sequences) if "kmer-logreg" in names else None
    flat = onehot(corpus) if "onehot-boosting" in names else None
    results: dict[str, Any] = {}
    for name in names:
        start, accuracies, chosen = time.perf_counter(), [], []
        for k, split in enumerate(splits, 1):
            if progress is not None:
                progress(f"{name}: split {k} of {len(splits)}")
            if name == "consensus":
                rule = ConsensusRule().fit([corpus.sequences[i] for i in split.train], labels[split.train])
                predicted = rule.predict([corpus.sequences[i] for i in split.test])
                chosen.append({"donor_first": rule.donor_first})
            elif name == "kmer-logreg":
                model, choice = kmer_logreg(kmers, labels, split.train, split.validation)
                predicted = model.predict_proba(kmers[split.test]).argmax(axis=1)
                chosen.append(choice)
            else:
                model, choice = onehot_boosting(flat, labels, split.train, split.validation)
                predicted = model.predict_proba(flat[split.test]).argmax(axis=1)
                chosen.append(choice)
            accuracies.append(float((predicted == labels[split.test]).mean()))
        mean, sd = mean_sd(accuracies)
        results[name] = {
            "test_accuracy_mean": mean,
            "test_accuracy_sd": sd,
            "folds": accuracies,
            "chosen": chosen,
            "seconds": time.perf_counter() - start,
        }
    return {"kind": splits.kind, "splits": len(splits), "source": splits.source, "baselines": results}


def score_run(
    run_dir: str | Path,
    data: str | Path | None,
    names: Sequence[str] = BASELINES,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """:func:`score` on the splits a run recorded, beside the run's own test accuracies (``rnn``),
    written to ``RUN/baselines.json``."""
    run_dir = Path(run_dir)
    corpus = read_splice(find(data))
    splits = Splits.load(run_dir / SPLITS_FILE)
    splits.check_source(len(corpus.labels), corpus.source, run_dir / SPLITS_FILE)
    result = score(corpus, splits, names, progress)
    saved = ckpt.load_json(run_dir / RESULTS_FILE)
    accuracies = (
        [f["test_accuracy"] for f in saved["folds"]] if "folds" in saved else [saved["test_accuracy"]]
    )
    mean, sd = mean_sd(accuracies)
    result["rnn"] = {"test_accuracy_mean": mean, "test_accuracy_sd": sd, "folds": accuracies}
    ckpt.save_json(result, run_dir / BASELINES_FILE)
    return result


__all__ = [
    "BASELINES",
    "BASELINES_FILE",
    "ConsensusRule",
    "consensus_signals",
    "kmer_counts",
    "kmer_logreg",
    "onehot",
    "onehot_boosting",
    "score",
    "score_run",
]
