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

:func:`inference_threads` decides torch's intra-op threads for an inference job from its work and
the machine's load. A recurrent layer runs T small matrix products one after another, one per time
step, over the B rows of a batch, and the threads meet at the end of every step. With few rows a
step is too little work to split; on a machine whose cores are busy with other work a thread waits
for its turn on a core at every step (issue 30: one review, 2 ms with one thread, 6 s of CPU with
two). So: one thread for small batches, and for large ones only the cores that are idle. The
figures behind the rule are in docs/threads.md (``python benchmarks/predict_threads.py``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import platform
import statistics
import time
import warnings

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
THRESHOLD = 1 << 30  # 1 GiB
_FALLBACK = 32 << 20  # the most that glibc releases before 2.26 accept for the mmap threshold

_tuned: bool | None = None  # None: not tried yet

# The rows a time step must run side by side before a second thread is worth having (see
# inference_threads; measured in benchmarks/predict_threads.py, docs/threads.md).
PARALLEL_ROWS = 32
LOADAVG = "/proc/loadavg"  # Linux: the load averages, then "running/all" tasks
TASKS = "/proc/self/task"  # Linux: this process's threads
# Variables that set torch's default thread count: one set is the user's choice.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


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


def inference_threads(
    rows: int,
    requested: int | None = None,
    *,
    spare: int = 0,
    available: int | None = None,
    busy: float | None = None,
    cores: int | None = None,
) -> int:
    """The torch intra-op threads for an inference job whose time steps run ``rows`` sequences
    side by side (the batch its inference loop runs: the inputs, at most the loop's batch size;
    times the beam for a beam search).

    The first of these that applies:

    1. ``requested`` (a ``--threads N`` option), as given;
    2. ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` set in the environment: the user chose torch's
       thread count, so ``available`` is kept as it is;
    3. ``rows < PARALLEL_ROWS``: 1 thread. A step is too little work to split: a second thread
       costs more than it saves even on an idle machine;
    4. otherwise the cores that nothing else keeps busy (the machine's cores less ``busy``, rounded),
       at most ``available`` less ``spare`` cores kept for other work (the server's event loop),
       at least 1. On a machine whose cores are all busy, threads that meet at every time step
       wait for each other's turn on a core, and a large batch runs slower on two threads than
       on one, at times many times slower (docs/threads.md)

    ``available``: the threads torch has now (default ``torch.get_num_threads()``: one per core
    unless the user set it). ``busy``: cores used by other work (default :func:`busy_cores`) out
    of the machine's ``cores`` (default ``os.cpu_count()``).
    Apart from an explicit ``requested`` the answer is never above ``available``, and the library
    never applies it on its own: the ``rnnkit`` commands do, in a process of their own, and a
    program that calls ``torch.set_num_threads`` keeps its choice."""
    if requested is not None:
        if requested < 1:
            raise ValueError(
                f"requested threads must be >= 1, got {requested}; leave it None to let the work decide"
            )
        return requested
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if available is None:
        import torch

        available = torch.get_num_threads()
    if any(os.environ.get(name, "").strip() for name in THREAD_VARIABLES):
        return available
    if rows < PARALLEL_ROWS:
        return 1
    cores = cores or os.cpu_count() or 1
    idle = int(cores - (busy_cores() if busy is None else busy) + 0.5)
    return max(1, min(available - spare, idle))


def busy_cores(samples: int = 5) -> float:
    """About how many cores other work keeps busy now: the larger of the 1-minute load average
    and the tasks running at this instant outside this process (Linux's ``/proc/loadavg`` less
    this process's running threads, the median of ``samples`` reads 1 ms apart: torch's own
    threads may still be spinning after its last parallel work). The load average misses work
    started seconds ago, and the instant misses work that pauses; the larger of the two errs
    towards fewer threads. Where neither is known (Windows), 0."""
    try:
        average = os.getloadavg()[0]
    except (AttributeError, OSError):
        average = 0.0
    running = []
    for sample in range(samples):
        try:
            with open(LOADAVG) as file:
                everywhere = int(file.read().split()[3].split("/")[0])  # "3/345": running/all tasks
        except (OSError, ValueError, IndexError):
            break
        running.append(max(0, everywhere - _running_here()))
        if sample + 1 < samples:
            time.sleep(0.001)
    return max(average, statistics.median(running) if running else 0.0)


def _running_here() -> int:
    """This process's threads that are running or ready to (state R), this one included; 1 where
    ``/proc/self/task`` cannot be read."""
    count = 0
    try:
        tasks = os.listdir(TASKS)
    except OSError:
        return 1
    for task in tasks:
        try:
            with open(f"{TASKS}/{task}/stat") as file:
                state = file.read().rpartition(")")[2].split()[0]  # after "pid (name)"
        except (OSError, IndexError):
            continue
        count += state == "R"
    return max(count, 1)
