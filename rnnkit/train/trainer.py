"""The training loop every rnnkit task shares.

A task supplies the model, batches, and a ``step`` that turns a batch into a mean loss and summed
metrics; the trainer does the rest: Adam(W), learning-rate schedule, gradient clipping, progress,
validation, history (JSON, CSV, PNG curves), a checkpoint each epoch keeping the best by validation,
resuming an interrupted run where its last epoch ended (same batch order, same RNG), early stopping,
and stopping with a clear message on a NaN or infinite loss (the last good checkpoint is kept).

With ``time_limit`` (minutes) the run is a wall-clock budget, as in nanoGPT-style comparisons: the
epoch in which the budget runs out ends early (then validates and saves), and the cosine schedule
decays over the budget instead of over the epochs.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ConfigError, RnnkitError
from . import checkpoint as ckpt

CHECKPOINT_FORMAT = 2  # train_state.pt holds the weights and every RNG (1: the weights were apart)


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 0.0
    schedule: str = "constant"  # "constant" | "cosine" (after linear warm-up)
    warmup: float = 0.0  # share of epochs * steps_per_epoch (the step cap, time_limit or not) warming up
    clip_norm: float | None = None
    patience: int | None = None  # early stopping: epochs without improvement of `monitor`
    monitor: str = "val_accuracy"  # "..loss" is minimised, anything else maximised
    seed: int = 0
    device: str = "auto"
    target: float | None = None  # stop once `monitor` reaches it (below it for a loss, above otherwise)
    time_limit: float | None = None  # minutes of training (validation included); the cosine follows it

    def __post_init__(self) -> None:
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.time_limit is not None and self.time_limit <= 0:
            raise ConfigError(f"time_limit must be > 0 minutes (or None), got {self.time_limit}")


PLOT_EVERY = 30.0  # seconds between redraws of curves.png during a run; it is always drawn at the end


class Batches(Protocol):
    def __call__(self, epoch: int) -> Iterable[Any]: ...


StepFn = Callable[[nn.Module, Any], tuple[Tensor, dict[str, float], int]]


class TrainingError(RnnkitError, RuntimeError):
    """Training cannot go on (a NaN loss, say); the message says why and what was kept."""


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no GPU; use --device cpu")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_states() -> dict[str, Any]:
    """Every random state that training may draw from: torch (CPU and each GPU), Python, NumPy.

    Stored as tensors and plain Python values, which ``torch.load(weights_only=True)`` reads."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` saved (the GPU states only where as many GPUs are present)."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available() and torch.cuda.device_count() == len(states["cuda"]):
        torch.cuda.set_rng_state_all(states["cuda"])
    random.setstate(states["python"])
    kind, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))


def evaluate(
    model: nn.Module, step: StepFn, batches: Iterable[Any], device: torch.device
) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``batches``, in eval mode, without gradients."""
    meter = Meter()
    model.eval()
    with torch.no_grad():
        for batch in batches:
            loss, metrics, count = step(model, batch.to(device))
            meter.update(loss.item(), metrics, count)
    return meter.means()


class Meter:
    """Running means: the loss weighted by batch size, and metric sums over counts."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def update(self, loss: float, metric_sums: dict[str, float], count: int) -> None:
        self.sums["loss"] = self.sums.get("loss", 0.0) + loss * count
        for name, value in metric_sums.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.count += count

    def means(self, prefix: str = "") -> dict[str, float]:
        return {prefix + name: value / max(self.count, 1) for name, value in self.sums.items()}


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        step: StepFn,
        config: TrainConfig,
        run_dir: str | Path,
        callbacks: Iterable[Any] = (),
    ) -> None:
        self.model = model
        self.step = step
        self.config = config
        self.run_dir = Path(run_dir)
        self.callbacks = list(callbacks)
        self.device = resolve_device(config.device)
        self.model.to(self.device)
        self.optimizer = (
            torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            if config.weight_decay
            else torch.optim.Adam(model.parameters(), lr=config.lr)
        )
        self.history: list[dict[str, float]] = []
        self.best: float | None = None
        self.epoch = 0  # epochs completed
        self.best_epoch: int | None = None
        self._best_weights: dict[str, Tensor] | None = None
        self.global_step = 0
        self.elapsed = 0.0  # seconds of training so far, over every session of this run
        self._last_plot = -math.inf

    # -- schedule ------------------------------------------------------------------------------

    def _lr_at(self, step: int, total: int, elapsed: float = 0.0) -> float:
        warm = int(self.config.warmup * total)
        if step < warm:
            return self.config.lr * (step + 1) / warm
        if self.config.schedule == "cosine":
            progress = (step - warm) / max(total - warm, 1)
            if self.config.time_limit is not None:
                progress = max(progress, elapsed / (60 * self.config.time_limit))
            return self.config.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        return self.config.lr

    def _out_of_time(self, elapsed: float) -> bool:
        return self.config.time_limit is not None and elapsed >= 60 * self.config.time_limit

    def _emit(self, event: str, *args: Any) -> None:
        for callback in self.callbacks:
            handler = getattr(callback, event, None)
            if handler is not None:
                handler(*args)

    def message(self, text: str) -> None:
        """A line for the user, through the callbacks (the progress bar prints it)."""
        self._emit("on_message", text)

    # -- state ---------------------------------------------------------------------------------

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.config.monitor.endswith("loss") else value > self.best

    def _reached(self, value: float, target: float) -> bool:
        return value < target if self.config.monitor.endswith("loss") else value >= target

    def _save(self, improved: bool) -> None:
        """Checkpoint the epoch just finished.

        The exports come first (``last``/``best`` weights stamped with their epoch, the history),
        then ``train_state.pt``, the unit that resume trusts: it alone holds everything resuming
        needs (weights, best weights, optimizer, every RNG, history). A crash between two writes
        leaves exports that are a step ahead of the state; :meth:`resume` notices (the stamps) and
        rewrites them from the state, then trains the lost epoch again with the same batches and
        random numbers, so the run ends bitwise as if it had never stopped (without a ``time_limit``:
        a wall-clock budget makes the schedule and the epoch's end depend on time anyway)."""
        weights = ckpt.cpu_state_dict(self.model)
        if improved:
            self.best_epoch, self._best_weights = self.epoch, weights
        stamp = {"epoch": self.epoch, "global_step": self.global_step}
        ckpt.save_weights(weights, self.run_dir / ckpt.LAST, stamp)
        if improved:
            ckpt.save_weights(weights, self.run_dir / ckpt.BEST, stamp)
        ckpt.save_history(self.history, self.run_dir)
        state = {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "elapsed": self.elapsed,
            "history": self.history,
            "model": weights,
            # the best weights when they are not this epoch's (else they are "model")
            "best_model": None if self.best_epoch == self.epoch else self._best_weights,
            "optimizer": self.optimizer.state_dict(),
            "rng": rng_states(),
            "train_config": asdict(self.config),
        }
        ckpt.save_state(state, self.run_dir / ckpt.STATE)
        if time.perf_counter() - self._last_plot >= PLOT_EVERY:
            self._plot()

    def _plot(self) -> None:
        """Redraw curves.png (about a second under load, so at most every PLOT_EVERY seconds)."""
        self._last_plot = time.perf_counter()
        if not self.history:
            return
        from .plots import plot_history

        with contextlib.suppress(ImportError):  # matplotlib is optional for training
            plot_history(self.history, self.run_dir / "curves.png", title=self.run_dir.name)

    def _epochs_since_best(self) -> int:
        values = [row[self.config.monitor] for row in self.history if self.config.monitor in row]
        if not values:
            return 0
        sign = -1.0 if self.config.monitor.endswith("loss") else 1.0
        best_index = max(range(len(values)), key=lambda i: sign * values[i])
        return len(values) - 1 - best_index

    def resume(self) -> bool:
        """Load the run's checkpoint if there is one; True if training continues from it.

        Files that an interrupted save left behind are removed, and weights or history files that
        do not belong to the checkpoint's epoch are rewritten from it (with a message)."""
        for path in ckpt.remove_partial_files(self.run_dir):
            self.message(f"removed {path.name}, left by an interrupted save")
        path = self.run_dir / ckpt.STATE
        if not path.is_file():
            return False
        state = ckpt.load_state(path)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ckpt.CheckpointError(
                f"{path} was written by an older rnnkit whose checkpoints cannot be verified after a "
                "crash; start the run over with --restart (or a new --out)"
            )
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as error:
            first = str(error).strip().splitlines()[0]
            raise ckpt.CheckpointError(f"{path} does not fit this model or optimizer: {first}") from None
        set_rng_states(state["rng"])
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self._best_weights = state["best_model"] if state["best_model"] is not None else state["model"]
        self.elapsed = float(state["elapsed"])
        self.history = list(state["history"])
        self._repair_exports(state["model"])
        return True

    def _repair_exports(self, weights: dict[str, Tensor]) -> None:
        """Make ``last``, ``best`` and the history those of the checkpoint being resumed."""
        for name, epoch, tensors in (
            (ckpt.LAST, self.epoch, weights),
            (ckpt.BEST, self.best_epoch, self._best_weights),
        ):
            if epoch is None:
                continue
            metadata = ckpt.weights_metadata(self.run_dir / name)
            found = None if metadata is None else metadata.get("epoch")
            if found != str(epoch):
                ckpt.save_weights(tensors, self.run_dir / name, {"epoch": epoch})
                was = "missing or unreadable" if found is None else f"from epoch {found}"
                self.message(f"{name} was {was}; rewrote it from the checkpoint of epoch {self.epoch}")
        ckpt.save_history(self.history, self.run_dir)

    # -- loops ---------------------------------------------------------------------------------

    def evaluate(self, batches: Iterable[Any]) -> dict[str, float]:
        return evaluate(self.model, self.step, batches, self.device)

    def fit(
        self,
        train_batches: Batches,
        steps_per_epoch: int,
        val_batches: Callable[[], Iterable[Any]] | None = None,
        validate: Callable[[nn.Module], dict[str, float]] | None = None,
    ) -> list[dict[str, float]]:
        """Train from ``self.epoch`` to ``config.epochs``; returns the history (one dict per epoch).

        Validation is the mean loss and metrics of ``step`` over ``val_batches()``, and/or what
        ``validate(model)`` returns (called in eval mode without gradients), for metrics that are
        not means over batches, such as an entity F1; either way they are logged as ``val_*``."""
        config = self.config
        total_steps = config.epochs * steps_per_epoch
        stale = self._epochs_since_best()
        while self.epoch < config.epochs and not self._out_of_time(self.elapsed):
            epoch = self.epoch + 1
            self._emit("on_epoch_begin", epoch, config.epochs, steps_per_epoch)
            start = time.perf_counter()
            meter = Meter()
            self.model.train()
            for index, batch in enumerate(train_batches(epoch)):
                elapsed = self.elapsed + time.perf_counter() - start
                if index and self._out_of_time(elapsed):  # every epoch takes at least one step
                    self._emit("on_message", f"time limit of {config.time_limit} min reached at step {index}")
                    break
                for group in self.optimizer.param_groups:
                    group["lr"] = self._lr_at(self.global_step, total_steps, elapsed)
                loss, metrics, count = self.step(self.model, batch.to(self.device))
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"the loss became {loss.item()} at epoch {epoch}, step {index + 1}; stopped. "
                        f"The last good checkpoint (epoch {self.epoch}) is kept in {self.run_dir}. "
                        "Try a lower learning rate or gradient clipping (--clip-norm 1.0)."
                    )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.clip_norm:
                    nn.utils.clip_grad_norm_(self.model.parameters(), config.clip_norm)
                self.optimizer.step()
                self.global_step += 1
                meter.update(loss.item(), metrics, count)
                self._emit("on_step", index + 1, meter.means())
            logs = meter.means()
            if val_batches is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(val_batches()).items()})
            if validate is not None:
                self.model.eval()
                with torch.no_grad():
                    logs.update({f"val_{k}": v for k, v in validate(self.model).items()})
            self.epoch = epoch
            row = {"epoch": epoch, **logs, "lr": self.optimizer.param_groups[0]["lr"]}
            row["seconds"] = time.perf_counter() - start
            self.elapsed += row["seconds"]
            row["elapsed"] = self.elapsed
            self.history.append(row)
            value = logs.get(config.monitor, logs["loss"])
            improved = self._improved(value)
            if improved:
                self.best = value
                stale = 0
            else:
                stale += 1
            self._save(improved)
            self._emit("on_epoch_end", epoch, logs)
            if config.target is not None and self._reached(value, config.target):
                self._emit("on_message", f"{config.monitor} reached the target {config.target}: stopping")
                break
            if config.patience is not None and stale >= config.patience:
                self._emit(
                    "on_message", f"early stopping: {config.monitor} has not improved for {stale} epochs"
                )
                break
        self._plot()
        return self.history
