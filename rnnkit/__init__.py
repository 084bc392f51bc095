"""rnnkit: recurrent neural networks from the lecture's equations, exact on padded batches and fast.

- :mod:`rnnkit.nn`: ``RNNCell``/``LSTMCell``/``GRUCell`` (one step, the equations) and the
  ``RNN``/``LSTM``/``GRU`` layers (time loop, stacking, bidirectional, exact masking, fused kernels).
- :mod:`rnnkit.scratch`: backpropagation through time by hand in NumPy.
- :func:`rnnkit.summary`: a Keras-style parameter table.
- :mod:`rnnkit.errors`: ``RnnkitError``, the errors a user can fix (``ConfigError`` and
  ``InputError`` are also ``ValueError``).
- :func:`rnnkit.tune_allocator`: keep large freed buffers mapped (glibc), which speeds up training
  on a CPU (docs/core.md); opt-in, as it changes the whole process.

The names that need torch are imported on first use (``rnnkit.LSTM`` imports :mod:`rnnkit.nn`), so
that ``import rnnkit.cli`` and ``rnnkit --help`` do not spend seconds importing torch.
"""

from __future__ import annotations

import importlib
import sys
import types

from .errors import ConfigError, InputError, RnnkitError
from .runtime import tune_allocator

__version__ = "0.1.0"

# name -> the submodule that defines it, imported when the name is first asked for
_LAZY = {
    **dict.fromkeys(("GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"), "nn"),
    **dict.fromkeys(("from_torch", "to_torch", "lengths_to_mask"), "nn"),
    **dict.fromkeys(("Summary", "summary"), "summary"),
}

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


def __getattr__(name: str):
    if name == "nn":  # imported eagerly before: `import rnnkit` then `rnnkit.nn.LSTM` keeps working
        return importlib.import_module(".nn", __name__)
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Package(types.ModuleType):
    """``rnnkit.summary`` is the function, as ``from .summary import summary`` made it when this
    package imported torch eagerly: importing the submodule ``rnnkit.summary`` (which Python then
    sets as an attribute of its package) keeps the function in its place."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "summary" and isinstance(value, types.ModuleType):
            value = value.summary
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
