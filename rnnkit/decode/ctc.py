"""Decoding a CTC model's outputs (Graves et al. 2006): greedy and prefix beam search.

A CTC model gives, for each of T frames, log-probabilities over V = C + 1 symbols: the blank
(:data:`rnnkit.models.sequence.BLANK`, id 0) and the transcript's symbols 1..C. An alignment
pi in {0..C}^T reads as a transcript B(pi): merge repeated symbols, then drop blanks
(``a a - a b b -`` -> ``a a b``). The probability of a transcript y is the sum over its alignments,
P(y | x) = sum_{pi: B(pi) = y} prod_t p_t(pi_t).

- :func:`greedy`: B(argmax path), the most likely *alignment* collapsed (not always the most
  likely transcript), with the frames each symbol was emitted on (for the alignment picture).
- :func:`prefix_beam_search` (Hannun et al. 2014): keeps the ``beam`` best prefixes, each with
  two probabilities, of its alignments so far ending in a blank (p_b) and in its last symbol
  (p_nb), so P(prefix) = p_b + p_nb sums over every alignment that reads as it. At frame t, for a
  prefix l with last symbol e and a symbol c:

      blank:     p_b'(l)   += (p_b(l) + p_nb(l)) p_t(0)
      repeat e:  p_nb'(l)  += p_nb(l) p_t(e)            (e e merges into one e)
      extend c:  p_nb'(l+c) += (p_b(l) + p_nb(l)) p_t(c)  if c != e, else p_b(l) p_t(c)

  Prefixes are ranked by log P(prefix) + alpha log P_LM(prefix) + beta |prefix| with an optional
  character language model (:class:`~rnnkit.decode.ngram.CharNgram`, its end-of-sentence
  probability added at the end) and an insertion bonus beta. Without pruning (``beam`` as large as
  the number of prefixes, ``min_prob=0``) the scores are exact: tests/test_ctc_decode.py compares
  them with the sum over every alignment of a short T.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BLANK = 0  # the same id as rnnkit.models.sequence.BLANK (not imported: this module needs no torch)
NEG_INF = -math.inf


@dataclass
class Emission:
    symbol: int  # 1..C
    start: int  # the first frame of its run in the greedy path
    end: int  # one past its last frame


def greedy(log_probs: np.ndarray) -> tuple[list[int], list[Emission]]:
    """The collapsed argmax path of ``log_probs`` (T, V): its symbols, and for each the frames of
    its run of the path (repeats of one symbol merged, blanks between)."""
    path = np.asarray(log_probs).argmax(axis=-1)  # (T,)
    emissions: list[Emission] = []
    previous = BLANK
    for t, s in enumerate(path.tolist()):
        if s != BLANK and s == previous:
            emissions[-1].end = t + 1
        elif s != BLANK:
            emissions.append(Emission(s, t, t + 1))
        previous = s
    return [e.symbol for e in emissions], emissions


def _add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) for floats, -inf aware."""
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@dataclass
class Beam:
    prefix: tuple[int, ...]
    log_prob: float  # log P(prefix | x): the CTC sum over its alignments (within the kept beams)
    score: float  # what it was ranked by: log_prob + alpha * lm + beta * len


def prefix_beam_search(
    log_probs: np.ndarray,
    beam: int = 8,
    lm=None,
    alpha: float = 0.0,
    beta: float = 0.0,
    min_prob: float = 1e-4,
) -> list[Beam]:
    """The ``beam`` best transcripts of ``log_probs`` (T, V) (natural logs), best first.

    ``lm``: a character n-gram (``log_prob(symbol, context)`` with 0 as end of sentence) weighted by
    ``alpha``; ``beta``: a bonus per symbol; ``min_prob``: symbols below it at a frame are not tried
    (0 tries all)."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    T, V = log_probs.shape
    floor = math.log(min_prob) if min_prob > 0 else NEG_INF
    # prefix -> [log p_b, log p_nb, alpha * log P_LM(prefix)]
    beams: dict[tuple[int, ...], list[float]] = {(): [0.0, NEG_INF, 0.0]}
    for t in range(T):
        row = log_probs[t].tolist()
        tried = [c for c in range(1, V) if row[c] >= floor]
        following: dict[tuple[int, ...], list[float]] = {}
        for prefix, (p_b, p_nb, lm_score) in beams.items():
            total = _add(p_b, p_nb)
            here = following.setdefault(prefix, [NEG_INF, NEG_INF, lm_score])
            here[0] = _add(here[0], total + row[BLANK])
            last = prefix[-1] if prefix else None
            if last is not None:
                here[1] = _add(here[1], p_nb + row[last])
            for c in tried:
                longer = (*prefix, c)
                target = following.get(longer)
                if target is None:
                    extra = alpha * lm.log_prob(c, prefix) if lm is not None and alpha else 0.0
                    target = following[longer] = [NEG_INF, NEG_INF, lm_score + extra]
                target[1] = _add(target[1], (p_b if c == last else total) + row[c])
        ranked = sorted(following.items(), key=lambda item: -_rank(item[0], item[1], beta))
        beams = {prefix: values for prefix, values in ranked[:beam] if _add(values[0], values[1]) > NEG_INF}
    results = []
    for prefix, (p_b, p_nb, lm_score) in beams.items():
        end = alpha * lm.log_prob(BLANK, prefix) if lm is not None and alpha else 0.0
        log_prob = _add(p_b, p_nb)
        results.append(Beam(prefix, log_prob, log_prob + lm_score + end + beta * len(prefix)))
    return sorted(results, key=lambda b: -b.score)


def _rank(prefix: tuple[int, ...], values: list[float], beta: float) -> float:
    return _add(values[0], values[1]) + values[2] + beta * len(prefix)


__all__ = ["BLANK", "Beam", "Emission", "greedy", "prefix_beam_search"]
