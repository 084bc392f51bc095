"""Translating sentences with a trained run: batched greedy or beam search, and the attention figure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...data.batching import in_order
from ...data.translation import normalize
from ...decode import Hypothesis, beam_search, greedy_search
from ...errors import ConfigError
from ...models.seq2seq import Seq2Seq
from ...train import resolve_device
from .config import MAX_SOURCE_TOKENS, RUNS, TranslateConfig, build_model
from .data import PairBatch, PairDataset, Tokenizers

# Decoding: sentences sorted by length, batches of at most this many source tokens (padding included).
GREEDY_BATCH, BEAM_BATCH, DECODE_TOKENS = 512, 128, 8192


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
        size, budget = (GREEDY_BATCH if beam == 1 else BEAM_BATCH), DECODE_TOKENS // beam
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                found = in_order(
                    dataset.lengths,
                    lambda indices: self._search(dataset.collate(indices), beam, attention),
                    size,
                    budget,
                    progress,
                )
        finally:
            self.model.train(was_training)
        for i, hypothesis in zip(kept, found):
            out[i] = self._translation(encoded[i], hypothesis, truncated[i])
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
        common["alpha"] = self.config.length_penalty  # the score of both searches (rnnkit.decode)
        if beam == 1:
            return greedy_search(self.model.step, state, memory, **common)
        return beam_search(self.model.step, state, memory, beam=beam, **common)

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
