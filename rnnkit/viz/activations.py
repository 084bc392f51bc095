"""The activation view of Karpathy, Johnson and Fei-Fei, "Visualizing and Understanding Recurrent
Networks" (2015): run a character model over a text, colour each character by one hidden unit's
value, and rank units by how well they track a simple property of the text.

``hidden_states`` runs the layer's own cells step by step (the reference loop), so it can read the
LSTM's cell state ``c_t`` as well as ``h_t``; the fused kernel returns only ``h_t``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..data.text import CharVocab
from ..errors import ConfigError, InputError
from ..models.charlm import CharLM


def hidden_states(model: CharLM, vocab: CharVocab, text: str, layer: int = -1, what: str = "h") -> np.ndarray:
    """(N, H) values of ``what`` ("h": hidden state; "c": LSTM cell state, squashed by tanh as in
    the paper) of recurrent layer ``layer`` after reading each character of ``text``."""
    if what not in ("h", "c"):
        raise ConfigError(f"what must be 'h' or 'c', got {what!r}")
    if what == "c" and model.config.cell != "lstm":
        raise ConfigError(f"only an LSTM has a cell state c; this model is a {model.config.cell.upper()}")
    num_layers = model.config.num_layers
    if not -num_layers <= layer < num_layers:
        raise ConfigError(f"layer must be in [{-num_layers}, {num_layers - 1}], got {layer}")
    layer %= num_layers
    ids = torch.from_numpy(vocab.encode(text))[None]  # (1, N)
    model.eval()
    with torch.no_grad():
        x = model.inputs(ids)[0]  # (N, E)
        for index, cell in enumerate(model.rnn.cells[: layer + 1]):  # unidirectional: cell l = layer l
            state, rows, cells = None, [], []
            for x_t in x:
                h_t, state = cell(x_t[None], state)  # (1, H)
                rows.append(h_t[0])
                if what == "c" and index == layer:
                    cells.append(torch.tanh(state[1][0]))
            x = torch.stack(rows)  # (N, H): the next layer's input
    return (torch.stack(cells) if what == "c" else x).numpy()


def _position_in_line(text: str) -> np.ndarray:
    values, column = [], 0
    for char in text:
        values.append(column)
        column = 0 if char == "\n" else column + 1
    return np.array(values, dtype=float)


def _inside(opening: str, closing: str) -> Callable[[str], np.ndarray]:
    """1 for the characters between an opening and its closing mark (the marks included), else 0."""

    def feature(text: str) -> np.ndarray:
        values, depth = [], 0
        for char in text:
            if opening == closing and char == opening:  # quotes: each mark toggles
                depth = 1 - depth
                values.append(1.0)
            elif char in opening:
                depth += 1
                values.append(1.0)
            elif char in closing:
                values.append(float(depth > 0))
                depth = max(depth - 1, 0)
            else:
                values.append(float(depth > 0))
        return np.array(values)

    return feature


FEATURES: dict[str, Callable[[str], np.ndarray]] = {
    "position_in_line": _position_in_line,
    "inside_quotes": _inside('"', '"'),
    "inside_brackets": _inside("([{", ")]}"),
    "uppercase": lambda text: np.array([float(c.isupper()) for c in text]),
    "newline_next": lambda text: np.array([float(c == "\n") for c in text[1:]] + [0.0]),
}


def rank_units(states: np.ndarray, feature: np.ndarray, top: int = 5) -> list[tuple[int, float]]:
    """The ``top`` units whose values correlate most (Pearson, by absolute value) with ``feature``."""
    if len(states) != len(feature):
        raise ValueError(f"states cover {len(states)} characters but the feature {len(feature)}")
    if np.std(feature) == 0:
        raise InputError("the feature is constant over this text (e.g. no quotes in it); use another text")
    s = (states - states.mean(0)) / (states.std(0) + 1e-12)  # (N, H)
    f = (feature - feature.mean()) / feature.std()  # (N,)
    corr = s.T @ f / len(f)  # (H,)
    order = np.argsort(-np.abs(corr))[:top]
    return [(int(unit), float(corr[unit])) for unit in order]


def _colour(value: float) -> str:
    """-1 -> blue, 0 -> white, +1 -> red (the paper's palette)."""
    value = float(np.clip(value, -1, 1))
    fade = int(255 * (1 - abs(value)))
    return f"rgb(255,{fade},{fade})" if value > 0 else f"rgb({fade},{fade},255)"


def activation_html(text: str, values: np.ndarray, title: str = "") -> str:
    """A self-contained HTML page: each character on a background coloured by its value in [-1, 1]."""
    spans = []
    for char, value in zip(text, values):
        shown = "↵<br>" if char == "\n" else html.escape(char).replace(" ", "&nbsp;")
        spans.append(f'<span style="background:{_colour(value)}" title="{value:+.3f}">{shown}</span>')
    return (
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<h3 style='font-family:sans-serif'>{html.escape(title)}</h3>"
        f"<div style='font-family:monospace;font-size:14px;line-height:1.5'>{''.join(spans)}</div>\n"
    )


def activation_png(text: str, values: np.ndarray, path: str | Path, title: str = "", width: int = 80) -> Path:
    """The same view as a PNG: a grid of ``width`` columns, one cell per character, lines wrapped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells: list[list[tuple[str, float]]] = [[]]
    for char, value in zip(text, values):
        if len(cells[-1]) == width:
            cells.append([])
        cells[-1].append(("↵" if char == "\n" else char, float(value)))
        if char == "\n":
            cells.append([])
    grid = np.full((len(cells), width), np.nan)
    for row, line in enumerate(cells):
        grid[row, : len(line)] = [v for _, v in line]
    fig, ax = plt.subplots(figsize=(width * 0.12, len(cells) * 0.22 + 0.6))
    ax.imshow(grid, cmap="bwr", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    for row, line in enumerate(cells):
        for col, (char, _) in enumerate(line):
            ax.text(col, row, char, ha="center", va="center", fontsize=7, family="monospace")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
