"""The models a server holds: one adapter per task (:class:`.adapter.Adapter`), loaded from a run
directory by the task's own loading code (the CLI's: no second copy of model construction), each
answering a *batch* of requests in one call. Sentiment, tagging, translation and the language
model are here; DNA, activity and speech have their own files (:mod:`.dna`, :mod:`.activity`,
:mod:`.speech`). :func:`load` picks the adapter by the task a run's ``run.json`` records.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field

from ..data.batching import planned_batches
from ..errors import InputError
from ..train import checkpoint as ckpt
from ..train.rundir import RUN_FILE
from .activity import ActivityModel
from .adapter import Adapter, Limits
from .batcher import StepCosts
from .dna import DnaModel
from .speech import SpeechModel

# -- sentiment -------------------------------------------------------------------------------------------


class SentimentRequest(BaseModel):
    text: str = Field(description="the review", min_length=1)
    explain: bool = Field(False, description="also return each word's contribution (occlusion)")


class WordWeight(BaseModel):
    text: str
    start: int
    end: int
    weight: float = Field(description="logit(text) - logit(text without these words)")


class SentimentAnswer(BaseModel):
    probability: float = Field(description="probability that the review is positive")
    label: str
    logit: float
    tokens: int = Field(description="tokens read (after the cut at the model's max_tokens)")
    words: list[WordWeight] | None = None


class SentimentModel(
    Adapter, task="sentiment", page="sentiment.html", request=SentimentRequest, answer=SentimentAnswer
):
    def load(self, run_dir: Path) -> None:
        from ..tasks import sentiment

        self.sentiment = sentiment
        self.predictor = sentiment.Predictor.from_run(run_dir)
        # what a padded batch costs this model here, to cut each gathered batch where it runs fastest
        self.costs = StepCosts.measure(self._forward, max(self.limits.max_batch, 8))

    def _forward(self, rows: int, steps: int) -> None:
        model = self.predictor.model
        tokens = torch.randint(1, model.embedding.num_embeddings, (rows, steps))
        with torch.inference_mode():
            model(tokens, torch.full((rows,), steps))

    def describe(self) -> dict[str, Any]:
        return {"max_tokens": self.predictor.max_tokens, "samples": list(self.sentiment.SAMPLES)}

    def check(self, request: SentimentRequest) -> None:
        if not request.text.strip():
            raise InputError("the text is empty or only whitespace; nothing to classify")

    def answer(self, requests: list[SentimentRequest]) -> list[SentimentAnswer]:
        # every text of every request, explanations' variants included, in one predictor call
        texts, occlusions = [], []
        for request in requests:
            occluded = (
                self.sentiment.occlusion(request.text, self.limits.explain_spans) if request.explain else None
            )
            occlusions.append(occluded)
            texts += [request.text, *(occluded.variants if occluded else [])]
        predictor = self.predictor
        logits = np.zeros(len(texts))  # a variant with no word left (a one-word text without it): 0
        real = [i for i, text in enumerate(texts) if text.strip()]
        dataset = self.sentiment.encode(
            predictor.tokenizer, [texts[i] for i in real], [0] * len(real), predictor.max_tokens
        )
        costs = self.costs
        cut = planned_batches(dataset.lengths, costs.step, costs.call, self.sentiment.EVAL_TOKENS)
        logits[real] = predictor.logits(dataset, batches=cut)
        counts = dict(zip(real, (len(seq) for seq in dataset.sequences)))
        answers, at = [], 0
        for request, occluded in zip(requests, occlusions):
            logit, count = float(logits[at]), counts[at]
            words = None
            if occluded is not None:
                weights = self.sentiment.contributions(logit, logits[at + 1 : at + 1 + len(occluded.spans)])
                words = [
                    WordWeight(text=request.text[a:b], start=a, end=b, weight=float(w))
                    for (a, b), w in zip(occluded.spans, weights)
                ]
            probability = float(1 / (1 + np.exp(-logit)))
            label = "positive" if probability >= 0.5 else "negative"
            answers.append(
                SentimentAnswer(probability=probability, label=label, logit=logit, tokens=count, words=words)
            )
            at += 1 + (len(occluded.spans) if occluded else 0)
        return answers


# -- tagging ------------------------------------------------------------------------------------------------


class TagRequest(BaseModel):
    text: str = Field(description="a sentence; it is split into words as CoNLL splits them", min_length=1)


class Entity(BaseModel):
    text: str
    type: str
    start: int = Field(description="index of the first word")
    end: int = Field(description="index of the word after the last")


class TagAnswer(BaseModel):
    tokens: list[str]
    tags: list[str]
    entities: list[Entity]
    marked: str


class TaggingModel(Adapter, task="tagging", page="tag.html", request=TagRequest, answer=TagAnswer):
    def load(self, run_dir: Path) -> None:
        from ..tasks import tag

        self.tag = tag
        self.tagger = tag.Tagger.from_run(run_dir)

    def describe(self) -> dict[str, Any]:
        return {"samples": ["Yesterday, Harry Potter met Hermione Granger."]}

    def check(self, request: TagRequest) -> None:
        if not self.tag.tokenize(request.text):
            raise InputError("the sentence has no words; nothing to tag")

    def answer(self, requests: list[TagRequest]) -> list[TagAnswer]:
        sentences = [self.tag.tokenize(r.text) for r in requests]
        tagged = self.tagger(sentences)
        return [
            TagAnswer(
                tokens=tokens,
                tags=tags,
                entities=[Entity(**e) for e in self.tag.entities(tokens, tags)],
                marked=self.tag.marked(tokens, tags),
            )
            for tokens, tags in zip(sentences, tagged)
        ]


# -- translation ------------------------------------------------------------------------------------------


class TranslateRequest(BaseModel):
    text: str = Field(description="the sentence to translate", min_length=1)
    beam: int = Field(5, ge=1, description="beam width; 1 is greedy search")
    attention: bool = Field(False, description="also return the attention weights")


class TranslateAnswer(BaseModel):
    translation: str
    source_tokens: list[str]
    target_tokens: list[str]
    score: float = Field(
        description="log_prob / lp(n), GNMT's length penalty lp(n) = ((5 + n) / 6) ** alpha over the n "
        "tokens written (</s> included when written): what beam search ranks by; the same for greedy"
    )
    log_prob: float = Field(description="the sum of the log-probabilities of the n tokens written")
    truncated: bool
    attention: list[list[float]] | None = Field(
        None, description="target pieces (+ 1 for the end of sentence, when it was written) x source pieces"
    )


class TranslationModel(
    Adapter, task="translation", page="translate.html", request=TranslateRequest, answer=TranslateAnswer
):
    def load(self, run_dir: Path) -> None:
        from ..tasks import translate

        self.translator = translate.Translator.from_run(run_dir)

    def describe(self) -> dict[str, Any]:
        source, _, target = self.translator.config.pair.partition("-")
        samples = {"fra": ["Voulez-vous chanter avec moi ?"], "eng": ["Do you want to sing with me?"]}
        return {"source": source, "target": target, "samples": samples.get(source, [])}

    def check(self, request: TranslateRequest) -> None:
        if request.beam > self.limits.max_beam:
            raise InputError(f"beam must be at most {self.limits.max_beam}, got {request.beam}")

    def answer(self, requests: list[TranslateRequest]) -> list[TranslateAnswer]:
        out: list[TranslateAnswer | None] = [None] * len(requests)
        # one search per (beam, attention) asked: requests alike run together
        for (beam, attention), group in itertools.groupby(
            sorted(range(len(requests)), key=lambda i: (requests[i].beam, requests[i].attention)),
            key=lambda i: (requests[i].beam, requests[i].attention),
        ):
            group = list(group)
            found = self.translator.translate(
                [requests[i].text for i in group], beam=beam, attention=attention
            )
            for i, t in zip(group, found):
                out[i] = TranslateAnswer(
                    translation=t.text,
                    source_tokens=t.source_tokens,
                    target_tokens=t.target_tokens,
                    score=t.score,
                    log_prob=t.log_prob,
                    truncated=t.truncated,
                    attention=t.attention.round(4).tolist() if t.attention is not None else None,
                )
        return out  # type: ignore[return-value]


# -- language model ------------------------------------------------------------------------------------------


MAX_SEED = 2**64 - 1  # the largest seed torch.Generator.manual_seed takes


class GenerateRequest(BaseModel):
    prime: str = Field("\n", description="the text the model goes on from", min_length=1)
    length: int = Field(300, ge=1, description="characters to write")
    temperature: float = Field(0.8, gt=0, le=5)
    top_k: int | None = Field(None, ge=1)
    # torch's generator takes a 64-bit seed; a larger one would fail mid-stream, so it is a 422 here
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description=f"a seed (0 to {MAX_SEED}) makes the text reproducible"
    )


class LanguageModel(Adapter, task="language-model", page="lm.html", request=GenerateRequest, answer=None):
    """The char LM writes one character at a time: its answer is streamed (``generate``), written
    in chunks in the torch thread so that other requests get turns in between."""

    CHUNK = 16  # characters per turn in the torch thread

    def load(self, run_dir: Path) -> None:
        from ..tasks import charlm

        self.charlm = charlm
        self.model, self.vocab, self.config = charlm.load_run(run_dir)

    def describe(self) -> dict[str, Any]:
        return {"primes": ["ROMEO:", "\n"], "vocabulary": len(self.vocab)}

    def check(self, request: GenerateRequest) -> None:
        """Refuse before streaming starts (a 422, not an error in the middle of a 200)."""
        if request.length > self.limits.max_generate:
            raise InputError(f"length must be at most {self.limits.max_generate}, got {request.length}")
        unknown = self.vocab.unknown(request.prime)
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:5])
            raise InputError(f"the prime holds characters the model never saw: {shown}")

    def generate(self, request: GenerateRequest) -> Iterator[str]:
        return self.charlm.sample(
            self.model,
            self.vocab,
            request.prime,
            request.length,
            request.temperature,
            request.top_k,
            request.seed,
        )

    @classmethod
    def chunk(cls, characters: Iterator[str]) -> str:
        return "".join(itertools.islice(characters, cls.CHUNK))


# the adapters by task; DNA, activity and speech have their own files (rnnkit/serve/dna.py, ...)
ADAPTERS: dict[str, type[Adapter]] = {
    cls.task: cls
    for cls in (
        SentimentModel,
        TaggingModel,
        TranslationModel,
        LanguageModel,
        DnaModel,
        ActivityModel,
        SpeechModel,
    )
}


@dataclass
class Served:
    """A loaded model with its name (the URL's), run directory, torch thread and batcher."""

    name: str
    run_dir: Path
    model: Any  # one of ADAPTERS' classes
    executor: ThreadPoolExecutor
    batcher: Any = None  # a MicroBatcher, except for the language model


def load(run_dir: str | Path, limits: Limits) -> Any:
    """The adapter of the run in ``run_dir``, chosen by the task its ``run.json`` records."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ckpt.CheckpointError(f"no run directory at {run_dir}")
    record_path = run_dir / RUN_FILE
    if not record_path.is_file():
        raise ckpt.CheckpointError(f"{run_dir} has no {RUN_FILE}; train it with a recent rnnkit to serve it")
    task = ckpt.load_json(record_path).get("task")
    if task not in ADAPTERS:
        raise InputError(f"{run_dir} is a {task} run; rnnkit serve serves {', '.join(ADAPTERS)} runs")
    return ADAPTERS[task](run_dir, limits)
