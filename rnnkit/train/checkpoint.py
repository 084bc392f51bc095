"""Run directories: weights in safetensors, everything else in JSON; every write atomic.

A run directory holds ``config.json`` (what rebuilds the model), ``run.json`` (which task wrote it:
:mod:`rnnkit.train.rundir`), ``last.safetensors`` and
``best.safetensors`` (weights), ``train_state.pt`` (the checkpoint: weights, optimizer, schedule,
RNG states and history, for resuming; read with ``torch.load(weights_only=True)``, which cannot
execute code), the history as ``history.json`` and ``history.csv``, and whatever the task adds (a
tokenizer). Loading never runs code from a file, and a damaged file gives a :class:`CheckpointError`
with one clear line.

Each file is written whole or not at all (:func:`atomic_write`: a temporary file, fsync, rename,
fsync of the directory), with the permissions an ordinary ``open()`` would give it (0666 less the
umask: 0644 under the usual 022, so another user or a service account can read the run). A
checkpoint spans several files, so the trainer makes ``train_state.pt`` the one unit that resume
trusts: it holds everything resuming needs, and the other files are exports stamped with the
epoch they belong to (safetensors metadata), checked against it and rewritten from it on resume
(:class:`rnnkit.train.Trainer`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from ..errors import RnnkitError

CONFIG, LAST, BEST, STATE = "config.json", "last.safetensors", "best.safetensors", "train_state.pt"
PROCESSES = "processes.json"  # a run under torchrun: its processes and their seeds, per session
TEMP_PREFIX = ".partial-"  # temporary files of unfinished writes (a kill -9 can leave them)
T = TypeVar("T")


class CheckpointError(RnnkitError, RuntimeError):
    """A run directory or checkpoint that is missing or damaged."""


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    The data is flushed to disk before the rename, and the directory after it, so the new name
    survives a power cut too. On an error the temporary file is removed; a kill -9 can leave one
    behind, which :func:`remove_partial_files` clears."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.")
    try:
        # mkstemp makes it 0600 whatever the umask; a filesystem without modes (some network or FAT
        # mounts) may refuse the chmod, and then its mount options decide who reads the file anyway
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_directory(path.parent)


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux's
    /proc/self/status); elsewhere set and restored at once, under a lock against this module's
    other threads (os.umask is the only portable way to read it)."""
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii", errors="replace") as status,
    ):
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        umask = os.umask(0o077)
        os.umask(umask)
    return umask


def fsync_file(path: Path) -> None:
    """Make a file that other code wrote and closed (a tokenizer's JSON) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_partial_files(run_dir: Path) -> list[Path]:
    """Remove the temporary files that interrupted writes left in ``run_dir``; returns them."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    partial = sorted(run_dir.glob(f"{TEMP_PREFIX}*"))
    for path in partial:
        path.unlink(missing_ok=True)
    return partial


def clear_run(run_dir: Path, extra: tuple[str, ...] = ()) -> None:
    """Remove what a run directory holds (for ``--restart``), keeping anything else in it."""
    for name in (CONFIG, LAST, BEST, STATE, "history.json", "history.csv", "curves.png", PROCESSES, *extra):
        (Path(run_dir) / name).unlink(missing_ok=True)
    remove_partial_files(run_dir)


def cpu_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's tensors, detached, contiguous and on the CPU (a snapshot, never a view)."""
    return {name: t.detach().to("cpu", copy=True).contiguous() for name, t in model.state_dict().items()}


def save_weights(
    model: torch.nn.Module | dict[str, torch.Tensor], path: Path, metadata: dict[str, object] | None = None
) -> None:
    """A model's (or a state dict's) tensors as safetensors, with string ``metadata`` (the epoch)."""
    tensors = cpu_state_dict(model) if isinstance(model, torch.nn.Module) else model
    text = {key: str(value) for key, value in (metadata or {}).items()}
    atomic_write(path, save(tensors, metadata=text or None))


def weights_metadata(path: Path) -> dict[str, str] | None:
    """The metadata stored with a safetensors file, or None if the file is missing or unreadable."""
    try:
        with safe_open(str(path), framework="pt") as file:
            return dict(file.metadata() or {})
    except (SafetensorError, OSError, ValueError):
        return None


def load_weights(model: torch.nn.Module, path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f"no weights at {path}")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is damaged or not a safetensors file ({error})") from None
    try:
        model.load_state_dict(tensors)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{path} does not fit the model in {CONFIG}: {first}") from None


def save_json(obj: Any, path: Path) -> None:
    atomic_write(path, (json.dumps(obj, indent=2) + "\n").encode())


def load_json(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"no {path.name} in {path.parent} (is it a run directory?)")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is damaged ({error})") from None


def load_run_file(
    path: Path, load: Callable[[Path], T], damaged: tuple[type[Exception], ...] = (Exception,)
) -> T:
    """``load(path)`` for a file that a run directory keeps (a vocabulary, a tokenizer), with a
    :class:`CheckpointError` naming the file when it is missing or ``load`` raises one of ``damaged``."""
    if not path.is_file():
        raise CheckpointError(f"no {path.name} in {path.parent}")
    try:
        return load(path)
    except damaged as error:
        raise CheckpointError(f"{path} is damaged ({error})") from None


def save_state(state: dict, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(path, buffer.getvalue())


def load_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        raise CheckpointError(f"{path} is damaged ({type(error).__name__}: {error})") from None


def save_history(history: list[dict[str, float]], run_dir: Path) -> None:
    save_json(history, run_dir / "history.json")
    if history:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
        atomic_write(run_dir / "history.csv", text.getvalue().encode())
