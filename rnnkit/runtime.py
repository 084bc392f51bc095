"""Settings that make torch fast on a CPU: the memory allocator, and bfloat16 for inference.

A recurrent layer's training step allocates and frees the same large buffers every step: the
kernel's workspace (every gate at every time step), its gradients, the padded activations, megabytes
to tens of megabytes each. glibc's defaults give such memory back to the system as soon as it is
freed (large requests are ``mmap``-ed and ``munmap``-ed; the heap is trimmed once 128 KB at its top
are free), so every step the kernel hands out fresh zeroed pages again, one page fault per 4 KB. On
a CPU those faults are a large share of the lecture's BiLSTM training step; the counts before and
after, and the throughput gained, are in docs/core.md (``python benchmarks/allocator.py``).

:func:`tune_allocator` raises glibc's mmap threshold and trim threshold to 1 GiB with ``mallopt``,
so those buffers come from the heap and stay mapped for the next step: what jemalloc or tcmalloc
(``LD_PRELOAD``) do for PyTorch, without a preload. The price: up to 1 GiB of freed memory stays
with the process instead of going back to the system (the peak is unchanged). The ``rnnkit`` command
calls it; the library never does on its own, since it changes the whole process: a program that
trains or predicts with rnnkit calls ``rnnkit.tune_allocator()`` once to opt in. Elsewhere than
glibc (macOS, Windows, musl) it does nothing. ``RNNKIT_TUNE_ALLOCATOR=0`` in the environment turns
it off.

:func:`bf16_autocast` is the other speed knob, per call rather than per process: it runs the
matrix products of a forward pass (the recurrent layers' included) in bfloat16 under
``torch.autocast``, fast where the CPU has native bfloat16 (AVX512-BF16 or AMX) or on a GPU. Weights
stay float32, so one trained run serves either way; the cost in accuracy is a task's to measure
(docs/tag.md for tagging).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import platform
import warnings

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
THRESHOLD = 1 << 30  # 1 GiB
_FALLBACK = 32 << 20  # the most that glibc releases before 2.26 accept for the mmap threshold

_tuned: bool | None = None  # None: not tried yet


def tune_allocator() -> bool:
    """Keep large freed buffers mapped (glibc only). Returns whether the allocator is tuned.

    Idempotent; the first call decides. Safe to call at any time: it changes how later allocations
    are served, nothing already allocated."""
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if os.environ.get("RNNKIT_TUNE_ALLOCATOR", "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mmap_ok = mallopt(_M_MMAP_THRESHOLD, THRESHOLD) == 1 or mallopt(_M_MMAP_THRESHOLD, _FALLBACK) == 1
    _tuned = mmap_ok and mallopt(_M_TRIM_THRESHOLD, THRESHOLD) == 1
    return _tuned


def allocator_tuned() -> bool:
    """Whether :func:`tune_allocator` has tuned this process's allocator."""
    return bool(_tuned)


def bf16_autocast(enabled: bool, device) -> contextlib.AbstractContextManager:
    """A context for a forward pass: bfloat16 autocast on ``device`` (a ``torch.device`` or its
    name) when ``enabled``, else nothing. On a CPU without native bfloat16 it still runs (emulated,
    slower than float32) and warns."""
    import torch

    if not enabled:
        return contextlib.nullcontext()
    kind = torch.device(device).type
    if kind == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        warnings.warn(
            "this CPU has no native bfloat16 (AVX512-BF16 or AMX): bf16 runs slower than float32 here",
            stacklevel=2,
        )
    return torch.autocast(kind, dtype=torch.bfloat16)
