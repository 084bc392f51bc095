"""Exploding gradients: a vanilla tanh RNN on the adding problem that diverges without clipping.

The recurrent matrix is set to ``W_hh = r Q`` (Q orthogonal, so every eigenvalue has modulus r = the
spectral radius); with r > 1 the products of Jacobians in backpropagation through time grow like
r^T, and plain SGD (Adam would bound each step by ~lr and hide it) takes a step that sends the loss
to inf. The same model, data and steps with ``clip_grad_norm_`` stay bounded (``rnnkit lab
exploding``; the data and the model are :mod:`rnnkit.tasks.adding`'s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..config import check_at_least_one
from ..errors import ConfigError
from ..train.plots import save_png
from .adding import MEAN_BASELINE_MSE, AddingModel, _pyplot, mse_step, online_batches


@dataclass
class ExplodingConfig:
    T: int = 50
    hidden_size: int = 32
    spectral_radius: float = 2.0  # W_hh = radius * orthogonal: every eigenvalue has this modulus
    lr: float = 0.1  # plain SGD (Adam bounds each step by ~lr and would hide the explosion)
    clip_norm: float = 0.5
    steps: int = 300
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        check_at_least_one(self, "T", "hidden_size", "steps", "batch_size")
        if self.lr <= 0 or self.clip_norm <= 0:
            raise ConfigError(f"lr and clip_norm must be > 0, got {self.lr} and {self.clip_norm}")


def exploding_model(config: ExplodingConfig) -> AddingModel:
    """A vanilla tanh RNN whose recurrent matrix has spectral radius ``config.spectral_radius``."""
    torch.manual_seed(config.seed)
    model = AddingModel("rnn", config.hidden_size)
    with torch.no_grad():
        model.rnn.cells[0].weight_hh.mul_(config.spectral_radius)  # orthogonal * r: |eigenvalues| = r
    return model


def train_sgd(config: ExplodingConfig, clip_norm: float | None) -> dict[str, list[float]]:
    """Train :func:`exploding_model` with SGD; per step the loss and the gradient norm before clipping.

    Stops at the first non-finite loss (which is recorded).
    """
    model = exploding_model(config)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    losses: list[float] = []
    grad_norms: list[float] = []
    for batch in online_batches(config.steps, config.batch_size, config.T, config.seed):
        loss, _, _ = mse_step(model, batch)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), clip_norm if clip_norm else math.inf)
        grad_norms.append(norm.item())
        optimizer.step()
    return {"loss": losses, "grad_norm": grad_norms}


def exploding(config: ExplodingConfig) -> dict[str, dict[str, list[float]]]:
    """The same model, data and steps without and with gradient clipping."""
    return {"none": train_sgd(config, None), "clipped": train_sgd(config, config.clip_norm)}


# -- figure ----------------------------------------------------------------------------------------


def plot_exploding(
    runs: dict[str, dict[str, list[float]]], config: ExplodingConfig, path: str | Path, dpi: int = 80
) -> Path:
    """Training loss and gradient norm (before clipping) per step, without and with clipping."""
    plt = _pyplot()
    fig, (loss_ax, grad_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, color, label in (
        ("none", "tab:red", "no clipping"),
        ("clipped", "tab:blue", f"clip_norm = {config.clip_norm}"),
    ):
        losses = runs[name]["loss"]
        finite = [v for v in losses if math.isfinite(v)]
        loss_ax.plot(range(1, len(finite) + 1), finite, color=color, label=label)
        if len(finite) < len(losses):  # mark where the loss became inf or NaN
            mark = finite[-1] if finite else 1.0
            loss_ax.plot(len(losses), mark, "x", color=color, ms=10, mew=2, label=f"loss = {losses[-1]} here")
        norms = runs[name]["grad_norm"]
        grad_ax.plot(range(1, len(norms) + 1), norms, color=color, label=label)
    loss_ax.axhline(MEAN_BASELINE_MSE, color="gray", ls="--", label="predict the mean: 1/6")
    loss_ax.set_ylabel("training MSE")
    grad_ax.set_ylabel("gradient norm before clipping")
    for ax in (loss_ax, grad_ax):
        ax.set_yscale("log")
        ax.set_xlabel("SGD step")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Vanilla tanh RNN, W_hh spectral radius {config.spectral_radius}, SGD lr {config.lr}, T = {config.T}"
    )
    return save_png(fig, path, dpi)


__all__ = ["ExplodingConfig", "exploding", "exploding_model", "plot_exploding", "train_sgd"]
