"""Cells, layers, masking and torch interop: the core that every rnnkit task builds on."""

from .cells import GRUCell, LSTMCell, RNNCell
from .interop import from_torch, to_torch
from .layers import GRU, LSTM, RNN
from .masking import Padding, lengths_to_mask

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "Padding",
    "RNNCell",
    "from_torch",
    "lengths_to_mask",
    "to_torch",
]
