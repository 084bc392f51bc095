"""The models' forward passes written so that ``torch.export`` traces them with a free batch and length.

Shape glossary: B batch, T time (words or tokens, padded), W characters of a word (padded),
E input features, H hidden units, D directions, K tags.

rnnkit's layers cannot be traced as they are: ``_Recurrent.forward`` validates the lengths with
Python integers (``int(lengths.min())``) and skips the masking when a batch has no padding
(``bool((lengths < T).any())``), two data-dependent branches that ``torch.export`` refuses. What
runs inside is traceable, so :func:`recurrent` calls it directly: the masking machinery of
:mod:`rnnkit.nn.masking` (:class:`~rnnkit.nn.Padding` from the lengths, always) and the CPU's fused
path :func:`rnnkit.nn.recurrence.run_directions` (each direction through torch's kernel; the backward
one on each sequence reversed within its length; final states gathered at the true last step).
The exported graph therefore computes what rnnkit computes on a CPU, operation for operation:

- the input is zeroed at padded steps (``Padding.zero_padding``), as in ``_Recurrent.forward``;
- each direction is one ``aten.lstm`` / ``aten.gru`` call, which the exporter writes as one ONNX
  ``LSTM`` / ``GRU`` node over the whole padded batch, unidirectional (so the exporter never sees a
  bidirectional kernel whose reversal would ignore the padding);
- the reversal within length and the final states at the true lengths are ``GatherElements`` and
  ``Gather`` nodes over indices computed from ``lengths`` in the graph;
- a batch without padding goes through the same masking (with every length equal to T it is the
  identity), where rnnkit skips it: the same numbers.

A vanilla RNN layer has no ONNX translation in torch's exporter: it is unrolled over the example's
length, which freezes the time axis, so :func:`check_exportable` refuses it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..models import SequenceClassifier
from ..models.tagger import SequenceTagger, TagBatch
from ..nn import RNN, Padding
from ..nn.layers import _Recurrent
from ..nn.recurrence import run_directions

CLASSIFIER_INPUTS = ("tokens", "lengths")
CLASSIFIER_OUTPUTS = ("logits",)
TAGGER_INPUTS = ("words", "casings", "chars", "char_lengths", "lengths")
TAGGER_OUTPUTS = ("emissions",)


def check_exportable(layers: list[_Recurrent], where: str) -> None:
    """Refuse a vanilla RNN layer (see the module doc); ``where`` names the config field."""
    if any(isinstance(layer, RNN) for layer in layers):
        raise ConfigError(
            f"ONNX export supports LSTM and GRU layers, and this run's {where} is 'rnn': torch's "
            "exporter unrolls a vanilla RNN over the example's length, so the file would accept only "
            "that length; retrain with cell=lstm or cell=gru to export"
        )


def recurrent(layer: _Recurrent, x: Tensor, padding: Padding, sequences: bool = True) -> Tensor:
    """``layer(x, lengths, return_sequences=sequences)[0]`` without its Python-side checks and branches.

    ``x`` (B, T, E) batch-first. Returns the top layer's outputs (B, T, D*H), zero at padded steps,
    or with ``sequences=False`` its final hidden states at the true lengths, concatenated (B, D*H).
    """
    D, H = layer.num_directions, layer.hidden_size
    zeros = x.new_zeros(x.shape[0], H)  # (B, H): the zero initial state of every cell
    state = (zeros, zeros) if layer.is_lstm else (zeros,)
    x = padding.zero_padding(x)
    last: list[tuple[Tensor, ...]] = []
    for index in range(layer.num_layers):
        cells = list(layer.cells[index * D : (index + 1) * D])
        top = index == layer.num_layers - 1
        x, last = run_directions(cells, x, [state] * D, padding, sequences or not top)
    if not sequences:
        return torch.cat([final[0] for final in last], dim=1)  # (B, D*H)
    return padding.zero_padding(x)  # (B, T, D*H)


class ClassifierGraph(nn.Module):
    """:class:`~rnnkit.models.SequenceClassifier` for export: ``(tokens, lengths) -> logits``.

    ``tokens`` (B, T) int64 right-padded token ids, ``lengths`` (B,) int64 in [1, T]; ``logits``
    (B, C). The parameters are the model's own (no copy)."""

    def __init__(self, model: SequenceClassifier) -> None:
        super().__init__()
        check_exportable(list(model.recurrent), "model.cell")
        self.model = model

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        model = self.model
        pooling = model.config.pooling
        padding = Padding.from_lengths(lengths, tokens.shape[1])
        x = model.embedding(tokens)  # (B, T, E)
        top = len(model.recurrent) - 1
        for i, layer in enumerate(model.recurrent):
            # pooling "last" reads only the top layer's final states, as SequenceClassifier.forward
            x = recurrent(layer, x, padding, sequences=i < top or pooling != "last")
        return model.head(x if pooling == "last" else model.pool(x, lengths))

    def example(self) -> tuple[Tensor, Tensor]:
        """Inputs to trace with: sizes above 1 (torch.export specialises a dimension of size 1)."""
        tokens = torch.randint(1, self.model.config.vocab_size, (3, 7))
        return tokens, torch.tensor([7, 4, 2])


class TaggerEmissionsGraph(nn.Module):
    """:meth:`SequenceTagger.emissions` for export, ``(words, casings, chars, char_lengths, lengths)
    -> emissions``, with the characters laid out per word position instead of per distinct word.

    - ``words``, ``casings`` (B, T) int64: word and casing ids, as in :class:`TagBatch`;
    - ``chars`` (B, T, W) int64: the character ids of the word at (b, t), 0-padded;
    - ``char_lengths`` (B, T) int64: its number of characters (any value at padded words);
    - ``lengths`` (B,) int64: the sentence lengths; ``emissions`` (B, T, K).

    :meth:`SequenceTagger.spell` runs each *distinct* word of a batch once, in groups of similar
    length; here every position is spelled, in one padded call over B*T words: more arithmetic,
    the same numbers (exact masking; tests/test_onnx.py). :func:`grid_inputs` makes these inputs
    from a :class:`TagBatch`. The CRF is not part of the graph: Viterbi decoding stays in Python.
    """

    def __init__(self, model: SequenceTagger) -> None:
        super().__init__()
        self.model = model  # its recurrent layers are LSTMs: nothing to refuse

    def forward(
        self, words: Tensor, casings: Tensor, chars: Tensor, char_lengths: Tensor, lengths: Tensor
    ) -> Tensor:
        model = self.model
        B, T, W = chars.shape
        padding = Padding.from_lengths(lengths, T)
        parts = [model.words(words)]  # (B, T, word_dim)
        if model.config.char_hidden:
            spelling = Padding.from_lengths(char_lengths.reshape(B * T).clamp(min=1), W)
            letters = model.chars(chars.reshape(B * T, W))  # (B*T, W, char_dim)
            per_word = recurrent(model.char_lstm, letters, spelling, sequences=False)  # (B*T, 2C)
            parts.append(padding.zero_padding(per_word.reshape(B, T, -1)))  # (B, T, 2C)
        if model.config.casing_dim:
            parts.append(model.casings(casings))
        hidden = recurrent(model.lstm, torch.cat(parts, dim=2), padding)  # (B, T, 2H)
        return model.emit(hidden)  # (B, T, K)

    def example(self) -> tuple[Tensor, ...]:
        config = self.model.config
        B, T, W = 3, 7, 5
        lengths = torch.tensor([7, 4, 2])
        char_lengths = torch.randint(1, W + 1, (B, T))
        return (
            torch.randint(2, config.word_vocab, (B, T)),
            torch.randint(0, 8, (B, T)),
            torch.randint(1, max(config.char_vocab, 2), (B, T, W)),
            char_lengths,
            lengths,
        )


def grid_inputs(batch: TagBatch) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The inputs of :class:`TaggerEmissionsGraph` for a collated :class:`TagBatch`: each distinct
    word's characters (U, W) copied to every position where it occurs, (B, T, W)."""
    B, T = batch.words.shape
    W = batch.chars.shape[1]
    chars = batch.chars.new_zeros(B * T, W).index_copy(0, batch.positions, batch.chars[batch.spelling])
    char_lengths = torch.ones(B * T, dtype=torch.long)
    char_lengths[batch.positions.cpu()] = batch.char_lengths[batch.spelling.cpu()]
    return batch.words, batch.casings, chars.view(B, T, W), char_lengths.view(B, T), batch.lengths
