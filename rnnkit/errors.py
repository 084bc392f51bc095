"""The errors rnnkit raises for a user's mistake, as opposed to a bug.

The ``rnnkit`` command prints an :class:`RnnkitError` as one line (``error: ...``, exit 2) and
lets any other exception show its traceback, so a bug is never mistaken for bad input.
``rnnkit --debug`` shows the traceback of every error.

:class:`ConfigError` and :class:`InputError` are also ``ValueError``, so code that catches
``ValueError`` around rnnkit keeps working. A ``ValueError`` that is not one of them (a tensor of
the wrong shape passed to a layer, say) is a programming error in the caller or in rnnkit.
"""

from __future__ import annotations


class RnnkitError(Exception):
    """Base of the errors that a user can fix; the message says what was wrong and how to fix it."""


class ConfigError(RnnkitError, ValueError):
    """A setting that is not allowed: an unknown preset or config field, a value out of range, a
    command-line option, or a resume asked with other settings than the run was trained with."""


class InputError(RnnkitError, ValueError):
    """Input that cannot be used: a text to classify that is empty, characters a model has never
    seen, a CSV cell that is not a number."""


__all__ = ["ConfigError", "InputError", "RnnkitError"]
