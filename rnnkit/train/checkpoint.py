"""Run directories: weights in safetensors, everything else in JSON; every write atomic.

A run directory holds ``config.json`` (what rebuilds the model), ``last.safetensors`` and
``best.safetensors`` (weights), ``train_state.pt`` (optimizer, schedule, RNG and history, for
resuming; read with ``torch.load(weights_only=True)``, which cannot execute code), the history as
``history.json`` and ``history.csv``, and whatever the task adds (a tokenizer). Loading never runs
code from a file, and a damaged file gives a :class:`CheckpointError` with one clear line.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

CONFIG, LAST, BEST, STATE = "config.json", "last.safetensors", "best.safetensors", "train_state.pt"


class CheckpointError(RuntimeError):
    """A run directory or checkpoint that is missing or damaged."""


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


def clear_run(run_dir: Path, extra: tuple[str, ...] = ()) -> None:
    """Remove what a run directory holds (for ``--restart``), keeping anything else in it."""
    for name in (CONFIG, LAST, BEST, STATE, "history.json", "history.csv", "curves.png", *extra):
        (Path(run_dir) / name).unlink(missing_ok=True)


def save_weights(model: torch.nn.Module, path: Path) -> None:
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    atomic_write(path, save(tensors))


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
