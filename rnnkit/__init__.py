"""rnnkit: recurrent neural networks from the lecture's equations, exact on padded batches and fast.

- :mod:`rnnkit.nn`: ``RNNCell``/``LSTMCell``/``GRUCell`` (one step, the equations) and the
  ``RNN``/``LSTM``/``GRU`` layers (time loop, stacking, bidirectional, exact masking, fused kernels).
- :mod:`rnnkit.scratch`: backpropagation through time by hand in NumPy.
- :func:`rnnkit.summary`: a Keras-style parameter table.
- :mod:`rnnkit.errors`: ``RnnkitError``, the errors a user can fix (``ConfigError`` and
  ``InputError`` are also ``ValueError``).
- :func:`rnnkit.tune_allocator`: keep large freed buffers mapped (glibc), which speeds up training
  on a CPU (docs/core.md); opt-in, as it changes the whole process.
"""

from .errors import ConfigError, InputError, RnnkitError
from .nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, from_torch, lengths_to_mask, to_torch
from .runtime import tune_allocator
from .summary import Summary, summary

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "ConfigError",
    "GRUCell",
    "InputError",
    "LSTMCell",
    "RNNCell",
    "RnnkitError",
    "Summary",
    "from_torch",
    "lengths_to_mask",
    "summary",
    "to_torch",
    "tune_allocator",
]
