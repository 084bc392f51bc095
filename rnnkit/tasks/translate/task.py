"""Machine translation (many-to-many with an encoder and a decoder): "Voulez-vous chanter avec moi ?"
-> "Do you want to sing with me?".

Tatoeba pairs (``rnnkit.data.translation``), split so that no sentence of a test pair, on either
side and up to case, accents and punctuation, is trained on; one byte-level BPE per
language (:mod:`.data`); :class:`rnnkit.models.seq2seq.Seq2Seq` (a BiGRU encoder, a GRU decoder with
attention) trained with teacher forcing and label smoothing by the shared trainer, selected on the
validation BLEU (greedy) each epoch; the best weights translate the test split with greedy and beam
search, scored by sacrebleu (BLEU and chrF, detokenized text, each distinct source against all
its references).

Presets:

- ``fast``: fra-eng, the 30-minute recipe on a 2-core CPU (docs/translate.md).
- ``kor``: kor-eng, the lecture's language: 3.6k pairs, a small model and more dropout.

A run directory holds ``config.json``, the two tokenizers, the weights, the history and curves,
and ``results.json`` (the test scores).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...config import check_fraction
from ...data.translation import Pair, Splits, match_key, normalize, parse_pair_name, references
from ...decode import Hypothesis, beam_search, greedy_search
from ...errors import ConfigError
from ...models.seq2seq import Seq2Seq, Seq2SeqConfig
from ...summary import summary
from ...train import RunKind, TrainConfig, Trainer, resolve_device
from ...train.template import RESULTS_FILE, Fit, Recipe, train_run
from .data import SOURCE_TOKENIZER, TARGET_TOKENIZER, PairBatch, PairDataset, Tokenizers, encode_pairs
from .data import load_splits as _load_splits

MAX_SOURCE_TOKENS = 256  # a longer source is cut to this many tokens (with a warning): memory stays bounded
# Decoding: sentences sorted by length, batches of at most this many source tokens (padding included).
GREEDY_BATCH, BEAM_BATCH, DECODE_TOKENS = 512, 128, 8192

# The lecture's sentence, then two of ours.
SAMPLES = (
    "Voulez-vous chanter avec moi ?",
    "Je ne sais pas ce que je ferais sans toi.",
    "Il pleuvait quand nous sommes arrivés à la gare.",
)


@dataclass
class TranslateConfig:
    pair: str = "fra-eng"  # source-target: fra-eng, eng-fra, kor-eng, eng-kor
    source_vocab_size: int = 8000  # the source BPE (its size costs nothing at run time)
    target_vocab_size: int = 4000  # the target BPE: the output layer's width, the largest cost
    max_tokens: int = 64  # a training pair's sides are cut to this many tokens
    test_pairs: int = 5000
    validation_pairs: int = 3000
    split_seed: int = 0
    label_smoothing: float = 0.1
    beam: int = 5  # the beam of `evaluate` and of translating (1: greedy)
    length_penalty: float = 0.6  # GNMT's alpha
    max_length_ratio: float = 2.0  # a translation has at most ratio * source tokens + extra tokens
    max_length_extra: int = 10
    model: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=20,  # a cap: the time limit ends the run first
            batch_size=128,
            lr=2e-3,
            schedule="cosine",
            warmup=0.01,  # of epochs * steps: ~200 steps
            clip_norm=1.0,
            monitor="val_bleu",
            time_limit=29.0,
        )
    )

    def __post_init__(self) -> None:
        parse_pair_name(self.pair)
        if self.beam < 1:
            raise ConfigError(f"beam must be >= 1, got {self.beam}")
        check_fraction(self, "label_smoothing")
        if self.max_tokens < 2 or self.max_length_ratio <= 0 or self.max_length_extra < 1:
            raise ConfigError("max_tokens must be >= 2, max_length_ratio > 0 and max_length_extra >= 1")


PRESETS: dict[str, TranslateConfig] = {
    "fast": TranslateConfig(model=Seq2SeqConfig(decoder_size=256)),
    "kor": TranslateConfig(
        pair="kor-eng",
        source_vocab_size=2000,
        target_vocab_size=2000,
        test_pairs=400,
        validation_pairs=200,
        model=Seq2SeqConfig(embed_size=128, hidden_size=128, decoder_size=256, dropout=0.4),
        train=TrainConfig(
            epochs=60,
            batch_size=32,
            lr=2e-3,
            schedule="cosine",
            warmup=0.02,
            clip_norm=1.0,
            monitor="val_bleu",
            patience=15,
        ),
    ),
}

RUNS = RunKind(
    "translation",
    TranslateConfig,
    PRESETS,
    may_change=("train.epochs", "train.time_limit", "beam"),
    from_data=("model.source_vocab", "model.target_vocab"),
    files=(SOURCE_TOKENIZER, TARGET_TOKENIZER, RESULTS_FILE),
)


def preset(name: str) -> TranslateConfig:
    return RUNS.preset(name)


def build_model(config: TranslateConfig) -> Seq2Seq:
    return Seq2Seq(config.model)


# -- training -----------------------------------------------------------------------------------------


def make_step(label_smoothing: float) -> Callable[[nn.Module, PairBatch], tuple[Tensor, dict, int]]:
    """Teacher forcing: the mean label-smoothed cross-entropy per target token (``</s>`` included);
    ``nll``, the plain negative log-likelihood, is logged beside it (its exp is the perplexity)."""

    def step(model: nn.Module, batch: PairBatch) -> tuple[Tensor, dict[str, float], int]:
        real = batch.target_out != 0  # (B, T)
        logits = model(batch.source, batch.source_lengths, batch.target_in, where=real)  # (N, V)
        gold = batch.target_out[real]  # (N,)
        loss = F.cross_entropy(logits, gold, label_smoothing=label_smoothing, reduction="sum")
        nll = F.cross_entropy(logits.detach(), gold, reduction="sum") if label_smoothing else loss.detach()
        count = int(gold.numel())
        return loss / count, {"nll": float(nll)}, count

    return step


def load_splits(config: TranslateConfig, data: str | Path | None):
    return _load_splits(data, config.pair, config.test_pairs, config.validation_pairs, config.split_seed)


@dataclass
class TranslationData:
    splits: Splits
    tokenizers: Tokenizers
    train: PairDataset
    validation: PairDataset


class TranslationRecipe(Recipe[TranslateConfig, TranslationData]):
    """The translation task's parts for the run template (:func:`rnnkit.train.template.train_run`)."""

    runs = RUNS

    def __init__(self, data: str | Path | None) -> None:
        self.data = data

    def load_saved(self, run_dir: Path, config: TranslateConfig) -> Tokenizers:
        return Tokenizers.load(run_dir)

    def prepare(self, config: TranslateConfig, saved: Tokenizers | None) -> TranslationData:
        splits = load_splits(config, self.data)
        tokenizers = saved or Tokenizers.train(
            splits.train, config.source_vocab_size, config.target_vocab_size
        )
        return TranslationData(
            splits,
            tokenizers,
            encode_pairs(splits.train, tokenizers, config.max_tokens),
            encode_pairs(splits.validation, tokenizers, config.max_tokens),
        )

    def decide(self, config: TranslateConfig, data: TranslationData) -> TranslateConfig:
        vocab = {
            "source_vocab": data.tokenizers.source.vocab_size,
            "target_vocab": data.tokenizers.target.vocab_size,
        }
        return dataclasses.replace(config, model=dataclasses.replace(config.model, **vocab))

    def save_new(self, config: TranslateConfig, data: TranslationData, run_dir: Path) -> None:
        data.tokenizers.save(run_dir)

    def build(self, config: TranslateConfig, data: TranslationData) -> Seq2Seq:
        return build_model(config)

    def step(self, config: TranslateConfig):
        return make_step(config.label_smoothing)

    def started(self, config, data: TranslationData, trainer: Trainer, model: nn.Module) -> None:
        example = data.train.collate(np.arange(2))
        trainer.message(str(summary(model, example.source, example.source_lengths, example.target_in)))

    def fit(self, config: TranslateConfig, data: TranslationData, trainer: Trainer, model: nn.Module) -> Fit:
        translator = Translator(model, data.tokenizers, config)
        pairs = data.splits.validation

        def validate(model: nn.Module) -> dict[str, float]:  # under torchrun, every process translates it all
            translator.device = trainer.device
            hypotheses = translator.translate([p.source for p in pairs], beam=1)
            return {"bleu": corpus_scores([h.text for h in hypotheses], pairs, config)["bleu"]}

        batch_size, seed, shard = config.train.batch_size, config.train.seed, trainer.shard
        return Fit(
            lambda epoch: data.train.batches(batch_size, shuffle=True, seed=seed * 1000 + epoch, shard=shard),
            data.train.num_batches(batch_size),
            lambda: data.validation.batches(256, shard=shard),
            validate,
        )

    def test(
        self, config: TranslateConfig, data: TranslationData, trainer: Trainer, model: nn.Module
    ) -> dict:
        translator = Translator(model, data.tokenizers, config)
        translator.device = trainer.device
        best_row = max(trainer.history, key=lambda row: row["val_bleu"])
        return {
            "test": {
                f"beam{beam}": score_split(translator, data.splits.test, config, beam)
                for beam in sorted({1, config.beam})
            },
            "best_val_bleu": best_row["val_bleu"],
            "best_epoch": best_row["epoch"],
            "best_elapsed_seconds": best_row["elapsed"],
            "train_pairs": len(data.splits.train),
            "test_pairs": len(data.splits.test),
        }


def train(
    config: TranslateConfig, data: str | Path | None, run_dir: str | Path, callbacks=(), resume: bool = True
) -> dict:
    """Train (or resume) the run in ``run_dir``, select on the validation BLEU, then score the best
    weights on the test split with greedy and beam search."""
    return train_run(TranslationRecipe(data), config, run_dir, callbacks, resume)


# -- scores ---------------------------------------------------------------------------------------------


def corpus_scores(hypotheses: list[str], pairs: list[Pair], config: TranslateConfig) -> dict:
    """sacrebleu's corpus BLEU and chrF of detokenized ``hypotheses`` (one for each pair), with
    their signatures. A Korean target is scored on characters (13a would see whole eojeol).

    ``bleu``/``chrf`` score each distinct source sentence once (up to ``match_key``; the first
    pair's hypothesis) against *every* reference the pairs give it, as multi-reference BLEU is
    meant: a source with three English translations is not scored three times, each time against
    one and penalised for matching the other two. ``bleu_per_pair``/``chrf_per_pair`` are the
    older figures, one hypothesis and one reference per pair."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(pairs):
        raise ValueError(f"one hypothesis per pair: got {len(hypotheses)} for {len(pairs)} pairs")
    first: dict[str, str] = {}
    for hypothesis, pair in zip(hypotheses, pairs):
        first.setdefault(match_key(pair.source), hypothesis)
    distinct, targets = references(pairs)
    hypotheses_once = [first[match_key(source)] for source in distinct]
    streams = [
        [refs[k] if k < len(refs) else None for refs in targets] for k in range(max(map(len, targets)))
    ]
    bleu = BLEU(tokenize="char" if config.pair.endswith("-kor") else "13a")
    chrf = CHRF()
    return {
        "bleu": bleu.corpus_score(hypotheses_once, streams).score,
        "chrf": chrf.corpus_score(hypotheses_once, streams).score,
        "bleu_per_pair": bleu.corpus_score(hypotheses, [[p.target for p in pairs]]).score,
        "chrf_per_pair": chrf.corpus_score(hypotheses, [[p.target for p in pairs]]).score,
        "sources": len(distinct),
        "references": sum(map(len, targets)),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def score_split(translator: Translator, pairs: list[Pair], config: TranslateConfig, beam: int) -> dict:
    start = time.perf_counter()
    hypotheses = translator.translate([p.source for p in pairs], beam=beam)
    seconds = time.perf_counter() - start
    texts = [h.text for h in hypotheses]
    return {
        **corpus_scores(texts, pairs, config),
        "seconds": seconds,
        "sentences_per_second": len(pairs) / seconds,
        "translations": texts,
    }


# -- translating -----------------------------------------------------------------------------------------


@dataclass
class Translation:
    text: str  # detokenized
    source_tokens: list[str]  # the source pieces read (after any cut)
    target_tokens: list[str]  # the pieces written, without </s>
    score: float  # the search's score (log-probability over the length penalty)
    log_prob: float
    truncated: bool = False  # the source was cut to MAX_SOURCE_TOKENS
    attention: np.ndarray | None = None  # (target pieces + 1, source pieces): the last row is </s>'s


class Translator:
    """Translations of many sentences at once, sorted by length and batched; greedy (``beam=1``) or
    beam search. Sentences are normalized as the training pairs were (NFC, white space); an empty
    (or all-space) sentence translates to an empty one without running the model; a source
    of more than ``MAX_SOURCE_TOKENS`` pieces is cut there (``Translation.truncated``)."""

    def __init__(self, model: Seq2Seq, tokenizers: Tokenizers, config: TranslateConfig) -> None:
        self.model, self.tokenizers, self.config = model, tokenizers, config
        self.device = next(model.parameters()).device

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str = "auto") -> Translator:
        model, config = RUNS.load_model(run_dir, build_model)
        translator = cls(model.to(resolve_device(device)), Tokenizers.load(Path(run_dir)), config)
        return translator

    def translate(
        self,
        sentences: list[str],
        beam: int | None = None,
        attention: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Translation]:
        beam = self.config.beam if beam is None else beam
        if beam < 1:
            raise ConfigError(f"beam must be >= 1, got {beam}")
        # as the training pairs were read: NFC, white space runs as one space, ends stripped
        encoded = self.tokenizers.source.encode_batch([normalize(s) for s in sentences])
        truncated = [len(ids) > MAX_SOURCE_TOKENS for ids in encoded]
        encoded = [ids[:MAX_SOURCE_TOKENS] for ids in encoded]
        kept = [i for i, ids in enumerate(encoded) if ids]
        out: list[Translation | None] = [None] * len(sentences)
        for i, ids in enumerate(encoded):
            if not ids:
                out[i] = Translation("", [], [], 0.0, 0.0)
        dataset = PairDataset([encoded[i] for i in kept])
        was_training = self.model.training
        self.model.eval()
        done = 0
        try:
            with torch.inference_mode():
                size = GREEDY_BATCH if beam == 1 else BEAM_BATCH
                for batch in dataset.batches(size, token_budget=DECODE_TOKENS // (1 if beam == 1 else beam)):
                    found = self._search(batch, beam, attention)
                    for j, hypothesis in zip(batch.indices, found):
                        i = kept[j]
                        out[i] = self._translation(encoded[i], hypothesis, truncated[i])
                    done += len(batch.indices)
                    if progress is not None:
                        progress(done, len(kept))
        finally:
            self.model.train(was_training)
        return out  # type: ignore[return-value]

    def _search(self, batch: PairBatch, beam: int, attention: bool) -> list[Hypothesis]:
        source = batch.source.to(self.device)
        memory, state = self.model.encode(source, batch.source_lengths)
        limits = torch.clamp(
            (batch.source_lengths.double() * self.config.max_length_ratio).ceil().long()
            + self.config.max_length_extra,
            max=2 * MAX_SOURCE_TOKENS,
        )
        ids = self.model.config
        common = {"bos": ids.bos_id, "eos": ids.eos_id, "max_lengths": limits, "attention": attention}
        if beam == 1:
            return greedy_search(self.model.step, state, memory, **common)
        return beam_search(
            self.model.step, state, memory, beam=beam, alpha=self.config.length_penalty, **common
        )

    def _translation(self, source: list[int], hypothesis: Hypothesis, truncated: bool) -> Translation:
        target = self.tokenizers.target
        source_pieces = [self.tokenizers.source.backend.decode([i]) for i in source]
        return Translation(
            target.decode(hypothesis.tokens),
            source_pieces,
            [target.backend.decode([i]) for i in hypothesis.tokens],
            hypothesis.score,
            hypothesis.log_prob,
            truncated,
            # (steps, S) over the batch's longest source: this source's columns only
            hypothesis.attention[:, : len(source)].numpy() if hypothesis.attention is not None else None,
        )


def evaluate(
    run_dir: str | Path,
    data: str | Path | None,
    beams: tuple[int, ...] = (1, 5),
    split: str = "test",
    device: str = "auto",
    limit: int | None = None,
) -> dict:
    """BLEU and chrF of a run's best weights on a split, for each beam in ``beams``, with the
    translations and the throughput."""
    translator = Translator.from_run(run_dir, device)
    config = translator.config
    pairs = getattr(load_splits(config, data), split)[:limit]
    return {
        "pairs": pairs,
        "scores": {beam: score_split(translator, pairs, config, beam) for beam in beams},
        "config": config,
    }


# Fonts with Hangul (and more) that matplotlib falls back to, per glyph, when they are installed.
FALLBACK_FONTS = ("NanumGothic", "Noto Sans CJK KR", "Noto Sans KR", "Noto Sans CJK JP", "Unifont")


def attention_figure(translation: Translation, path: str | Path) -> None:
    """The attention heatmap of one translation, source pieces across, target pieces down (the
    figure of Bahdanau et al., 2015), saved as an image. Labels in a script that no installed font
    has (Hangul without fonts-nanum, say) are drawn as boxes, with one warning that says so."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    if translation.attention is None:
        raise ConfigError("this translation has no attention weights; translate with attention=True")
    installed = {font.name for font in font_manager.fontManager.ttflist}
    families = ["DejaVu Sans", *(f for f in FALLBACK_FONTS if f in installed)]
    weights = translation.attention  # (T + 1, S)
    rows = [*translation.target_tokens, "</s>"][: len(weights)]
    width = max(4.0, 0.45 * len(translation.source_tokens) + 1.5)
    height = max(3.0, 0.4 * len(rows) + 1.5)
    with matplotlib.rc_context({"font.family": families}), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure, axes = plt.subplots(figsize=(width, height))
        axes.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
        axes.set_xticks(
            range(len(translation.source_tokens)), translation.source_tokens, rotation=60, ha="right"
        )
        axes.set_yticks(range(len(rows)), rows)
        axes.set_xlabel("source pieces")
        axes.set_ylabel("translation pieces")
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)
    if any("missing from font" in str(w.message) for w in caught):
        warnings.warn(
            f"{path}: some labels have characters no installed font draws (shown as boxes); install a "
            "font with them, e.g. Debian's fonts-nanum for Hangul",
            stacklevel=2,
        )
