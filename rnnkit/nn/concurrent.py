"""The two directions of a bidirectional layer at once, one thread each, in forward and backward.

The forward and the backward direction of a bidirectional layer share nothing but their input, yet
torch runs them one after the other on the calling thread, and autograd's CPU backward does the same.
A recurrent kernel uses a second core poorly (its steps are sequential, each step's products small),
so on a CPU giving each direction its own core(s) finishes the pair sooner: TensorFlow gets the same
overlap from its graph executor's inter-op threads.

:func:`run_pair` runs two functions of tensors concurrently on two worker threads, each with half of
torch's intra-op threads. With gradients, an autograd :class:`~torch.autograd.Function` records each
direction's graph in its own thread and, in backward, differentiates the two graphs concurrently too
(autograd runs a CPU backward on the thread that calls it). The numbers are the same as running the
two functions in turn; ``tests/test_concurrent.py`` checks outputs and every gradient.

Used by :func:`rnnkit.nn.recurrence.run_fused` on the CPU when torch has at least two threads and
it is turned on: ``RNNKIT_CONCURRENT_DIRECTIONS=1`` in the environment, or :func:`set_enabled`. It is
off by default. It gained 1.14x in prediction and nothing measurable in training while every large
buffer was a fresh ``mmap``; with the allocator tuned (:mod:`rnnkit.runtime`) running the directions
in turn is faster (211,716 against 143,059 real tokens/s for the lecture's training step): each
worker thread allocates from its own glibc arena, whose large buffers are still mapped and unmapped
every step (``python benchmarks/allocator.py`` measures all four combinations).
Double backward (``create_graph=True``) through a concurrent pair is not supported.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

Fn = Callable[..., tuple[Tensor, ...]]

_enabled = os.environ.get("RNNKIT_CONCURRENT_DIRECTIONS", "0") == "1"
_pool: ThreadPoolExecutor | None = None
_pool_threads = 0  # torch's thread count when the pool was made
_lock = threading.Lock()


def set_enabled(enabled: bool) -> None:
    """Turn concurrent directions on or off for the whole process."""
    global _enabled
    _enabled = bool(enabled)


def is_enabled() -> bool:
    return _enabled


def applies_to(x: Tensor) -> bool:
    """Whether a pair of directions over ``x`` runs concurrently: on a CPU with >= 2 torch threads,
    outside autocast (its state is per thread) and TorchScript."""
    return (
        _enabled
        and x.device.type == "cpu"
        and torch.get_num_threads() >= 2
        and not torch.is_autocast_enabled("cpu")
        and not torch.jit.is_scripting()
    )


def _init_worker(threads: int, started: threading.Barrier) -> None:
    torch.get_num_threads()  # torch sets a thread's count lazily on first use: do it now, then override
    torch.set_num_threads(threads)  # this thread's count (and, as a side effect, the global one)
    started.wait()


def _get_pool() -> ThreadPoolExecutor:
    """Two worker threads with half of torch's threads each, made once per thread count."""
    global _pool, _pool_threads
    with _lock:
        threads = torch.get_num_threads()
        if _pool is None or _pool_threads != threads:
            if _pool is not None:
                _pool.shutdown(wait=True)
            started = threading.Barrier(2)
            pool = ThreadPoolExecutor(
                2, "rnnkit-direction", initializer=_init_worker, initargs=(max(1, threads // 2), started)
            )
            for future in [pool.submit(int) for _ in range(2)]:  # the barrier makes both threads start
                future.result()
            torch.set_num_threads(threads)  # the workers' set_num_threads was global too: restore it
            _pool, _pool_threads = pool, threads
        return _pool


def _reset_after_fork() -> None:
    global _pool, _lock
    _pool, _lock = None, threading.Lock()  # threads do not survive fork (DataLoader workers)


os.register_at_fork(after_in_child=_reset_after_fork)


def _both(fn: Callable, first: tuple, second: tuple) -> tuple:
    """``fn(*first)`` and ``fn(*second)`` on the two workers; the first error is raised here."""
    pool = _get_pool()
    futures = [pool.submit(fn, *first), pool.submit(fn, *second)]
    return tuple(future.result() for future in futures)


def run_pair(fns: tuple[Fn, Fn], inputs: tuple[Sequence[Tensor], Sequence[Tensor]]):
    """``(fns[0](*inputs[0]), fns[1](*inputs[1]))``, computed concurrently, differentiable.

    Each function takes tensors and returns a tuple of as many tensors as the other. An input may
    appear in both lists (the layer's ``x``): its gradients from the two sides are summed.
    """
    grad = torch.is_grad_enabled() and any(t.requires_grad for ts in inputs for t in ts)
    if not grad:
        inference = torch.is_inference_mode_enabled()
        enabled = torch.is_grad_enabled()

        def call(fn: Fn, tensors: Sequence[Tensor]) -> tuple[Tensor, ...]:
            with torch.inference_mode(inference), torch.set_grad_enabled(enabled and not inference):
                return fn(*tensors)

        return _both(call, (fns[0], inputs[0]), (fns[1], inputs[1]))
    flat = _Pair.apply(fns, len(inputs[0]), *inputs[0], *inputs[1])
    half = len(flat) // 2
    return tuple(flat[:half]), tuple(flat[half:])


def _record(fn: Fn, tensors: Sequence[Tensor]) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """Run ``fn`` on fresh leaves of ``tensors`` with autograd recording: (leaves, outputs)."""
    with torch.enable_grad():
        leaves = tuple(t.detach().requires_grad_(t.requires_grad) for t in tensors)
        return leaves, tuple(fn(*leaves))


def _differentiate(graph: tuple, grads: Sequence[Tensor | None]) -> list[Tensor | None]:
    """The gradients of one recorded graph's inputs, given those of its outputs."""
    leaves, outputs = graph
    pairs = [(o, g) for o, g in zip(outputs, grads) if g is not None and o.requires_grad]
    wanted = [leaf for leaf in leaves if leaf.requires_grad]
    if not pairs or not wanted:
        return [None] * len(leaves)
    found = iter(
        torch.autograd.grad(
            [o for o, _ in pairs],
            wanted,
            [g for _, g in pairs],
            retain_graph=True,  # freed with the saved tensors, so a retained outer graph still works
            allow_unused=True,
        )
    )
    return [next(found) if leaf.requires_grad else None for leaf in leaves]


class _Pair(torch.autograd.Function):
    """Both functions' graphs recorded in forward, both differentiated in backward, concurrently."""

    @staticmethod
    def forward(ctx, fns: tuple[Fn, Fn], n_first: int, *flat: Tensor) -> tuple[Tensor, ...]:
        graphs = _both(_record, (fns[0], flat[:n_first]), (fns[1], flat[n_first:]))
        (leaves_f, outputs_f), (leaves_b, outputs_b) = graphs
        if len(outputs_f) != len(outputs_b):
            raise ValueError("run_pair: the two functions must return as many tensors each")
        # Saved, not kept on ctx: autograd frees them (and so both recorded graphs) after a backward
        # without retain_graph, and keeps them for another one with it.
        ctx.save_for_backward(*leaves_f, *outputs_f, *leaves_b, *outputs_b)
        ctx.sizes = (len(leaves_f), len(outputs_f), len(leaves_b))
        ctx.set_materialize_grads(False)  # an unused output (c_n, say) gets no zero tensor
        # Detached aliases: autograd must not take over the recorded outputs' own history.
        return tuple(o.detach() for o in (*outputs_f, *outputs_b))

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads: Tensor | None) -> tuple[Tensor | None, ...]:
        n_leaves_f, n_out, n_leaves_b = ctx.sizes
        saved = ctx.saved_tensors
        split = (n_leaves_f, n_leaves_f + n_out, n_leaves_f + n_out + n_leaves_b)
        graph_f = (saved[: split[0]], saved[split[0] : split[1]])
        graph_b = (saved[split[1] : split[2]], saved[split[2] :])
        first, second = _both(_differentiate, (graph_f, grads[:n_out]), (graph_b, grads[n_out:]))
        return (None, None, *first, *second)
