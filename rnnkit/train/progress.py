"""A Keras-style progress bar, as a trainer callback: one line per epoch, redrawn in place.

    Epoch 3/10
    352/352 [==============================] - 85s 241ms/step - loss: 0.3312 - accuracy: 0.8610 - ...

On a terminal the line is redrawn at most ``refresh`` times a second; in a log file (not a tty) a
line is written every ``log_every`` seconds and at the end of the epoch.
"""

from __future__ import annotations

import sys
import time
from typing import IO


def format_logs(logs: dict[str, float]) -> str:
    return " - ".join(f"{name}: {value:.4f}" for name, value in logs.items())


class ProgressBar:
    def __init__(
        self, stream: IO[str] | None = None, width: int = 30, refresh: float = 4.0, log_every: float = 30.0
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interval = 1.0 / refresh
        self.log_every = log_every
        self.is_tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def on_epoch_begin(self, epoch: int, epochs: int, steps: int) -> None:
        self.steps = steps
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.stream.write(f"Epoch {epoch}/{epochs}\n")
        self.stream.flush()

    def _line(self, step: int, logs: dict[str, float]) -> str:
        elapsed = time.perf_counter() - self.start
        filled = int(self.width * step / max(self.steps, 1))
        bar = "=" * max(filled - 1, 0) + (">" if step < self.steps else "=") * (filled > 0)
        per_step = elapsed / max(step, 1)
        timing = f"{elapsed:.0f}s {per_step * 1000:.0f}ms/step"
        if step < self.steps:
            timing = f"ETA: {per_step * (self.steps - step):.0f}s - {per_step * 1000:.0f}ms/step"
        return f"{step}/{self.steps} [{bar.ljust(self.width, '.')}] - {timing} - {format_logs(logs)}"

    def on_step(self, step: int, logs: dict[str, float]) -> None:
        now = time.perf_counter()
        if step == self.steps:
            return  # the final line comes with the validation metrics
        if self.is_tty and now - self.last_draw >= self.interval:
            self.stream.write("\r" + self._line(step, logs) + "\x1b[K")
            self.stream.flush()
            self.last_draw = now
        elif not self.is_tty and now - self.last_draw >= self.log_every:
            if self.last_draw:
                self.stream.write(self._line(step, logs) + "\n")
                self.stream.flush()
            self.last_draw = now

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        prefix = "\r" if self.is_tty else ""
        self.stream.write(prefix + self._line(self.steps, logs) + ("\x1b[K\n" if self.is_tty else "\n"))
        self.stream.flush()

    def on_message(self, message: str) -> None:
        self.stream.write(message + "\n")
        self.stream.flush()


class CountBar:
    """A one-line count of items done, for long work outside training (prediction over a file):

        predicting 12,800/25,000 [==============>...............] 6s

    Drawn only on a terminal, at most ``refresh`` times a second, and finished with a newline;
    elsewhere (a log, a pipe) it writes nothing, so output files stay clean."""

    def __init__(
        self, title: str, total: int, stream: IO[str] | None = None, width: int = 30, refresh: float = 4.0
    ):
        self.title, self.total, self.width = title, total, width
        self.stream = stream if stream is not None else sys.stderr
        self.is_tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = 1.0 / refresh
        self.start = time.perf_counter()
        self.last_draw = 0.0

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        now = time.perf_counter()
        if self.is_tty and (done >= self.total or now - self.last_draw >= self.interval):
            filled = int(self.width * done / max(self.total, 1))
            bar = ("=" * filled + (">" if done < self.total else "")).ljust(self.width, ".")[: self.width]
            elapsed = now - self.start
            self.stream.write(f"\r{self.title} {done:,}/{self.total:,} [{bar}] {elapsed:.0f}s\x1b[K")
            self.stream.flush()
            self.last_draw = now

    def close(self) -> None:
        if self.is_tty:
            self.stream.write("\n")
            self.stream.flush()


def tell(callbacks, text: str) -> None:
    """Show ``text`` through every callback that shows the trainer's messages (``on_message``), for
    a task's own lines before or between training runs."""
    for callback in callbacks:
        if hasattr(callback, "on_message"):
            callback.on_message(text)
