"""Training on several processes with PyTorch's own engine: ``torchrun`` starts (and restarts) the
processes, :class:`~torch.nn.parallel.DistributedDataParallel` sums their gradients, gloo carries
them on a CPU and NCCL on GPUs (one process per GPU: ``LOCAL_RANK`` picks it).

A process is one of several when ``torchrun`` gave it ``WORLD_SIZE`` > 1; it then reads ``RANK``
and ``LOCAL_RANK`` too, and joins the process group (:func:`setup`) that the
:class:`~rnnkit.train.Trainer` uses. Alone (no ``WORLD_SIZE``, or 1), nothing here runs: no process
group, no DDP wrapper, the single-process trainer as it always was.

What the trainer does with a :class:`Group` (docs/distributed.md has the why):

- every process draws the same global batches in the same order and trains on its
  :class:`~rnnkit.data.batching.Shard` of each: rows dealt so that the processes hold about as many
  real tokens each, a zero-weight stand-in where a process has none;
- the loss is normalised by the *global* count (tokens or examples), all-reduced before the
  backward pass, so that the gradients DDP averages are those of the single process;
- validation sums are all-reduced; every process then takes rank 0's epoch row, so that all of
  them stop, and save, on the same numbers;
- rank 0 alone writes the run directory; every process resumes from its ``train_state.pt``.

Timeouts: a process that waits longer than ``RNNKIT_DIST_TIMEOUT`` seconds (default
:data:`DEFAULT_TIMEOUT`) for the others, in joining the group or in any collective, stops with a
:class:`DistributedError` instead of hanging.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.rendezvous import rendezvous

from ..data.batching import Shard, Share
from ..errors import ConfigError, RnnkitError

DEFAULT_TIMEOUT = 300.0  # seconds a process waits for the others (RNNKIT_DIST_TIMEOUT overrides)


class DistributedError(RnnkitError, RuntimeError):
    """The processes of a run cannot work together: a rendezvous that cannot be reached, a port in
    use, a process that stopped answering, a task whose batches are not sharded."""


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank under torchrun (0 alone)."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Whether this process writes the run directory and reports: rank 0, or the only process."""
    return rank() == 0


def timeout() -> float:
    text = os.environ.get("RNNKIT_DIST_TIMEOUT", str(DEFAULT_TIMEOUT))
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise ConfigError(f"RNNKIT_DIST_TIMEOUT must be a number of seconds > 0, got {text!r}")
    return seconds


class _Step(nn.Module):
    """A task's step as a module, so that DDP's forward is the whole step: a step may call other
    methods of the model than ``forward`` (the tagger's ``loss``), which DDP would not see."""

    def __init__(self, model: nn.Module, step: Callable) -> None:
        super().__init__()
        self.model = model
        self.step = step

    def forward(self, batch: Any) -> tuple[Tensor, dict[str, float], int]:
        return self.step(self.model, batch)


@dataclass(frozen=True)
class Group:
    """The processes of one run: this one's rank among ``world``, and the collectives the trainer
    needs (on the CPU, through gloo, whatever the device)."""

    rank: int
    world: int
    local_rank: int

    @property
    def shard(self) -> Shard:
        return Shard(self.rank, self.world)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process, the ``LOCAL_RANK``-th of its machine; a CPU is shared."""
        if device.type != "cuda":
            return device
        device = torch.device("cuda", self.local_rank)
        torch.cuda.set_device(device)
        return device

    def wrap(self, model: nn.Module, step: Callable, device: torch.device) -> nn.Module:
        """``step`` on ``model`` under DDP: calling the result with a batch runs the step, and its
        backward pass averages the gradients over the processes. The models' buffers are
        constants of their config (the CRF's masks), so they are not re-broadcast every step. A step
        whose ``unused_parameters`` is true may leave some weights without a gradient in one
        process and not another (an adaptive softmax's clusters, used only by the targets that fall
        in them): DDP then looks for them after every forward (``find_unused_parameters``)."""
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(
            _Step(model, step),
            device_ids=ids,
            forward_sync_buffers=False,
            find_unused_parameters=bool(getattr(step, "unused_parameters", False)),
        )

    def all_sum(self, values: list[float]) -> list[float]:
        """The sums over the processes of each of ``values`` (float64, the same on every process)."""
        tensor = torch.tensor(values, dtype=torch.float64)
        self._call(dist.all_reduce, tensor)
        return tensor.tolist()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj``, on every process."""
        box = [obj]
        self._call(dist.broadcast_object_list, box, src=0)
        return box[0]

    def broadcast_float(self, value: float) -> float:
        tensor = torch.tensor([value], dtype=torch.float64)
        self._call(dist.broadcast, tensor, src=0)
        return float(tensor.item())

    def all_gather(self, obj: Any) -> list[Any]:
        """Every process's ``obj``, in rank order, on every process."""
        out: list[Any] = [None] * self.world
        self._call(dist.all_gather_object, out, obj)
        return out

    def barrier(self) -> None:
        self._call(dist.barrier)

    def unwrap(self, item: Any) -> Share:
        if not isinstance(item, Share):
            raise DistributedError(
                f"under torchrun the trainer needs each process's share of each global batch, got a "
                f"{type(item).__name__}; this task's batches are not sharded (pass shard=trainer.shard "
                "to its dataset's batches()), so it trains in one process only"
            )
        return item

    def _call(self, collective: Callable, *args: Any, **kwargs: Any) -> None:
        try:
            collective(*args, **kwargs)
        except RuntimeError as error:  # torch's DistError is one
            raise DistributedError(
                f"process {self.rank} of {self.world}: exchanging with the other processes failed "
                f"({_first_line(error)}); one has probably stopped (its error is above) or has not "
                f"answered for {timeout():.0f} s (RNNKIT_DIST_TIMEOUT)"
            ) from None


def setup() -> Group | None:
    """Join the process group of torchrun's processes (once per process), or None when this
    process is alone. gloo carries CPU tensors; with a GPU, NCCL carries CUDA tensors."""
    world = world_size()
    if world <= 1:
        return None
    group = Group(rank(), world, int(os.environ.get("LOCAL_RANK", "0")))
    if dist.is_initialized():
        return group
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    wait = datetime.timedelta(seconds=timeout())
    start = time.perf_counter()
    try:
        store, _, _ = next(rendezvous("env://", group.rank, world, timeout=wait))
        # torchrun's agent keeps one store across restarts: without a prefix of its own, a restarted
        # group would read the addresses its dead processes published there, and fail to connect
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        store = dist.PrefixStore(f"rnnkit/attempt_{attempt}", store)
        dist.init_process_group(backend, store=store, rank=group.rank, world_size=world, timeout=wait)
    except (RuntimeError, ValueError) as error:
        where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
        text = _first_line(error)
        if "address already in use" in text.lower():
            hint = f"the port of {where} is taken on rank 0's machine; choose another (MASTER_PORT)"
        else:
            hint = f"check that rank 0 runs and that {where} is reachable from this machine"
        raise DistributedError(
            f"process {group.rank} of {world} could not join the others at {where}, gave up after "
            f"{time.perf_counter() - start:.0f} s ({text}); {hint}"
        ) from None
    return group


def barrier() -> None:
    """Wait for every process of the run (nothing when alone)."""
    group = setup()
    if group is not None:
        group.barrier()


def teardown() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def launch_local(module_args: list[str], nproc: int, threads: int) -> int:
    """Run ``python -m rnnkit MODULE_ARGS`` as ``nproc`` processes on this machine under torchrun
    (its agent runs in this process: the code of the ``torchrun`` command), with ``threads`` torch
    threads each; returns the exit status (0, or the first failed process's)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous import RendezvousError
    from torch.distributed.run import parse_args, run

    os.environ["OMP_NUM_THREADS"] = str(threads)
    args = parse_args(["--standalone", f"--nproc-per-node={nproc}", "-m", "rnnkit", *module_args])
    try:
        run(args)
    except RendezvousError as error:
        raise DistributedError(f"torchrun could not start the processes: {_first_line(error)}") from None
    except SignalException as error:  # Ctrl-C: the processes have stopped (rank 0 said what was kept)
        return 128 + int(error.sigval)
    except ChildFailedError as error:
        first = min(error.failures)  # the lowest rank that failed
        code = error.failures[first].exitcode
        print(
            f"error: process {first} of {nproc} stopped with exit status {code}; its error is above",
            file=sys.stderr,
        )
        return code if code > 0 else 1
    return 0


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


__all__ = [
    "DEFAULT_TIMEOUT",
    "DistributedError",
    "Group",
    "barrier",
    "is_main",
    "launch_local",
    "rank",
    "setup",
    "teardown",
    "world_size",
]
