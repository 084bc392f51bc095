"""Backpropagation through time from scratch: NumPy only, no autograd. See :mod:`.bptt`."""

from .bptt import (
    gradient_check,
    gru_backward,
    gru_forward,
    init_params,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
)
from .hello import VOCAB, HelloResult, train_hello

__all__ = [
    "VOCAB",
    "HelloResult",
    "gradient_check",
    "gru_backward",
    "gru_forward",
    "init_params",
    "lstm_backward",
    "lstm_forward",
    "rnn_backward",
    "rnn_forward",
    "train_hello",
]
