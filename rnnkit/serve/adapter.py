"""What every model a server holds shares: the request limits, and the base of the task adapters.

An adapter is loaded from a run directory by the task's own loading code (the CLI's: no second
copy of model construction) and answers a *batch* of requests in one call. Its class line names
the task (as ``run.json`` records it), its page (an HTML file in ``static/``) and its request and
answer schemas (pydantic: they make the OpenAPI page and the 422s)::

    class DnaModel(Adapter, task="dna", page="dna.html", request=DnaRequest, answer=DnaAnswer):
        def load(self, run_dir):
            ...

and the server calls ``describe()`` (what the page shows first), ``check(request)`` (before a
request waits for a batch) and ``answer(requests) -> answers`` (in the server's torch thread); the
language model, whose answer is a stream, has ``generate`` instead of ``answer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; over a limit, the request is refused (413, 422 or 429)."""

    max_chars: int = 20_000  # characters of one text
    max_body_bytes: int = 256 * 1024  # bytes of one request body
    max_generate: int = 2_000  # characters one generation may write
    max_beam: int = 10
    max_concurrent: int = 64  # API requests in flight over the whole server; more: 429
    max_batch: int = 64  # requests per model call (1: micro-batching off)
    max_wait_ms: float = 5.0  # how long the first request of a batch waits for company
    explain_spans: int = 256  # at most this many occluded spans per explanation


class Adapter:
    """A task's model in the server (see the module's docstring): ``Adapter(run_dir, limits)``
    keeps the ``limits`` and calls the subclass's ``load(run_dir)``."""

    task: ClassVar[str]
    page: ClassVar[str]
    Request: ClassVar[type[BaseModel]]
    Answer: ClassVar[type[BaseModel] | None]

    def __init_subclass__(
        cls, *, task: str, page: str, request: type[BaseModel], answer: type[BaseModel] | None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.task, cls.page, cls.Request, cls.Answer = task, page, request, answer

    def __init__(self, run_dir: Path, limits: Limits) -> None:
        self.limits = limits
        self.load(run_dir)

    def load(self, run_dir: Path) -> None:
        """Load the run's model with the task's own code (imported here: the task imports torch)."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What the page shows before any request: samples, sizes, names."""
        return {}

    def check(self, request: Any) -> None:
        """Refuse ``request`` before it waits for a batch: an ``InputError`` is a 422."""


__all__ = ["Adapter", "Limits"]
