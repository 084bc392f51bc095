"""Training curves as PNG: the lecture's ``plot_graphs`` for every metric, train against validation."""

from __future__ import annotations

import io
from pathlib import Path

from .checkpoint import atomic_write


def plot_history(history: list[dict[str, float]], path: str | Path, title: str = "") -> Path:
    """One panel per metric (e.g. accuracy, loss), train and ``val_`` curves against the epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [
        k for k in history[0] if k not in ("epoch", "seconds", "elapsed", "lr") and not k.startswith("val_")
    ]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    epochs = [row["epoch"] for row in history]
    for ax, name in zip(axes[0], metrics):
        ax.plot(epochs, [row[name] for row in history], "o-", label=name)
        if f"val_{name}" in history[0]:
            ax.plot(epochs, [row[f"val_{name}"] for row in history], "o-", label=f"val_{name}")
        ax.set_xlabel("Epochs")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    path = Path(path)
    atomic_write(path, buffer.getvalue())
    return path
