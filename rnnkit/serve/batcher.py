"""Micro-batching: requests that arrive close together run through the model as one batch.

A model answers 32 reviews in one call much faster than in 32 calls (one pass over the weights,
the time loop shared, rows sorted by length), and the exact masking of rnnkit's layers makes the
answer of a request the same whether it runs alone or beside others. :class:`MicroBatcher` keeps
a queue per model: the first request waits up to ``max_wait_ms`` for company, at most ``max_batch``
requests are taken, and the batch function runs in the server's torch thread, so the event
loop goes on accepting requests (and answering ``/health``) while the model computes.

One thread runs every torch call of the server, loading included (:func:`torch_thread`): calls
into a model never overlap (PyTorch modules are not meant to be run from two threads at once, and
two overlapping batches would only share the same cores), and torch's OpenMP thread team stays
one. A second thread that runs torch operations gets a team of its own, and on a small CPU the two
teams' threads get in each other's way: on this project's 2-core machine a one-review call of the
seed model took 28 ms in a worker thread of a process whose main thread had run torch before, and
3 ms with every torch call in one thread (docs/serve.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

Q = TypeVar("Q")  # a request
A = TypeVar("A")  # its answer
log = logging.getLogger(__name__)


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
    ``executor`` (the server's torch thread). An exception raised by ``run``, or a wrong number of
    answers (a ``RuntimeError`` that says so), is given to every request of that batch, and the
    worker goes on with the next batch. ``max_batch=1`` turns batching off (one request per call),
    the baseline of the load benchmark.
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
        """The worker: gathers a batch, runs it, answers its requests; for ever (until :meth:`close`).
        Whatever goes wrong with one batch fails that batch's requests only: the worker goes on,
        and the requests queued behind the batch are served."""
        while True:
            live = await self._gather()
            if not live:
                continue
            try:
                await self._answer(live)
            except asyncio.CancelledError:  # close(): the batch under way is given up
                for _, future in live:
                    future.cancel()
                raise
            except BaseException as error:  # one bad batch must not stop the server's batching
                if not isinstance(error, Exception):  # e.g. SystemExit raised by a model's code
                    error = RuntimeError(f"the batch function raised {type(error).__name__}: {error}")
                log.error("a batch of %d request(s) failed", len(live), exc_info=error)
                for _, future in live:
                    if not future.done():
                        future.set_exception(error)

    async def _gather(self) -> list[tuple[Q, asyncio.Future[A]]]:
        """The next batch: the first request, and those arriving within ``max_wait`` of it (at most
        ``max_batch``), less any whose client has gone."""
        assert self._queue is not None
        loop = asyncio.get_running_loop()
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
        return [(request, future) for request, future in batch if not future.cancelled()]

    async def _answer(self, live: list[tuple[Q, asyncio.Future[A]]]) -> None:
        """Run one batch in the torch thread and give each request its answer; an exception raised
        by ``run``, or a wrong number of answers, is raised here (for :meth:`_serve` to give it to
        every request of the batch)."""
        started = time.perf_counter()
        try:
            answers = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.run, [r for r, _ in live]
            )
        finally:
            self.stats.add(len(live), time.perf_counter() - started)
        answers = list(answers)
        if len(answers) != len(live):  # checked before any request is answered
            name = getattr(self.run, "__qualname__", repr(self.run))
            raise RuntimeError(
                f"the batch function {name} returned {_count(len(answers), 'answer')} for a batch of "
                f"{_count(len(live), 'request')}; it must return one answer per request, in the "
                "requests' order"
            )
        for (_, future), answer in zip(live, answers):
            if not future.done():
                future.set_result(answer)

    async def close(self) -> None:
        """Stop the worker; the requests it had not answered yet are cancelled."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        while self._queue is not None and not self._queue.empty():
            _, future = self._queue.get_nowait()
            future.cancel()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class StepCosts:
    """What a recurrent model's padded batch costs on this machine: ``call`` seconds per call plus
    ``step[B - 1]`` seconds per time step of a batch of ``B`` rows (for
    :func:`~rnnkit.data.batching.planned_batches`)."""

    call: float
    step: tuple[float, ...]

    @classmethod
    def measure(cls, forward: Callable[[int, int], Any], max_batch: int, repeats: int = 3) -> StepCosts:
        """Time ``forward(rows, steps)`` (the model on a made-up padded batch) at powers of two up
        to ``max_batch`` rows and two lengths; the best of ``repeats`` runs of each. A step over
        more rows never counts as cheaper than over fewer (the noise of a busy machine would
        otherwise pick odd cuts); sizes between the powers of two are interpolated."""
        short, long = 8, 72

        def seconds(rows: int, steps: int) -> float:
            forward(rows, steps)  # warm: the allocator's first blocks, oneDNN's primitive cache
            times = []
            for _ in range(repeats):
                began = time.perf_counter()
                forward(rows, steps)
                times.append(time.perf_counter() - began)
            return min(times)

        sizes = sorted({1, max_batch} | {2**k for k in range(1, max_batch.bit_length()) if 2**k < max_batch})
        calls, steps = [], []
        for rows in sizes:
            at_short, at_long = seconds(rows, short), seconds(rows, long)
            per_step = max((at_long - at_short) / (long - short), 1e-9)
            calls.append(max(at_short - short * per_step, 0.0))
            steps.append(per_step)
        steps = list(itertools.accumulate(steps, max))
        table = tuple(float(v) for v in np.interp(np.arange(1, max_batch + 1), sizes, steps))
        return cls(call=float(np.median(calls)), step=table)


_TORCH_THREAD: ThreadPoolExecutor | None = None


def torch_thread() -> ThreadPoolExecutor:
    """The process's one thread for torch calls of served models (made on first use, never shut
    down: it idles at no cost, and apps made one after another, as in tests, share it)."""
    global _TORCH_THREAD
    if _TORCH_THREAD is None:
        _TORCH_THREAD = ThreadPoolExecutor(1, thread_name_prefix="rnnkit-torch")
    return _TORCH_THREAD


async def in_thread(executor: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in the server's torch thread, awaited without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
