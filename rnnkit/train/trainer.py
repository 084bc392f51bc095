"""The training loop every rnnkit task shares.

A task supplies the model, batches, and a ``step`` that turns a batch into a mean loss and summed
metrics; the trainer does the rest: Adam(W), learning-rate schedule, gradient clipping, progress,
validation, history (JSON, CSV, PNG curves), a checkpoint each epoch keeping the best by validation,
resuming an interrupted run where its last epoch ended (same batch order, same RNG), early stopping,
and stopping with a clear message on a NaN or infinite loss (the last good checkpoint is kept).

With ``time_limit`` (minutes) the run is a wall-clock budget, as in nanoGPT-style comparisons: the
epoch in which the budget runs out ends early (then validates and saves), and the cosine schedule
decays over the budget instead of over the epochs.

Under ``torchrun`` with several processes the same loop trains each process on its share of every
global batch, with gradients equal to the single process's (:mod:`rnnkit.train.distributed`,
docs/distributed.md). The contract that makes this possible: a step's loss is the *mean* over the
``count`` it returns (examples or tokens), so ``loss * count`` is the batch's summed loss.
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

from ..config import check_at_least_one
from ..errors import ConfigError, RnnkitError
from . import checkpoint as ckpt
from . import distributed

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
    # a metric the run reports ("..loss" is minimised, anything else maximised); one that names none is
    # refused once the names are known: at the first validation (the first step without one), or on resume
    monitor: str = "val_accuracy"
    seed: int = 0
    device: str = "auto"
    target: float | None = None  # stop once `monitor` reaches it (below it for a loss, above otherwise)
    time_limit: float | None = None  # minutes of training (validation included); the cosine follows it

    def __post_init__(self) -> None:
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        check_at_least_one(self, "epochs", "batch_size")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.time_limit is not None and self.time_limit <= 0:
            raise ConfigError(f"time_limit must be > 0 minutes (or None), got {self.time_limit}")


def cosine(
    epochs: int,
    batch_size: int,
    lr: float,
    *,
    warmup: float = 0.02,
    clip_norm: float | None = 1.0,
    monitor: str = "val_loss",
    **more: Any,
) -> TrainConfig:
    """The recipe most presets share, stated once: the learning rate ``lr`` after a linear warm-up
    over ``warmup`` of the steps, then cosine decay to 0; gradients clipped to norm ``clip_norm``;
    the best epoch chosen by ``monitor``. ``more``: any other :class:`TrainConfig` field
    (``time_limit``, ``patience``, ``weight_decay``, ...). A preset then says only what differs."""
    return TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        schedule="cosine",
        warmup=warmup,
        clip_norm=clip_norm,
        monitor=monitor,
        **more,
    )


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
        param_groups: list[dict[str, Any]] | None = None,
    ) -> None:
        """``param_groups``: the optimizer's groups (torch's ``{"params": [...]}`` dicts), each with
        an optional ``lr_scale`` that multiplies the scheduled learning rate (discriminative
        learning rates: pretrained layers slower than new ones); default, one group of all."""
        self.model = model
        self.step = step
        self.config = config
        self.run_dir = Path(run_dir)
        self.callbacks = list(callbacks)
        self.group = distributed.setup()  # None for a process alone: no DDP, nothing shared
        self.device = resolve_device(config.device)
        if self.group is not None:
            self.device = self.group.device(self.device)
        self.model.to(self.device)
        groups = param_groups if param_groups is not None else [{"params": list(model.parameters())}]
        self.optimizer = (
            torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
            if config.weight_decay
            else torch.optim.Adam(groups, lr=config.lr)
        )
        if self.group is not None:
            # each process draws its own dropout masks: seed + rank (recorded in processes.json)
            self._seeds: list[int] | None = [config.seed + rank for rank in range(self.group.world)]
            seed_everything(self._seeds[self.group.rank])
            self._ddp = self.group.wrap(model, step, self.device)
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

    @property
    def shard(self) -> distributed.Shard | None:
        """This process's share of each global batch under torchrun (None alone): a task passes
        it to its datasets' ``batches(..., shard=trainer.shard)``."""
        return None if self.group is None else self.group.shard

    @property
    def writes(self) -> bool:
        """Whether this process writes the run directory: rank 0, or the only process."""
        return self.group is None or self.group.is_main

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
        a wall-clock budget makes the schedule and the epoch's end depend on time anyway).

        Under torchrun rank 0 writes, with every process's random states."""
        rank_rngs = None if self.group is None else self.group.all_gather(rng_states())
        if not self.writes:
            if improved:
                self.best_epoch = self.epoch
            return
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
        if rank_rngs is not None:
            state["rank_rngs"] = rank_rngs  # rank r resumes with rank_rngs[r]
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
        do not belong to the checkpoint's epoch are rewritten from it (with a message). Under
        torchrun every process loads the checkpoint, and rank 0 alone repairs the files."""
        if self.writes:
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
        self._restore_rng(state)
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self._best_weights = state["best_model"] if state["best_model"] is not None else state["model"]
        self.elapsed = float(state["elapsed"])
        self.history = list(state["history"])
        if self.writes:
            self._repair_exports(state["model"])
        return True

    def _restore_rng(self, state: dict[str, Any]) -> None:
        """Each process's random states as saved; a checkpoint of another number of processes
        cannot give them (its rows were dealt otherwise anyway): those restart from a new seed."""
        if self.group is None:
            set_rng_states(state["rng"])
            return
        saved = state.get("rank_rngs")
        if saved is not None and len(saved) == self.group.world:
            set_rng_states(saved[self.group.rank])
            self._seeds = None  # each process goes on with its saved random states
            return
        processes = 1 if saved is None else len(saved)
        epoch = int(state["epoch"])
        self._seeds = [self.config.seed + rank + 1000 * epoch for rank in range(self.group.world)]
        seed_everything(self._seeds[self.group.rank])
        self.message(
            f"the checkpoint was written by {processes} process(es), this run has {self.group.world}: "
            f"each process's random numbers (dropout) restart from seed + rank + 1000 * epoch"
        )

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
        """Mean loss and metrics over ``batches``; under torchrun, over every process's shares."""
        if self.group is None:
            return evaluate(self.model, self.step, batches, self.device)
        meter = Meter()
        self.model.eval()
        with torch.no_grad():
            for item in batches:
                share = self.group.unwrap(item)
                if not share.empty:
                    loss, metrics, count = self.step(self.model, share.batch.to(self.device))
                    meter.update(loss.item(), metrics, count)
        total = Meter()
        for sums, count in self.group.all_gather((meter.sums, meter.count)):  # rank order: the same sums
            for name, value in sums.items():
                total.sums[name] = total.sums.get(name, 0.0) + value
            total.count += count
        return total.means()

    def _check_finite(self, loss: float, epoch: int, index: int) -> None:
        if not math.isfinite(loss):
            raise TrainingError(
                f"the loss became {loss} at epoch {epoch}, step {index + 1}; stopped. "
                f"The last good checkpoint (epoch {self.epoch}) is kept in {self.run_dir}. "
                "Try a lower learning rate or gradient clipping (--clip-norm 1.0)."
            )

    def _backward(self, batch: Any, epoch: int, index: int) -> tuple[float, dict[str, float], float]:
        """Forward and backward on one batch; the mean loss, metric sums and count to log."""
        if self.group is None:
            loss, metrics, count = self.step(self.model, batch.to(self.device))
            value = loss.item()
            self._check_finite(value, epoch, index)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            return value, metrics, count
        share = self.group.unwrap(batch)
        loss, metrics, count = self._ddp(share.batch.to(self.device))
        names = list(metrics)
        if share.empty:  # a stand-in counts for nothing
            weight, local = 0, [0.0] * (2 + len(names))
        else:
            weight, local = count, [count, loss.item() * count, *(metrics[n] for n in names)]
        total = self.group.all_sum(local)  # the global batch's count, summed loss and metric sums
        assert total[0] > 0, "a global batch has rows"
        self._check_finite(total[1] / total[0], epoch, index)
        self.optimizer.zero_grad(set_to_none=True)
        # DDP averages the processes' gradients (their sum / world); weighted so, that average is
        # sum_r (count_r / N) grad loss_r, the gradient of the global batch's mean loss
        (loss * (weight * self.group.world / total[0])).backward()
        return total[1] / total[0], dict(zip(names, total[2:])), total[0]

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
        if self.group is not None:
            starts = self.group.all_gather(self.epoch)
            if len(set(starts)) > 1:
                raise distributed.DistributedError(
                    f"the processes would start at different epochs ({', '.join(map(str, starts))} by "
                    "rank): each must read the same run directory to resume (on several machines, a "
                    "shared filesystem)"
                )
            if self.writes:
                self._record_processes()
        validates = val_batches is not None or validate is not None
        checked = bool(self.history)  # a resumed run: its history names what the run reports
        if checked:
            self._check_monitor(self.history[-1])
        while self.epoch < config.epochs and not self._out_of_time(self.elapsed):
            epoch = self.epoch + 1
            self._emit("on_epoch_begin", epoch, config.epochs, steps_per_epoch)
            start = time.perf_counter()
            meter = Meter()
            self.model.train()
            for index, batch in enumerate(train_batches(epoch)):
                elapsed = self.elapsed + time.perf_counter() - start
                if self.group is not None and config.time_limit is not None:
                    elapsed = self.group.broadcast_float(elapsed)  # rank 0's clock: all stop together
                if index and self._out_of_time(elapsed):  # every epoch takes at least one step
                    self._emit("on_message", f"time limit of {config.time_limit} min reached at step {index}")
                    break
                lr = self._lr_at(self.global_step, total_steps, elapsed)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                loss, metrics, count = self._backward(batch, epoch, index)
                if config.clip_norm:
                    nn.utils.clip_grad_norm_(self.model.parameters(), config.clip_norm)
                self.optimizer.step()
                self.global_step += 1
                meter.update(loss, metrics, count)
                if not (checked or validates):  # without validation the first step names every metric
                    checked = self._check_monitor(meter.sums)
                self._emit("on_step", index + 1, meter.means())
            if meter.count == 0:
                self._refuse_empty_epoch(epoch, steps_per_epoch)
            logs = meter.means()
            if val_batches is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(val_batches()).items()})
            if validate is not None:
                self.model.eval()
                with torch.no_grad():
                    logs.update({f"val_{k}": v for k, v in validate(self.model).items()})
            if not checked:  # before anything of the epoch is recorded: a fixed monitor starts anew
                checked = self._check_monitor(logs)
            self.epoch = epoch
            first = self.optimizer.param_groups[0]
            row = {"epoch": epoch, **logs, "lr": first["lr"] / first.get("lr_scale", 1.0)}  # the schedule's
            row["seconds"] = time.perf_counter() - start
            if self.group is not None:  # rank 0's row everywhere: every process stops on the same numbers
                row = self.group.broadcast(row)
                logs = {name: row[name] for name in logs}
            self.elapsed += row["seconds"]
            row["elapsed"] = self.elapsed
            self.history.append(row)
            value = logs[config.monitor]
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
        if self.writes:
            self._plot()
        if self.group is not None:
            self.group.barrier()  # no process reads the run's files before rank 0 has written them
        return self.history

    def _check_monitor(self, reported: dict[str, Any]) -> bool:
        """Refuse a ``monitor`` that names none of the metrics the run reports (the keys of an
        epoch's logs, or of a history row): it would otherwise pick the best weights by nothing."""
        names = sorted(set(reported) - {"epoch", "lr", "seconds", "elapsed"})
        monitor = self.config.monitor
        if monitor not in names:
            example = "val_loss" if "val_loss" in names else "loss"
            raise ConfigError(
                f"train.monitor={monitor!r} names no metric of this run, which reports "
                f"{', '.join(names)}; set it to one of them (e.g. --set train.monitor={example}): a name "
                "ending in 'loss' is minimised, any other maximised"
            )
        return True

    def _refuse_empty_epoch(self, epoch: int, steps_per_epoch: int) -> None:
        """Stop on an epoch that trained nothing: it has no loss to log or to compare, and a row of
        it would only repeat the last validation. Nothing of it is written, so the run's files and
        a resume still end at the last epoch that trained."""
        raise TrainingError(
            f"epoch {epoch} of {self.config.epochs} gave no training batches ({steps_per_epoch} were "
            f"expected); stopped before validating it, so the run in {self.run_dir} ends at epoch "
            f"{self.epoch}. The training data cannot fill this epoch: use more data or a smaller batch "
            "size"
        )

    def _record_processes(self) -> None:
        """Append this session to ``processes.json``: the processes, their seeds and threads."""
        path = self.run_dir / ckpt.PROCESSES
        sessions = ckpt.load_json(path) if path.is_file() else []
        sessions.append(
            {
                "from_epoch": self.epoch,
                "processes": self.group.world,
                # None: every process went on with the random states saved in train_state.pt
                "dropout_seeds": self._seeds,
                "backend": str(torch.distributed.get_backend()),
                "threads_per_process": torch.get_num_threads(),
            }
        )
        ckpt.save_json(sessions, path)
