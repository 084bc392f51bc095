"""Character-level language model (one-to-many at generation time), as in the lecture and char-rnn.

    x_t (a character id) -> one-hot or embedding (E) -> L recurrent layers (H) -> dropout
    -> W_yh h_t + b_y (V logits) ;  p(x_{t+1} | x_1..x_t) = softmax(logits)

Trained with teacher forcing on the next character; at generation time each sampled character is
fed back as the next input. The recurrent state goes in and out explicitly: ``logits, state =
model(x, state)``, so a caller can carry it across chunks (truncated BPTT) or across sampling steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ..config import check_at_least_one, check_at_least_zero, check_choice, check_fraction
from ..nn import GRU, LSTM, RNN

_LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
State = Tensor | tuple[Tensor, Tensor]


@dataclass
class CharLMConfig:
    vocab_size: int = 65
    embed_dim: int = 64  # 0: one-hot inputs (the lecture's), E = vocab_size
    cell: str = "lstm"  # "rnn" | "lstm" | "gru"
    hidden_size: int = 512
    num_layers: int = 1
    dropout: float = 0.0  # between recurrent layers and before the output layer

    def __post_init__(self) -> None:
        check_choice(self, "cell", _LAYERS)
        check_at_least_one(self, "vocab_size", "hidden_size", "num_layers")
        check_at_least_zero(self, "embed_dim", "0 for one-hot inputs")
        check_fraction(self, "dropout")


class CharLM(nn.Module):
    def __init__(self, config: CharLMConfig) -> None:
        super().__init__()
        self.config = config
        V, E = config.vocab_size, config.embed_dim
        self.embedding = nn.Embedding(V, E) if E else None
        # config.dropout acts between stacked layers and before the output layer (self.dropout)
        between = config.dropout if config.num_layers > 1 else 0.0
        self.rnn = _LAYERS[config.cell](
            E or V, config.hidden_size, num_layers=config.num_layers, dropout=between
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, V)  # W_yh, b_y

    def inputs(self, x: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, E) embeddings, or (B, T, V) one-hot vectors."""
        if self.embedding is None:
            return F.one_hot(x, self.config.vocab_size).to(self.head.weight.dtype)
        return self.embedding(x)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """``x`` (B, T) ids; returns logits (B, T, V) and the state after the last step."""
        h, state = self.rnn(self.inputs(x), state=state)  # h: (B, T, H)
        return self.head(self.dropout(h)), state

    def step(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One character per row: ``x_t`` (B,) ids -> logits (B, V) and the new state (generation)."""
        h_t, state = self.rnn.step(self.inputs(x_t), state)  # (B, H)
        return self.head(self.dropout(h_t)), state


def detach(state: State | None) -> State | None:
    """The state as a constant: the next chunk starts from its value but does not backpropagate into it."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()
