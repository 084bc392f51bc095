"""Many-to-one sequence classifier: the lecture's sentiment model and its variants.

The lecture's model (the TensorFlow IMDB tutorial), with ``ClassifierConfig()`` defaults::

    Embedding(8185, 64) -> Bidirectional(LSTM(64)) -> Dense(64, relu) -> Dense(1)

and the stacked variant, ``ClassifierConfig(hidden_sizes=(64, 32), dropout=0.5)``::

    BiLSTM(64, return_sequences) -> BiLSTM(32) -> Dense(64, relu) -> Dropout(0.5) -> Dense(1)

The output is a logit per class (one for binary); padding is handled exactly by ``lengths``, so a
review gets the same logit alone or in a padded batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import check_at_least_one, check_at_least_zero, check_choice, check_fraction
from ..errors import ConfigError
from ..nn import GRU, LSTM, RNN
from ..nn.masking import lengths_to_mask

_LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
_POOLINGS = ("last", "max", "mean")


@dataclass
class ClassifierConfig:
    vocab_size: int = 8185
    embed_dim: int = 64
    cell: str = "lstm"  # "rnn" | "lstm" | "gru"
    hidden_sizes: tuple[int, ...] = (64,)  # one recurrent layer per entry
    bidirectional: bool = True
    dense_size: int = 64  # the Dense(64, relu) head; 0 for none
    dropout: float = 0.0  # before the output layer
    pooling: str = "last"  # "last": final states (Keras return_sequences=False); "max"; "mean"
    num_outputs: int = 1
    padding_idx: int = 0

    def __post_init__(self) -> None:
        check_choice(self, "cell", _LAYERS)
        check_choice(self, "pooling", _POOLINGS)
        self.hidden_sizes = tuple(self.hidden_sizes)
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ConfigError(
                f"hidden_sizes must name at least one recurrent layer, each >= 1, got {self.hidden_sizes}"
            )
        check_at_least_one(self, "vocab_size", "embed_dim", "num_outputs")
        check_at_least_zero(self, "dense_size", "0 for no dense layer")
        check_fraction(self, "dropout")


class SequenceClassifier(nn.Module):
    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        D = 2 if config.bidirectional else 1
        self.embedding = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=config.padding_idx)
        # Keras's initialisations throughout (the lecture's model was trained with them). Embedding:
        # uniform(-0.05, 0.05), not torch's N(0, 1): with Adam at 1e-4 (the lecture's recipe) the
        # small scale lets the embeddings move relative to their size and learn.
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        with torch.no_grad():
            self.embedding.weight[config.padding_idx].zero_()
        layer_class = _LAYERS[config.cell]
        sizes = [config.embed_dim] + [D * h for h in config.hidden_sizes]
        self.recurrent = nn.ModuleList(
            layer_class(sizes[i], h, bidirectional=config.bidirectional)
            for i, h in enumerate(config.hidden_sizes)
        )
        head: list[nn.Module] = []
        width = sizes[-1]
        if config.dense_size:
            head += [nn.Linear(width, config.dense_size), nn.ReLU()]
            width = config.dense_size
        if config.dropout:
            head.append(nn.Dropout(config.dropout))
        head.append(nn.Linear(width, config.num_outputs))
        self.head = nn.Sequential(*head)
        for module in self.head:
            if isinstance(module, nn.Linear):  # Keras's Dense: Glorot-uniform kernel, zero bias
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, tokens: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``tokens`` (B, T) int ids, right-padded; ``lengths`` (B,). Returns logits (B, C)."""
        x = self.embedding(tokens)  # (B, T, E)
        last = len(self.recurrent) - 1
        for i, layer in enumerate(self.recurrent):
            # pooling "last" reads only the top layer's final states: Keras's return_sequences=False
            sequences = i < last or self.config.pooling != "last"
            x, _ = layer(x, lengths, return_sequences=sequences)  # (B, T, D*H), or (B, D*H)
        return self.head(x if self.config.pooling == "last" else self.pool(x, lengths))

    def pool(self, x: Tensor, lengths: Tensor | None) -> Tensor:
        """Max or mean over each sequence's real steps: (B, T, F) -> (B, F)."""
        pooling = self.config.pooling
        if lengths is None:
            return x.amax(dim=1) if pooling == "max" else x.mean(dim=1)
        valid = lengths_to_mask(lengths.to(x.device), x.shape[1])[:, :, None]  # (B, T, 1)
        if pooling == "max":
            return x.masked_fill(~valid, float("-inf")).amax(dim=1)
        return x.sum(dim=1) / lengths.to(x.device, x.dtype)[:, None]
