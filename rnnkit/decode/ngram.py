"""A character n-gram language model with Witten-Bell interpolation, for CTC beam search.

Symbols are the CTC model's ids 1..C; 0 (the blank's id) stands for the end of a sentence, and a
sentence's context starts with ``order - 1`` start markers (-1). With c(h, w) the count of symbol
w after the context h (the last k symbols, k = order - 1 down to 0), c(h) = sum_w c(h, w) and
N(h) the number of distinct symbols seen after h (Witten and Bell 1991; Chen and Goodman 1998)::

    P(w | h) = (c(h, w) + N(h) P(w | h')) / (c(h) + N(h))      h' = h without its oldest symbol
    P(w | h) = P(w | h')                                        where h was never seen (c(h) = 0)
    P(w | ())  interpolated the same way with the uniform 1 / (C + 1)

so every P(. | h) sums to 1 over the C symbols and the end (tests/test_ctc_decode.py).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

END = 0
START = -1


class CharNgram:
    """``CharNgram(order, num_symbols).fit(sentences)``; ``log_prob(symbol, prefix)`` (natural log)."""

    def __init__(self, order: int, num_symbols: int) -> None:
        if order < 1 or num_symbols < 1:
            raise ValueError(f"order and num_symbols must be >= 1, got {order} and {num_symbols}")
        self.order, self.num_symbols = order, num_symbols
        self.counts: dict[tuple[int, ...], dict[int, int]] = defaultdict(dict)
        self._cache: dict[tuple[int, tuple[int, ...]], float] = {}

    def fit(self, sentences: Iterable[Sequence[int]]) -> CharNgram:
        """Count every symbol (and each sentence's end) after each of its contexts of 0..order-1."""
        for sentence in sentences:
            padded = [START] * (self.order - 1) + [int(s) for s in sentence] + [END]
            for i in range(self.order - 1, len(padded)):
                w = padded[i]
                if not (w == END or 1 <= w <= self.num_symbols):
                    raise ValueError(f"symbol {w} is outside 1..{self.num_symbols}")
                for k in range(self.order):
                    h = tuple(padded[i - k : i])
                    self.counts[h][w] = self.counts[h].get(w, 0) + 1
        self._cache.clear()
        return self

    def prob(self, symbol: int, context: tuple[int, ...]) -> float:
        p = 1.0 / (self.num_symbols + 1)
        for k in range(0, self.order):  # from the empty context up to the longest
            h = context[len(context) - k :] if k else ()
            seen = self.counts.get(h)
            if not seen:
                break  # longer contexts that end in an unseen one are unseen too
            total, kinds = sum(seen.values()), len(seen)
            p = (seen.get(symbol, 0) + kinds * p) / (total + kinds)
        return p

    def log_prob(self, symbol: int, prefix: Sequence[int]) -> float:
        """log P(symbol | the last order-1 symbols of the prefix, padded with starts)."""
        context = tuple(([START] * (self.order - 1) + list(prefix))[len(prefix) :]) if self.order > 1 else ()
        key = (symbol, context)
        if key not in self._cache:
            self._cache[key] = math.log(self.prob(symbol, context))
        return self._cache[key]

    def sentence_log_prob(self, sentence: Sequence[int]) -> float:
        sentence = list(sentence)
        return sum(self.log_prob(w, sentence[:i]) for i, w in enumerate([*sentence, END]))

    def save(self, path: str | Path) -> None:
        rows = [[list(h), sorted(seen.items())] for h, seen in self.counts.items()]
        Path(path).write_text(
            json.dumps({"order": self.order, "num_symbols": self.num_symbols, "counts": rows})
        )

    @classmethod
    def load(cls, path: str | Path) -> CharNgram:
        data = json.loads(Path(path).read_text())
        lm = cls(data["order"], data["num_symbols"])
        for h, seen in data["counts"]:
            lm.counts[tuple(h)] = {int(w): int(c) for w, c in seen}
        return lm


__all__ = ["END", "START", "CharNgram"]
