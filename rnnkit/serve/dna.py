"""The DNA page's model (issue 27): a splice run (or a cross-validated one: its folds' mean) answers
a pasted sequence with its class, the probabilities, and each base's importance by saturation
mutagenesis (:mod:`rnnkit.tasks.dna.explain`), every request of a batch, mutants included, in one
pass of the predictor's inference loop.

A pasted sequence may carry a FASTA header line and line breaks or spaces between bases (as copied
from a database page): they are dropped. What is left must be bases or IUPAC codes; anything else
is a 422 that names the position, counted in the bases kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ..data.sequences import FeatureSequences
from ..errors import InputError
from .adapter import Adapter

MAX_EXPLAINED = 1_000  # bases an explanation may cover: it asks the model 4 times per base
SAMPLES = [  # two windows of splice.data: a donor (CAG|GT) and an acceptor (a pyrimidine tract, then AG|)
    "CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG",
    "TTCAGCGGCCTCAGCCTGCCTGTCTCCCAGGTCTCTGTCCTTCCACCATGGCCCTGTGGA",
]


class DnaRequest(BaseModel):
    text: str = Field(
        description="the DNA sequence (A, C, G, T, IUPAC codes; a FASTA header line and whitespace are "
        "dropped); the model reads 60-nt windows centred on a candidate junction",
        min_length=1,
    )
    explain: bool = Field(True, description=f"also score each base (at most {MAX_EXPLAINED} bases)")


class DnaAnswer(BaseModel):
    label: str = Field(description="EI (donor), IE (acceptor) or N (neither)")
    probabilities: dict[str, float]
    sequence: str = Field(description="the bases read, after the header and whitespace were dropped")
    importance: list[float] | None = Field(
        None,
        description="per base: minus the mean change of log p(label) when the base is changed to each "
        "other base (large: the base decided it)",
    )
    decisive: list[bool] | None = Field(None, description="per base: importance >= 1/4 of the largest")
    warning: str | None = None


def bases(text: str) -> str:
    """The sequence of a pasted ``text``: a first line starting with ``>`` and all whitespace dropped."""
    lines = text.strip().splitlines()
    if lines and lines[0].lstrip().startswith(">"):
        lines = lines[1:]
    return "".join("".join(lines).split())


class DnaModel(Adapter, task="dna", page="dna.html", request=DnaRequest, answer=DnaAnswer):
    def load(self, run_dir: Path) -> None:
        from ..tasks import dna
        from ..tasks.dna import explain

        self.dna, self.explain = dna, explain
        self.models = dna.Predictor.from_run(run_dir).models

    def describe(self) -> dict[str, Any]:
        return {"window": self.dna.WINDOW, "classes": list(self.dna.CLASSES), "samples": SAMPLES}

    def check(self, request: DnaRequest) -> None:
        sequence = bases(request.text)
        self.dna.encode(sequence, "the sequence")  # an InputError names the position
        if request.explain and len(sequence) > MAX_EXPLAINED:
            raise InputError(
                f"explain takes at most {MAX_EXPLAINED} bases (the model is asked 4 times per base), got "
                f"{len(sequence)}; send explain: false to classify it without scores"
            )

    def answer(self, requests: list[DnaRequest]) -> list[DnaAnswer]:
        dna, explain = self.dna, self.explain
        sequences = [bases(r.text) for r in requests]
        explained = [i for i, r in enumerate(requests) if r.explain]
        plain = [i for i, r in enumerate(requests) if not r.explain]
        out: list[DnaAnswer | None] = [None] * len(requests)
        found = explain.saturation_mutagenesis(self.models, [(str(i), sequences[i]) for i in explained])
        for i, a in zip(explained, found):
            out[i] = self._answer(sequences[i], a.probabilities, a.importance)
        if plain:
            features = FeatureSequences([dna.encode(sequences[i], str(i)) for i in plain])
            for i, p in zip(plain, dna.probabilities(self.models, features)):
                out[i] = self._answer(sequences[i], p, None)
        return out  # type: ignore[return-value]

    def _answer(self, sequence: str, probs: np.ndarray, importance: np.ndarray | None) -> DnaAnswer:
        dna = self.dna
        warning = None
        if len(sequence) != dna.WINDOW:
            warning = (
                f"the model was trained on {dna.WINDOW}-nt windows centred on the candidate junction; "
                f"this sequence has {len(sequence)} bases and is classified as given"
            )
        return DnaAnswer(
            label=dna.CLASSES[int(np.argmax(probs))],
            probabilities={c: float(p) for c, p in zip(dna.CLASSES, probs)},
            sequence=sequence,
            importance=None if importance is None else [float(v) for v in importance],
            decisive=None if importance is None else self.explain.decisive(importance).tolist(),
            warning=warning,
        )


__all__ = ["MAX_EXPLAINED", "DnaAnswer", "DnaModel", "DnaRequest", "bases"]
