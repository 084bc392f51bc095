"""Micro-batching: requests that arrive close together run through the model as one batch.

A model answers 32 reviews in one call much faster than in 32 calls (one pass over the weights,
the time loop shared, rows sorted by length), and the exact masking of rnnkit's layers makes the
answer of a request the same whether it runs alone or beside others. :class:`MicroBatcher` keeps
a queue per model: the first request waits up to ``max_wait_ms`` for company, at most ``max_batch``
requests are taken, and the batch function runs in the model's own worker thread, so the event
loop goes on accepting requests (and answering ``/health``) while the model computes.

One worker thread per model: calls into one model never overlap (PyTorch modules are not meant to
be run from two threads at once, and two overlapping batches would only share the same cores).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Q = TypeVar("Q")  # a request
A = TypeVar("A")  # its answer


@dataclass
class BatchStats:
    """What the batcher did, for ``/health`` and the load benchmark."""

    batches: int = 0
    requests: int = 0
    largest: int = 0
    busy_seconds: float = 0.0
    sizes: list[int] = field(default_factory=list)  # the last 1,000 batch sizes

    def add(self, size: int, seconds: float) -> None:
        self.batches += 1
        self.requests += size
        self.largest = max(self.largest, size)
        self.busy_seconds += seconds
        self.sizes = [*self.sizes[-999:], size]

    def as_dict(self) -> dict[str, float]:
        return {
            "batches": self.batches,
            "requests": self.requests,
            "largest_batch": self.largest,
            "mean_batch": self.requests / self.batches if self.batches else 0.0,
            "busy_seconds": round(self.busy_seconds, 3),
        }


class MicroBatcher(Generic[Q, A]):
    """``await batcher.submit(request)``: the answer of ``run([..., request, ...])``.

    ``run`` takes a list of requests and returns one answer per request, in order; it is called in
    ``executor`` (the model's worker thread). An exception raised by ``run`` is given to every
    request of that batch. ``max_batch=1`` turns batching off (one request per call), the baseline
    of the load benchmark.
    """

    def __init__(
        self,
        run: Callable[[list[Q]], Sequence[A]],
        executor: ThreadPoolExecutor,
        max_batch: int = 64,
        max_wait_ms: float = 5.0,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.run, self.executor = run, executor
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self.stats = BatchStats()
        self._queue: asyncio.Queue[tuple[Q, asyncio.Future[A]]] | None = None
        self._worker: asyncio.Task | None = None

    async def submit(self, request: Q) -> A:
        if self._worker is None or self._worker.done():
            # made on first use, inside the running loop (the app's, or a test's)
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._serve())
        future: asyncio.Future[A] = asyncio.get_running_loop().create_future()
        assert self._queue is not None
        await self._queue.put((request, future))
        return await future

    async def _serve(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())  # already waiting: no need to sleep
                    continue
                except asyncio.QueueEmpty:
                    pass
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except asyncio.TimeoutError:
                    break
            live = [(request, future) for request, future in batch if not future.cancelled()]
            if not live:
                continue
            started = time.perf_counter()
            try:
                answers = await loop.run_in_executor(self.executor, self.run, [r for r, _ in live])
            except Exception as error:  # every request of the batch gets it
                for _, future in live:
                    if not future.done():
                        future.set_exception(error)
                continue
            finally:
                self.stats.add(len(live), time.perf_counter() - started)
            for (_, future), answer in zip(live, answers, strict=True):
                if not future.done():
                    future.set_result(answer)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None


async def in_thread(executor: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in the model's worker thread, awaited without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
