"""Word-level (subword) language models for pretraining: a forward and a backward LSTM sharing one
embedding and one output layer, as ELMo's, over a vocabulary of tens of thousands of pieces.

    forward:  x_1 .. x_t -> Embedding (E) -> LSTM (H) -> Linear (E) -> adaptive softmax -> x_{t+1}
    backward: x_n .. x_t -> the same embedding -> its own LSTM -> the same projection and softmax -> x_{t-1}

The output layer is torch's adaptive softmax (Grave et al. 2017, ``nn.AdaptiveLogSoftmaxWithLoss``):
the ``cutoffs[0]`` most frequent pieces and one entry per tail cluster get a full softmax, the rarer
pieces a smaller one inside their cluster, so a 16,000-piece vocabulary costs about what a 2,000-piece
one would on a CPU. (The byte-level BPE's ids follow its merges, which come roughly in order of
frequency: the head holds the common pieces without renumbering them.)

Each direction's LSTM has the shape of one direction of the classifier's bidirectional layer, so a
:class:`~rnnkit.models.SequenceClassifier` starts from them (:func:`classifier_weights`): its forward
cell from the forward model, its backward cell from the backward one, its embedding from theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import check_at_least_one, check_choice, check_fraction
from ..errors import ConfigError
from ..nn import GRU, LSTM

_LAYERS = {"lstm": LSTM, "gru": GRU}


@dataclass
class WordLMConfig:
    vocab_size: int = 16000
    embed_dim: int = 128
    cell: str = "lstm"  # "lstm" | "gru"
    hidden_size: int = 256
    dropout: float = 0.1  # on the embeddings and before the projection
    cutoffs: tuple[int, ...] = (2000, 6000)  # the adaptive softmax's clusters (pieces below each)
    bidirectional: bool = True  # also a backward model (the classifier's second direction)

    def __post_init__(self) -> None:
        check_choice(self, "cell", _LAYERS)
        check_at_least_one(self, "vocab_size", "embed_dim", "hidden_size")
        check_fraction(self, "dropout")
        self.cutoffs = tuple(c for c in self.cutoffs if c < self.vocab_size - 1)


class WordLM(nn.Module):
    def __init__(self, config: WordLMConfig) -> None:
        super().__init__()
        self.config = config
        V, E, H = config.vocab_size, config.embed_dim, config.hidden_size
        self.embedding = nn.Embedding(V, E)
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        layer = _LAYERS[config.cell]
        self.rnns = nn.ModuleList([layer(E, H)] + ([layer(E, H)] if config.bidirectional else []))
        self.dropout = nn.Dropout(config.dropout)
        self.projection = nn.Linear(H, E)
        self.softmax = nn.AdaptiveLogSoftmaxWithLoss(E, V, list(config.cutoffs), div_value=4.0)

    def forward(self, x: Tensor, y: Tensor, direction: int = 0, state=None) -> tuple[Tensor, object]:
        """``x`` (B, T) ids, ``y`` (B, T) the ids to predict; ``direction`` 0 (forward: y is the
        next piece) or 1 (backward: the stream runs back to front, y is the previous piece).
        Returns the mean negative log-likelihood (nats per piece) and the state after the chunk."""
        h, state = self.rnns[direction](self.dropout(self.embedding(x)), state=state)  # (B, T, H)
        out = self.softmax(self.projection(self.dropout(h)).flatten(0, 1), y.flatten())
        return out.loss, state


def classifier_weights(lm_state: dict[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
    """The weights a :class:`~rnnkit.models.SequenceClassifier` with one bidirectional layer takes
    from a :class:`WordLM`'s ``state_dict``: the embedding, the forward cell (``rnns.0``) as the
    layer's forward direction, the backward cell (``rnns.1``) as its backward direction."""
    weights = {f"{prefix}embedding.weight": lm_state["embedding.weight"]}
    for direction in (0, 1):
        cell = f"rnns.{direction}.cells.0."
        for key, value in lm_state.items():
            if key.startswith(cell):
                weights[f"{prefix}recurrent.0.cells.{direction}.{key[len(cell) :]}"] = value
    return weights


class ContextualWords(nn.Module):
    """A pretrained :class:`WordLM`'s embedding and its two LSTMs, frozen, as contextual features of
    the words of a sentence (ELMo, Peters et al. 2018; TagLM, Peters et al. 2017).

    A sentence is a list of words, each a list of piece ids. The forward LSTM reads
    ``separator, pieces...`` and the backward one ``separator, pieces reversed...`` (the separator is
    what both saw between documents in pretraining); a word's features are the forward state at its
    last piece and the backward state at its first, ``(2H,)``: what the left context and the word say,
    and what the right context and the word say. A "sentence" may as well be a whole document (the
    caller then splits the features). Sentences go through sorted by length, at most ``group`` and
    ``tokens`` pieces (padding included) at a time, exactly masked, so a sentence's features do not
    depend on its batch-mates."""

    def __init__(self, config: WordLMConfig, separator: int, group: int = 256, tokens: int = 65536) -> None:
        super().__init__()
        if not config.bidirectional:
            raise ConfigError("contextual word features need a bidirectional language model")
        self.separator, self.group, self.tokens = separator, group, tokens
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
        layer = _LAYERS[config.cell]
        self.rnns = nn.ModuleList([layer(config.embed_dim, config.hidden_size) for _ in range(2)])
        self.size = 2 * config.hidden_size
        self.requires_grad_(False)

    def load_language_model(self, lm_state: dict[str, Tensor]) -> None:
        """Copy the weights of a :class:`WordLM`'s ``state_dict`` (its softmax is not needed)."""
        self.load_state_dict({k: v for k, v in lm_state.items() if k.split(".")[0] in ("embedding", "rnns")})

    @torch.no_grad()
    def forward(self, sentences: list[list[list[int]]]) -> list[Tensor]:
        """Per sentence, ``(n_words, 2H)``: the features of each of its words, on this module's device."""
        out: list[Tensor] = [torch.empty(0)] * len(sentences)
        sizes = [sum(len(w) for w in s) for s in sentences]
        order = sorted(range(len(sentences)), key=sizes.__getitem__)
        device = self.embedding.weight.device
        groups: list[list[int]] = [[]]
        for i in order:  # by length: a group's padded size is its count times its last one's length
            if groups[-1] and (
                len(groups[-1]) == self.group or (len(groups[-1]) + 1) * (sizes[i] + 1) > self.tokens
            ):
                groups.append([])
            groups[-1].append(i)
        for chosen in groups:
            P = max(sizes[i] for i in chosen) + 1  # the separator first
            fwd = torch.zeros(len(chosen), P, dtype=torch.long)  # (B, P)
            bwd = torch.zeros(len(chosen), P, dtype=torch.long)
            lengths = torch.tensor([sizes[i] + 1 for i in chosen])
            for row, i in enumerate(chosen):
                pieces = [p for word in sentences[i] for p in word]
                fwd[row, : len(pieces) + 1] = torch.tensor([self.separator, *pieces])
                bwd[row, : len(pieces) + 1] = torch.tensor([self.separator, *pieces[::-1]])
            h_fwd, _ = self.rnns[0](self.embedding(fwd.to(device)), lengths)  # (B, P, H)
            h_bwd, _ = self.rnns[1](self.embedding(bwd.to(device)), lengths)
            for row, i in enumerate(chosen):
                counts = torch.tensor([len(w) for w in sentences[i]])  # (n,) pieces per word
                ends = counts.cumsum(0)  # each word's last piece, counted after the separator
                firsts = sizes[i] - (ends - counts)  # each word's first piece in the reversed reading
                out[i] = torch.cat([h_fwd[row, ends.to(device)], h_bwd[row, firsts.to(device)]], dim=1)
        return out
