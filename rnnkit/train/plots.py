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
    return save_png(fig, path)


def plot_confusion(confusion: list[list[int]], classes: list[str], path: str | Path, title: str = "") -> Path:
    """The confusion matrix as a PNG: rows the true class, columns the predicted one, each cell its
    count, shaded by the share of its row (so a rare class's errors show as clearly as a common one's)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = np.asarray(confusion, dtype=np.int64)  # (C, C)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    C = len(classes)
    side = max(4.0, 0.45 * C + 2)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for a in range(C):
        for b in range(C):
            if counts[a, b]:
                color = "white" if shares[a, b] > 0.6 else "black"
                ax.text(b, a, str(counts[a, b]), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(C), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(C), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    if title:
        ax.set_title(title)
    return save_png(fig, path)


def save_png(fig, path: str | Path, dpi: int = 100) -> Path:
    """Write a matplotlib figure to ``path`` as a PNG in one step (a crash leaves no half file) and
    close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    path = Path(path)
    atomic_write(path, buffer.getvalue())
    return path
