"""Cells, layers, masking, the CRF and torch interop: the core that every rnnkit task builds on."""

from .cells import GRUCell, LSTMCell, RNNCell
from .crf import CRF, TransitionConstraints, bio_constraints, iobes_constraints, mask_to_lengths
from .interop import from_torch, to_torch
from .layers import GRU, LSTM, RNN
from .masking import Padding, lengths_to_mask

__all__ = [
    "CRF",
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "Padding",
    "RNNCell",
    "TransitionConstraints",
    "bio_constraints",
    "from_torch",
    "iobes_constraints",
    "lengths_to_mask",
    "mask_to_lengths",
    "to_torch",
]
