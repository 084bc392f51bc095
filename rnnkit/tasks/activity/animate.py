"""An animated stick figure (GIF) with the label of every frame under it: the synced many-to-many
answer a person can watch. matplotlib draws the frames, Pillow writes the GIF."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import BONES


def animate(
    joints: np.ndarray,
    frame_labels: list[str],
    path: str | Path,
    title: str = "",
    fps: int = 15,
) -> Path:
    """Write ``joints`` (T, 20, 3), seen from the front (x across, y up), as a GIF at ``path``,
    frame t captioned with ``frame_labels[t]``; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    if len(frame_labels) != len(joints):
        raise ValueError(f"got {len(joints)} frames but {len(frame_labels)} frame labels")
    x, y = joints[..., 0], joints[..., 1]  # (T, J) each
    pad = 0.1 * max(np.ptp(x), np.ptp(y), 1e-6)
    fig, ax = plt.subplots(figsize=(3.2, 4.0), dpi=80)
    ax.set_xlim(x.min() - pad, x.max() + pad)
    ax.set_ylim(y.min() - pad, y.max() + pad)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    lines = [ax.plot([], [], "-", color="tab:blue", lw=2)[0] for _ in BONES]
    dots = ax.plot([], [], "o", color="tab:orange", ms=3)[0]
    caption = fig.text(0.5, 0.03, "", ha="center", fontsize=10)

    def draw(t: int):
        for line, (a, b) in zip(lines, BONES):
            line.set_data([x[t, a], x[t, b]], [y[t, a], y[t, b]])
        dots.set_data(x[t], y[t])
        caption.set_text(f"frame {t + 1}/{len(joints)}: {frame_labels[t]}")
        return [*lines, dots, caption]

    path = Path(path)
    FuncAnimation(fig, draw, frames=len(joints), blit=False).save(path, writer=PillowWriter(fps=fps))
    plt.close(fig)
    return path


__all__ = ["animate"]
