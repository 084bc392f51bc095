"""The bouncing ball (the lecture's first slide): given a ball's past positions, where does it go next?

Simulation: :mod:`rnnkit.data.ball` (exact contacts, vectorised, seeded).

Model (many-to-one). From the last k positions p_{t-k+1..t}, each of the k - 1 steps carries the
position and the displacement d_i = p_i - p_{i-1}, normalised (4 features); an rnnkit LSTM/GRU/RNN
reads them and a linear head on its last hidden state h_t predicts the next position:

    target "displacement" (default):  p_{t+1} = p_t + s_d * Linear(h_t),    s_d = max_speed * dt
    target "position":                p_{t+1} = c + s_p * Linear(h_t),      c, s_p = box centre, half-size

The loss is the mean squared error in units of s_d for both; the displacement target is the default
because its one-step error is the lower one, at bounces too, at equal training (docs/ball.md).
Training inputs get fresh N(0, jitter^2) noise each epoch, so that the model tolerates the small
errors of its own predictions: a rollout feeds them back as inputs. The constant-velocity baseline is
p_{t+1} = p_t + (p_t - p_{t-1}). Scores are against the true (noise-free) positions.

Shapes: N balls, T samples per ball, M windows, B batch, k window length, H hidden units.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..config import check_at_least_one
from ..data.ball import SimConfig, Trajectories, simulate
from ..errors import ConfigError
from ..nn import GRU, LSTM, RNN
from ..train import RunKind, TrainConfig, Trainer, cosine
from ..train.template import RESULTS_FILE as RESULTS_FILE
from ..train.template import Fit, Recipe, train_run

FIGURE_FILE = "ball.png"
LAYERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
TARGETS = ("displacement", "position")


@dataclass
class BallConfig:
    sim: SimConfig = field(default_factory=SimConfig)
    window: int = 10  # k positions in, the next one out
    cell: str = "lstm"  # "lstm" | "gru" | "rnn"
    hidden_size: int = 32
    num_layers: int = 1
    target: str = "displacement"  # "displacement" | "position" (see the module docstring)
    train_balls: int = 2000
    val_balls: int = 200
    test_balls: int = 500
    horizon: int = 30  # rollout steps (1.5 s at dt = 0.05)
    jitter: float = 0.01  # N(0, jitter^2) metres on the training inputs, each epoch: steadier rollouts
    train: TrainConfig = field(default_factory=lambda: cosine(16, 512, 3e-3, warmup=0.0))

    def __post_init__(self) -> None:
        if self.cell not in LAYERS:
            raise ConfigError(f"cell must be one of {', '.join(LAYERS)}, got {self.cell!r}")
        if self.target not in TARGETS:
            raise ConfigError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        if self.window < 2:
            raise ConfigError(f"window must be >= 2 positions (one displacement), got {self.window}")
        if self.jitter < 0:
            raise ConfigError(f"jitter must be >= 0 (a standard deviation in metres), got {self.jitter}")
        check_at_least_one(
            self, "hidden_size", "num_layers", "train_balls", "val_balls", "test_balls", "horizon"
        )

    def check(self) -> None:
        """Checks across fields, once all overrides are in (so their order does not matter)."""
        if self.sim.steps < self.window + self.horizon:
            raise ConfigError(
                f"sim.steps ({self.sim.steps}) must be >= window + horizon ({self.window} + "
                f"{self.horizon}); raise sim.steps or lower --window/--horizon"
            )


RUNS = RunKind("ball", BallConfig)  # a fresh run each time: nothing is resumed


# -- baseline ------------------------------------------------------------------------------------


def constant_velocity(windows: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """The baseline: p_{t+1} = p_t + (p_t - p_{t-1}), from windows (..., k, 2)."""
    return 2 * windows[..., -1, :] - windows[..., -2, :]


# -- data ----------------------------------------------------------------------------------------


@dataclass
class Windows:
    inputs: Tensor  # (M, k, 2) observed positions
    targets: Tensor  # (M, 2) the true next position
    bounce: Tensor  # (M,) bool: a contact between the last input and the target

    def to(self, device: torch.device | str) -> Windows:
        return Windows(self.inputs.to(device), self.targets.to(device), self.bounce.to(device))

    def __len__(self) -> int:
        return len(self.targets)

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0, jitter: float = 0.0):
        """Batches in order, or shuffled by ``seed``; ``jitter`` adds N(0, jitter^2) to the inputs."""
        order = np.random.default_rng(seed).permutation(len(self)) if shuffle else np.arange(len(self))
        generator = torch.Generator().manual_seed(seed)
        for start in range(0, len(self), batch_size):
            index = torch.from_numpy(order[start : start + batch_size])
            inputs = self.inputs[index]  # (B, k, 2)
            if jitter:
                inputs = inputs + jitter * torch.randn(inputs.shape, generator=generator)
            yield Windows(inputs, self.targets[index], self.bounce[index])


def make_windows(traj: Trajectories, k: int) -> Windows:
    """Every window of k observed positions and the true position after it, ball by ball."""
    T = traj.observed.shape[1]
    inputs = np.lib.stride_tricks.sliding_window_view(traj.observed[:, : T - 1], k, axis=1)  # (N, T-k, 2, k)
    inputs = inputs.transpose(0, 1, 3, 2).reshape(-1, k, 2)  # (M, k, 2), M = N (T - k)
    targets = traj.positions[:, k:].reshape(-1, 2)  # (M, 2)
    bounce = traj.bounces[:, k:].reshape(-1)  # (M,)
    return Windows(
        torch.tensor(inputs, dtype=torch.float32),
        torch.tensor(targets, dtype=torch.float32),
        torch.from_numpy(bounce.copy()),
    )


# -- model ---------------------------------------------------------------------------------------


class BallModel(nn.Module):
    """Past positions (B, k, 2) -> next position (B, 2), in metres; normalisation is inside."""

    def __init__(self, config: BallConfig) -> None:
        super().__init__()
        sim = config.sim
        self.target = config.target
        self.recurrent = LAYERS[config.cell](4, config.hidden_size, num_layers=config.num_layers)
        self.head = nn.Linear(config.hidden_size, 2)
        half = torch.tensor([sim.width / 2, sim.height / 2])
        self.register_buffer("centre", half, persistent=False)  # c
        self.register_buffer("half_size", half.clone(), persistent=False)  # s_p
        self.disp_scale = sim.max_speed * sim.dt  # s_d

    def forward(self, positions: Tensor) -> Tensor:
        d = positions[:, 1:] - positions[:, :-1]  # (B, k-1, 2) displacements d_i
        x = torch.cat([(positions[:, 1:] - self.centre) / self.half_size, d / self.disp_scale], dim=2)
        last, _ = self.recurrent(x, return_sequences=False)  # (B, H): h after the last step
        out = self.head(last)  # (B, 2)
        if self.target == "displacement":
            return positions[:, -1] + self.disp_scale * out
        return self.centre + self.half_size * out


def step(model: BallModel, batch: Windows) -> tuple[Tensor, dict[str, float], int]:
    prediction = model(batch.inputs)  # (B, 2)
    error = prediction - batch.targets
    loss = (error / model.disp_scale).pow(2).mean()
    return loss, {"mae": error.abs().mean(dim=1).sum().item()}, len(batch)


@torch.no_grad()
def predict(model: BallModel, inputs: Tensor, batch_size: int = 4096) -> Tensor:
    model.eval()
    device = next(model.parameters()).device
    parts = [model(inputs[i : i + batch_size].to(device)).cpu() for i in range(0, len(inputs), batch_size)]
    return torch.cat(parts)


@torch.no_grad()
def rollout(model: BallModel, past: Tensor, horizon: int) -> Tensor:
    """Predict ``horizon`` positions after ``past`` (B, k, 2), each fed back as the newest input."""
    model.eval()
    window = past.to(next(model.parameters()).device)
    future = []
    for _ in range(horizon):
        nxt = model(window)  # (B, 2)
        future.append(nxt)
        window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)  # (B, k, 2)
    return torch.stack(future, dim=1).cpu()  # (B, horizon, 2)


# -- a run ---------------------------------------------------------------------------------------


def _mae(prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> float:
    error = (prediction - target).abs().mean(dim=1).double()  # (M,) metres, mean over x and y
    return float(error[mask].mean()) if mask is not None else float(error.mean())


def one_step_scores(model: BallModel, windows: Windows) -> dict[str, float]:
    """MAE (metres, mean over x and y) of the model and the baseline, overall and at bounces."""
    model_pred, base_pred = predict(model, windows.inputs), constant_velocity(windows.inputs)
    at = windows.bounce
    return {
        "model_mae": _mae(model_pred, windows.targets),
        "baseline_mae": _mae(base_pred, windows.targets),
        "model_mae_bounce": _mae(model_pred, windows.targets, at),
        "baseline_mae_bounce": _mae(base_pred, windows.targets, at),
        "steps": len(windows),
        "bounce_steps": int(at.sum()),
    }


def rollout_scores(model: BallModel, traj: Trajectories, k: int, horizon: int) -> dict:
    """Mean distance (metres) from the true path, h = 1..horizon steps after the first k samples."""
    past = torch.tensor(traj.observed[:, :k], dtype=torch.float32)
    truth = torch.tensor(traj.positions[:, k : k + horizon], dtype=torch.float32)  # (N, horizon, 2)
    model_path = rollout(model, past, horizon)
    steps = torch.arange(1, horizon + 1, dtype=torch.float32)[None, :, None]  # (1, horizon, 1)
    base_path = past[:, -1:] + steps * (past[:, -1:] - past[:, -2:-1])  # (N, horizon, 2)
    model_by_step = (model_path - truth).norm(dim=2).double().mean(dim=0)  # (horizon,)
    base_by_step = (base_path - truth).norm(dim=2).double().mean(dim=0)
    return {
        "horizon": horizon,
        "model_mean": float(model_by_step.mean()),
        "baseline_mean": float(base_by_step.mean()),
        "model_final": float(model_by_step[-1]),
        "baseline_final": float(base_by_step[-1]),
        "model_by_step": [round(float(e), 5) for e in model_by_step],
        "baseline_by_step": [round(float(e), 5) for e in base_by_step],
    }


def datasets(config: BallConfig) -> dict[str, Trajectories]:
    """Train, validation and test balls from separate random streams (disjoint by construction)."""
    sizes = {"train": config.train_balls, "validation": config.val_balls, "test": config.test_balls}
    seed = config.train.seed
    return {name: simulate(n, config.sim, seed=seed * 10 + i) for i, (name, n) in enumerate(sizes.items())}


@dataclass
class BallData:
    trajectories: dict[str, Trajectories]
    windows: dict[str, Windows]
    simulate_seconds: float


class BallRecipe(Recipe[BallConfig, BallData]):
    """The ball task's parts for the run template; a run starts afresh each time."""

    runs = RUNS

    def prepare(self, config: BallConfig, saved: None) -> BallData:
        start = time.perf_counter()
        trajectories = datasets(config)
        windows = {name: make_windows(traj, config.window) for name, traj in trajectories.items()}
        return BallData(trajectories, windows, time.perf_counter() - start)

    def build(self, config: BallConfig, data: BallData) -> BallModel:
        return BallModel(config)

    def step(self, config: BallConfig):
        return step

    def fit(self, config: BallConfig, data: BallData, trainer: Trainer, model: nn.Module) -> Fit:
        batch_size, seed, train = config.train.batch_size, config.train.seed, data.windows["train"]
        return Fit(
            lambda epoch: train.batches(
                batch_size, shuffle=True, seed=seed * 1000 + epoch, jitter=config.jitter
            ),
            math.ceil(len(train) / batch_size),
            lambda: data.windows["validation"].batches(4096),
        )

    def test(self, config: BallConfig, data: BallData, trainer: Trainer, model: nn.Module) -> dict:
        """One-step and rollout errors on the test balls; also draws the rollouts."""
        model.cpu()
        test = data.trajectories["test"]
        plot_rollouts(model, test, config, trainer.run_dir / FIGURE_FILE)
        return {
            "one_step": one_step_scores(model, data.windows["test"]),
            "rollout": rollout_scores(model, test, config.window, config.horizon),
            "simulate_seconds": data.simulate_seconds,
            "best_val_loss": trainer.best,
            "train_windows": len(data.windows["train"]),
            "threads": torch.get_num_threads(),
        }


def train(config: BallConfig, run_dir: str | Path, callbacks=()) -> dict:
    """Simulate, train from scratch in ``run_dir``, score the best weights, draw the rollouts."""
    config.check()
    return train_run(BallRecipe(), config, run_dir, callbacks, resume=False)


def load_run(run_dir: str | Path) -> tuple[BallModel, BallConfig]:
    """The best weights of a run directory, on the CPU, in eval mode."""
    return RUNS.load_model(run_dir, BallModel)


def plot_rollouts(
    model: BallModel, traj: Trajectories, config: BallConfig, path: str | Path, balls: int = 4
) -> Path:
    """Past, true future, rollout and constant-velocity line for the first test balls that bounce."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k, horizon, sim = config.window, config.horizon, config.sim
    bouncing = np.nonzero(traj.bounces[:, k : k + horizon].any(axis=1))[0]
    chosen = np.concatenate([bouncing, np.setdiff1d(np.arange(len(traj.positions)), bouncing)])[:balls]
    past = torch.tensor(traj.observed[chosen, :k], dtype=torch.float32)
    predicted = rollout(model, past, horizon).numpy()
    fig, axes = plt.subplots(1, len(chosen), figsize=(3.2 * len(chosen), 3.4), squeeze=False)
    for ax, ball, path_pred in zip(axes[0], chosen, predicted):
        seen, future = traj.observed[ball, :k], traj.positions[ball, k - 1 : k + horizon]
        line = seen[-1] + np.arange(horizon + 1)[:, None] * (seen[-1] - seen[-2])
        ax.add_patch(plt.Rectangle((0, 0), sim.width, sim.height, fill=False, lw=2))
        ax.plot(*seen.T, "o", color="black", ms=3, label=f"past {k}")
        ax.plot(*future.T, "-", color="tab:green", lw=2, label="true future")
        ax.plot(*np.vstack([seen[-1], path_pred]).T, ".-", color="tab:red", ms=3, label=config.cell)
        ax.plot(*line.T, "--", color="tab:gray", label="constant velocity")
        margin = 0.05 * max(sim.width, sim.height)
        ax.set_xlim(-margin, sim.width + margin)
        ax.set_ylim(-margin, sim.height + margin)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"test ball {ball}", fontsize=9)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=8)
    fig.suptitle(f"{horizon}-step rollouts ({horizon * sim.dt:.1f} s), fed back on their own predictions")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
