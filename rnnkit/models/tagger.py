"""A sequence tagger (synced many-to-many): one tag per word, as in named-entity recognition.

The model of Lample et al. (2016), "Neural Architectures for Named Entity Recognition"::

    word w_t -> [ Embedding(word) ; char BiLSTM(characters of w_t) ; Embedding(casing)
                  ; pretrained LM states (optional) ]                                       (B, T, F)
             -> Dropout -> BiLSTM (stacked) -> Dropout -> Linear -> emissions            (B, T, K)
             -> linear-chain CRF (rnnkit.nn.CRF): log-likelihood in training, Viterbi to decode

- Words are lowercased (and digits mapped to 0) before the embedding, so "Paris", "PARIS" and
  "paris" share one vector; the casing feature (:data:`rnnkit.data.conll.CASINGS`) keeps the shape.
- The character BiLSTM reads every word's characters, exactly masked, and its two final states
  (forward at the last character, backward at the first) describe the word: prefixes, suffixes,
  capitals, which is what an unseen name needs.
- ``decoder="softmax"`` replaces the CRF by an independent softmax per word (the baseline).
- ``lm`` (:class:`LMFeatures`, ``hidden_size > 0``): the input also holds contextual features from
  a frozen, pretrained forward and backward language model
  (:class:`rnnkit.models.wordlm.ContextualWords`, ELMo-style): the batch brings them
  (``TagBatch.context``, computed once per sentence since the LM does not train).
- ``word_dropout``: in training each word id is replaced by the unknown id with this probability,
  so the unknown embedding is learned for words never seen in training.

Shapes: B sentences, T words (padded), N real words in the batch, U distinct words among them (each
spelled once by the character BiLSTM), W characters (padded), K tags.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import check_at_least_one, check_choice, check_fraction
from ..errors import ConfigError
from ..nn import CRF, LSTM, bio_constraints, iobes_constraints
from .wordlm import ContextualWords, WordLMConfig

DECODERS = ("crf", "softmax")
SPELL_GROUP = 256  # distinct words per character-BiLSTM call, sorted by length


@dataclass
class LMFeatures:
    """The frozen pretrained language model whose states a tagger reads as word features: the sizes
    of its :class:`~rnnkit.models.wordlm.WordLMConfig`, and the piece it saw between documents.
    ``hidden_size`` 0: no language model. A task fills it from the pretrained run (:meth:`of`); the
    language model's own checks run when the tagger is built (:meth:`word_lm`)."""

    vocab_size: int = 0
    embed_dim: int = 0
    hidden_size: int = 0  # per direction; the features are 2 * hidden_size per word
    cell: str = "lstm"
    separator: int = 0  # the piece id the LM saw between documents

    @classmethod
    def of(cls, config: WordLMConfig, separator: int) -> LMFeatures:
        return cls(config.vocab_size, config.embed_dim, config.hidden_size, config.cell, separator)

    def word_lm(self) -> WordLMConfig:
        return WordLMConfig(self.vocab_size, self.embed_dim, self.cell, self.hidden_size)


@dataclass
class TaggerConfig:
    word_vocab: int = 2  # from the data: <pad>, <unk>, then the training words
    char_vocab: int = 2
    tags: tuple[str, ...] = ("O",)  # from the data: the tag names, in id order (IOB2 or IOBES)
    word_dim: int = 100
    char_dim: int = 25
    char_hidden: int = 25  # per direction; 0 for no character features
    casing_dim: int = 8  # 0 for no casing feature
    hidden_size: int = 100  # per direction
    num_layers: int = 1
    dropout: float = 0.5
    word_dropout: float = 0.05
    decoder: str = "crf"  # "crf" | "softmax"
    constrained: bool = True  # the CRF decodes only well-formed BIO/IOBES sequences
    lm: LMFeatures = field(default_factory=LMFeatures)  # hidden_size 0: no language model

    def __post_init__(self) -> None:
        self.tags = tuple(self.tags)
        check_choice(self, "decoder", DECODERS)
        check_at_least_one(self, "word_dim", "hidden_size", "num_layers")
        check_fraction(self, "dropout", "word_dropout")


# TaggerConfig's keys before LMFeatures, and the LMFeatures field each became
LEGACY_LM_KEYS = {
    "lm_vocab": "vocab_size",
    "lm_embed": "embed_dim",
    "lm_hidden": "hidden_size",
    "lm_cell": "cell",
    "lm_separator": "separator",
}


def upgrade_config(data: dict) -> dict:
    """A :class:`TaggerConfig` as a dict (``config.json``'s ``model``) saved before :class:`LMFeatures`,
    with five flat ``lm_*`` keys, in today's form: those keys as one ``lm``. Today's form is returned
    as it is."""
    old = {key: data[key] for key in LEGACY_LM_KEYS if key in data}
    if not old:
        return data
    rest = {key: value for key, value in data.items() if key not in LEGACY_LM_KEYS}
    return {**rest, "lm": {LEGACY_LM_KEYS[key]: value for key, value in old.items()}}


@dataclass
class TagBatch:
    words: Tensor  # (B, T) word ids, 0 at padding
    casings: Tensor  # (B, T) casing ids
    chars: Tensor  # (U, W) character ids of the batch's distinct words, 0-padded
    char_lengths: Tensor  # (U,) on the CPU
    spelling: Tensor  # (N,) the row of chars of each real word, in reading order
    positions: Tensor  # (N,) each real word's place b * T + t in the (B, T) batch
    lengths: Tensor  # (B,) sentence lengths, on the CPU
    tags: Tensor  # (B, T) tag ids, 0 at padding
    indices: list[int]  # positions in the dataset, for outputs in order
    context: Tensor | None = None  # (B, T, 2H_lm) the language model's features, zero at padding

    def to(self, device: torch.device | str) -> TagBatch:
        return TagBatch(
            self.words.to(device),
            self.casings.to(device),
            self.chars.to(device),
            self.char_lengths,
            self.spelling.to(device),
            self.positions.to(device),
            self.lengths,
            self.tags.to(device),
            self.indices,
            None if self.context is None else self.context.to(device),
        )


class SequenceTagger(nn.Module):
    def __init__(self, config: TaggerConfig) -> None:
        super().__init__()
        self.config = config
        self.words = nn.Embedding(config.word_vocab, config.word_dim, padding_idx=0)
        nn.init.uniform_(self.words.weight, -((3 / config.word_dim) ** 0.5), (3 / config.word_dim) ** 0.5)
        width = config.word_dim
        if config.char_hidden:
            self.chars = nn.Embedding(config.char_vocab, config.char_dim, padding_idx=0)
            self.char_lstm = LSTM(config.char_dim, config.char_hidden, bidirectional=True)
            width += 2 * config.char_hidden
        if config.casing_dim:
            self.casings = nn.Embedding(8, config.casing_dim)
            width += config.casing_dim
        self.context = None
        if config.lm.hidden_size:
            self.context = ContextualWords(config.lm.word_lm(), config.lm.separator)
            width += self.context.size
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = LSTM(
            width,
            config.hidden_size,
            num_layers=config.num_layers,
            bidirectional=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        K = len(config.tags)
        self.emit = nn.Linear(2 * config.hidden_size, K)
        self.crf = None
        if config.decoder == "crf":
            scheme = iobes_constraints if any(t[:2] in ("E-", "S-") for t in config.tags) else bio_constraints
            self.crf = CRF(K, scheme(list(config.tags)) if config.constrained else None)

    def features(self, batch: TagBatch) -> Tensor:
        """Each word's input features, (B, T, F)."""
        words = batch.words
        if self.training and self.config.word_dropout:
            drop = torch.rand(words.shape, device=words.device) < self.config.word_dropout
            words = words.masked_fill(drop & (words > 1), 1)  # 1 is the unknown word
        parts = [self.words(words)]  # (B, T, word_dim)
        if self.config.char_hidden:
            per_word = self.spell(batch.chars, batch.char_lengths)[batch.spelling]  # (U, 2C) -> (N, 2C)
            B, T = words.shape
            spelled = per_word.new_zeros(B * T, per_word.shape[1]).index_copy(0, batch.positions, per_word)
            parts.append(spelled.view(B, T, -1))  # (B, T, 2C), zero at padding
        if self.config.casing_dim:
            parts.append(self.casings(batch.casings))
        if self.context is not None:
            if batch.context is None:
                raise ValueError(
                    "this tagger reads a language model's features, and the batch has none: "
                    "call dataset.attach_context(model) before batching (rnnkit.tasks.tag)"
                )
            parts.append(batch.context.to(parts[0].dtype))
        return torch.cat(parts, dim=2)

    def spell(self, chars: Tensor, lengths: Tensor) -> Tensor:
        """Each distinct word's character BiLSTM features, (U, 2C): its final forward and backward
        states. The words go through in groups of similar length, so that a group of short words
        does not run as many steps as the longest word of the batch."""
        order = torch.argsort(lengths, stable=True)  # (U,), on the CPU
        groups = []
        for group in order.split(SPELL_GROUP):
            W = int(lengths[group].max())
            rows = group.to(chars.device)
            _, (h_n, _) = self.char_lstm(self.chars(chars[rows, :W]), lengths[group])  # (2, g, C)
            groups.append(torch.cat([h_n[0], h_n[1]], dim=1))  # (g, 2C)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(len(order))
        return torch.cat(groups)[inverse.to(chars.device)]  # back to the words' own order

    def emissions(self, batch: TagBatch) -> Tensor:
        """Per-word tag scores, (B, T, K)."""
        x = self.dropout(self.features(batch))
        hidden, _ = self.lstm(x, batch.lengths)  # (B, T, 2H), zero at padding
        return self.emit(self.dropout(hidden))

    def loss(self, batch: TagBatch) -> tuple[Tensor, Tensor]:
        """Summed negative log-likelihood over the batch's sentences (CRF) or words (softmax), and
        the emissions it was computed from."""
        scores = self.emissions(batch)
        if self.crf is not None:
            return -self.crf(scores, batch.tags, batch.lengths).sum(), scores
        per_word = F.cross_entropy(scores.flatten(0, 1), batch.tags.flatten(), reduction="none")  # (B*T,)
        return per_word.index_select(0, batch.positions).sum(), scores

    def decode(self, batch: TagBatch, scores: Tensor | None = None) -> list[list[int]]:
        """The best tag ids of each sentence, its true length each."""
        return best_paths(self.crf, self.emissions(batch) if scores is None else scores, batch.lengths)


class TaggerEnsemble(nn.Module):
    """Several trained :class:`SequenceTagger` s of one vocabulary and tag set, tagging as one.

    The emissions are the mean of the members' and so are the CRF's transition scores; Viterbi on
    them finds the tag path of the highest *mean log-probability* over the members (a member's
    log-partition is the same for every path of a sentence, so it drops out of the argmax): the
    geometric mean of the members' distributions, exactly. With softmax members, the mean of their
    scores per word. The members read the same batch; its language model features, if any, come
    from the first member's model (the members were trained on the same frozen one)."""

    def __init__(self, members: list[SequenceTagger]) -> None:
        super().__init__()
        first = members[0].config
        for member in members[1:]:
            if member.config.tags != first.tags or member.config.decoder != first.decoder:
                raise ConfigError("ensemble members must share their tags and decoder")
        self.members = nn.ModuleList(members)
        self.config = first
        self.context = members[0].context
        self.crf = None
        if members[0].crf is not None:
            self.crf = copy.deepcopy(members[0].crf)
            with torch.no_grad():
                for name, parameter in self.crf.named_parameters():
                    parameter.copy_(torch.stack([m.crf.get_parameter(name) for m in members]).mean(0))

    def emissions(self, batch: TagBatch) -> Tensor:
        """The members' mean emissions, (B, T, K)."""
        return torch.stack([member.emissions(batch) for member in self.members]).mean(0)

    def decode(self, batch: TagBatch, scores: Tensor | None = None) -> list[list[int]]:
        """The best tag ids of each sentence under the mean potentials, its true length each."""
        return best_paths(self.crf, self.emissions(batch) if scores is None else scores, batch.lengths)


def best_paths(crf: CRF | None, scores: Tensor, lengths: Tensor) -> list[list[int]]:
    """Viterbi under ``crf``, or (None) the best tag of each word; each sentence its true length."""
    if crf is not None:
        return crf.decode(scores, lengths)
    best = scores.argmax(dim=2).cpu()  # (B, T)
    return [best[b, :n].tolist() for b, n in enumerate(lengths.tolist())]
