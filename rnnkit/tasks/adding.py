"""The long-term dependency lab: the adding problem, gradient probes through time, exploding gradients.

The adding problem (Hochreiter & Schmidhuber, 1997) in its usual form: a sequence of T steps with
E = 2 features per step,

- ``x[t, 0] = u_t``, uniform in [0, 1];
- ``x[t, 1] = m_t``, a marker that is 1 at exactly two steps, ``a`` in the first half
  ``[0, T//2)`` and ``b`` in the second ``[T//2, T)``, and 0 elsewhere;

and the target ``y = u_a + u_b``. The marked numbers are independent uniforms, so
``Var(y) = 2 / 12 = 1/6``: always predicting the mean ``E[y] = 1`` gives MSE 1/6 = 0.167. A model
only beats that if it carries ``u_a`` across at least T/2 steps, which is what the vanilla RNN cannot.

Models are many-to-one: ``y_hat = W_y h_T + b_y`` from the last hidden state of a 1-layer
``rnnkit.RNN``/``LSTM``/``GRU`` (``impl="auto"``, torch's fused kernels), at equal parameter budgets
(:func:`hidden_for_budget`). Training is online: a fresh batch every step, Adam, gradient clipping,
a fixed test set, through the shared :class:`rnnkit.train.Trainer` (one "epoch" = ``eval_every`` steps).

Gradient probes (:func:`hidden_gradients`) run the same weights through the readable cells step by step
so that every ``h_t`` is a node of the graph, and read ``dL/dh_t``: the *total* gradient through the
recurrence, not only the direct path from ``output[:, t]``. Exploding gradients (a vanilla RNN that
diverges without clipping) are in :mod:`rnnkit.tasks.exploding`.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..nn import GRU, LSTM, RNN
from ..train import TrainConfig, Trainer, seed_everything
from ..train import checkpoint as ckpt
from ..train.plots import save_png

LAYERS: dict[str, type[nn.Module]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
INPUT_SIZE = 2
MEAN_BASELINE_MSE = 1.0 / 6.0  # Var(u_a + u_b) for independent uniforms


# -- data ----------------------------------------------------------------------------------------


@dataclass
class AddingBatch:
    x: Tensor  # (B, T, 2): numbers and markers
    y: Tensor  # (B,): the sum of the two marked numbers

    def to(self, device: torch.device | str) -> AddingBatch:
        return AddingBatch(self.x.to(device), self.y.to(device))


def adding_batch(batch_size: int, T: int, generator: torch.Generator | None = None) -> AddingBatch:
    """``batch_size`` adding-problem sequences of length ``T`` (see the module doc)."""
    if not isinstance(T, int) or T < 2:
        raise ConfigError(f"T must be an int >= 2 (one marker in each half), got {T!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
    B, half = batch_size, T // 2
    numbers = torch.rand(B, T, generator=generator)  # (B, T)
    first = torch.randint(0, half, (B,), generator=generator)  # a in [0, T//2)
    second = torch.randint(half, T, (B,), generator=generator)  # b in [T//2, T)
    markers = torch.zeros(B, T)
    rows = torch.arange(B)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = numbers[rows, first] + numbers[rows, second]  # (B,)
    return AddingBatch(torch.stack([numbers, markers], dim=2), y)  # x: (B, T, 2)


def online_batches(steps: int, batch_size: int, T: int, seed: int) -> list[AddingBatch]:
    """``steps`` fresh batches from their own generator: the same ``seed`` gives the same batches."""
    generator = torch.Generator().manual_seed(seed)
    return [adding_batch(batch_size, T, generator) for _ in range(steps)]


# -- models at equal parameter budgets -----------------------------------------------------------


class AddingModel(nn.Module):
    """Many-to-one: ``y_hat = W_y h_T + b_y`` on the last hidden state of a one-layer recurrent layer."""

    def __init__(self, cell: str, hidden_size: int, input_size: int = INPUT_SIZE) -> None:
        super().__init__()
        if cell not in LAYERS:
            raise ConfigError(f"cell must be one of {', '.join(LAYERS)}, got {cell!r}")
        self.cell = cell
        self.rnn = LAYERS[cell](input_size, hidden_size)  # impl="auto": fused kernels
        self.head = nn.Linear(hidden_size, 1)  # W_y: (1, H), b_y: (1,)

    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.rnn(x)  # (B, T, H)
        return self.head(output[:, -1]).squeeze(1)  # (B,)


def count_parameters(cell: str, hidden_size: int, input_size: int = INPUT_SIZE) -> int:
    """Parameters of :class:`AddingModel`: ``G*H*(E + H) + G*H`` (+ ``H`` for the GRU's ``b_hn``) + ``H + 1``.

    G gates: 1 (RNN), 4 (LSTM), 3 (GRU); one bias per gate (see :mod:`rnnkit.nn.cells`).
    """
    gates = {"rnn": 1, "lstm": 4, "gru": 3}
    if cell not in gates:
        raise ConfigError(f"cell must be one of {', '.join(gates)}, got {cell!r}")
    G, H, E = gates[cell], hidden_size, input_size
    recurrent = G * H * (E + H) + G * H + (H if cell == "gru" else 0)
    return recurrent + H + 1


def hidden_for_budget(cell: str, budget: int, input_size: int = INPUT_SIZE) -> int:
    """The hidden size whose :func:`count_parameters` is closest to ``budget``."""
    if budget < count_parameters(cell, 1, input_size):
        raise ConfigError(f"budget must be at least {count_parameters(cell, 1, input_size)}, got {budget}")
    H = 1
    while count_parameters(cell, H + 1, input_size) <= budget:
        H += 1
    over = count_parameters(cell, H + 1, input_size) - budget
    return H + 1 if over < budget - count_parameters(cell, H, input_size) else H


def parse_cells(text: str) -> tuple[str, ...]:
    cells = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [c for c in cells if c not in LAYERS]
    if unknown or not cells:
        raise ConfigError(
            f"--cells must be a comma-separated list of {', '.join(LAYERS)}, got {text!r}; "
            "e.g. --cells rnn,lstm"
        )
    return cells


# -- training --------------------------------------------------------------------------------------


@dataclass
class AddingConfig:
    T: int = 200
    budget: int = 4513  # parameters per model: an LSTM with H = 32 (RNN H = 65, GRU H = 37)
    steps: int = 4000  # at most this many Adam steps, a fresh batch each
    eval_every: int = 100  # steps between test evaluations (one trainer "epoch")
    stop_mse: float = 0.005  # stop once the test MSE is below this (0: always run all steps)
    batch_size: int = 64
    lr: float = 3e-3
    clip_norm: float = 1.0
    test_size: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.eval_every < 1:
            raise ConfigError(f"eval_every must be >= 1 step, got {self.eval_every}")
        if self.steps < 1 or self.steps % self.eval_every:
            raise ConfigError(
                f"steps must be a positive multiple of eval_every={self.eval_every}, got {self.steps}; "
                f"e.g. --steps {max(1, round(self.steps / self.eval_every)) * self.eval_every}"
            )


def mse_step(model: nn.Module, batch: AddingBatch) -> tuple[Tensor, dict[str, float], int]:
    """The trainer's step: mean squared error of the predicted sums."""
    loss = torch.mean((model(batch.x) - batch.y) ** 2)
    return loss, {}, len(batch.y)


TRAIN_STREAM, TEST_STREAM = 0, 1


def _stream_seed(seed: int, *stream: int) -> int:
    """A torch seed for one random stream, e.g. (seed, TRAIN_STREAM, epoch): distinct streams
    are distinct SeedSequence entropies, so training batches can never repeat the test set."""
    return int(np.random.SeedSequence([seed, *stream]).generate_state(1)[0])


def make_test_set(config: AddingConfig) -> AddingBatch:
    """The fixed test set: its own generator, apart from the training batches."""
    generator = torch.Generator().manual_seed(_stream_seed(config.seed, TEST_STREAM))
    return adding_batch(config.test_size, config.T, generator)


@dataclass
class CellResult:
    cell: str
    hidden: int
    params: int
    test_mse: float  # after the last step
    steps: int
    seconds: float  # training and evaluation
    curve: list[tuple[int, float]]  # (step, test MSE), step 0 at initialisation
    steps_to_001: int | None  # first evaluated step with test MSE < 0.01


def train_cell(config: AddingConfig, cell: str, run_dir: str | Path, callbacks=()) -> CellResult:
    """Train one cell on the adding problem; the run directory keeps the trainer's checkpoints."""
    seed_everything(config.seed)
    hidden = hidden_for_budget(cell, config.budget)
    model = AddingModel(cell, hidden)
    epochs = config.steps // config.eval_every
    train_config = TrainConfig(
        epochs=epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        clip_norm=config.clip_norm,
        monitor="val_loss",
        target=config.stop_mse or None,  # stop once the test MSE is below stop_mse
        seed=config.seed,
        device="cpu",
    )
    trainer = Trainer(model, mse_step, train_config, run_dir, callbacks)
    test = [make_test_set(config)]
    curve = [(0, trainer.evaluate(test)["loss"])]
    start = time.perf_counter()
    history = trainer.fit(
        lambda e: online_batches(
            config.eval_every, config.batch_size, config.T, _stream_seed(config.seed, TRAIN_STREAM, e)
        ),
        config.eval_every,
        lambda: test,
    )
    curve += [(row["epoch"] * config.eval_every, row["val_loss"]) for row in history]
    seconds = time.perf_counter() - start
    reached = next((step for step, mse in curve if mse < 0.01), None)
    params = sum(p.numel() for p in model.parameters())
    return CellResult(cell, hidden, params, curve[-1][1], curve[-1][0], seconds, curve, reached)


def load_trained(run_dir: str | Path, cell: str, hidden: int) -> AddingModel:
    """The last weights of a :func:`train_cell` run."""
    model = AddingModel(cell, hidden)
    ckpt.load_weights(model, Path(run_dir) / ckpt.LAST)
    return model


# -- gradient probes -------------------------------------------------------------------------------


def state_gradients(model: AddingModel, batch: AddingBatch) -> dict[str, Tensor]:
    r"""``dL/dh_t`` for t = 1..T (and ``dL/dc_t`` for the LSTM): ``{"h": (T, B, H), "c": (T, B, H)}``.

    ``L = sum_b (y_hat_b - y_b)^2``, a sum so that row b of ``dL/dh_t`` is sequence b's own gradient.
    The cell of ``model.rnn`` runs step by step (the reference loop) and every ``h_t`` keeps its
    gradient, which autograd accumulates over every path from ``h_t`` to the loss: the *total*
    gradient through the recurrence. For the vanilla RNN that is, with ``h_t`` as a row,

    .. math::
        \frac{\partial L}{\partial h_t} = \Big(\frac{\partial L}{\partial h_{t+1}} \odot
        (1 - h_{t+1}^2)\Big) W_{hh}

    a product of T - t Jacobians, each of norm at most ``||W_hh|| * max tanh' = ||W_hh||``.
    For the LSTM, ``dL/dh_t`` holds ``c_t`` fixed (``c_t`` is not downstream of ``h_t``), and
    ``dL/dc_t`` flows back along ``c_{t-1} = ...`` through ``f_t``.

    Computed on a float64 copy of the model: at T = 200 the gradients fall below float32's range
    (normal numbers end near 1e-38, subnormals near 1e-45) and would underflow to 0.
    """
    model = copy.deepcopy(model).double()
    cell = model.rnn.cells[0]
    x, y = batch.x.double(), batch.y.double()  # (B, T, E), (B,)
    is_lstm = model.cell == "lstm"
    state = None
    hs, cs = [], []
    for t in range(x.shape[1]):
        h_t, state = cell(x[:, t], state)  # h_t: (B, H); state: h_t, or (h_t, c_t)
        h_t.retain_grad()
        hs.append(h_t)
        if is_lstm:
            state[1].retain_grad()
            cs.append(state[1])
    loss = torch.sum((model.head(hs[-1]).squeeze(1) - y) ** 2)
    loss.backward()
    grads = {"h": torch.stack([h.grad for h in hs])}  # (T, B, H)
    if is_lstm:
        grads["c"] = torch.stack([c.grad for c in cs])  # (T, B, H)
    return grads


def hidden_gradients(model: AddingModel, batch: AddingBatch) -> dict[str, Tensor]:
    """The norm of each sequence's ``dL/dh_t`` (and ``dL/dc_t``), averaged over the batch: (T,) each.

    Index ``t - 1`` holds step t; see :func:`state_gradients`.
    """
    return {name: g.norm(dim=2).mean(dim=1) for name, g in state_gradients(model, batch).items()}


def memory_statistics(model: AddingModel, batch: AddingBatch) -> dict[str, float]:
    """What sets the slope of ``dL/dh_t``: ``||W_hh||_2`` and the factor on each cell's memory path.

    - RNN: ``tanh' = 1 - h_t^2``, the mean over steps, sequences and units (``"mean_gate"``).
    - LSTM: the forget gate ``f_t`` (``dc_t/dc_{t-1} = diag(f_t)``); GRU: the update gate ``z_t``.
      ``"mean_gate"`` averages it over everything, ``"top_unit_gate"`` is the largest per-unit mean.
    """
    cell = model.rnn.cells[0]
    H = cell.hidden_size
    x = batch.x  # (B, T, E)
    gates = []
    with torch.no_grad():
        h_prev, state = torch.zeros(x.shape[0], H), None
        for t in range(x.shape[1]):
            pre = x[:, t] @ cell.weight_ih.T + h_prev @ cell.weight_hh.T + cell.bias  # (B, G*H)
            h_t, state = cell(x[:, t], state)
            if model.cell == "rnn":
                gates.append(1 - h_t**2)  # tanh'
            else:  # f is block 1 of [i; f; g; o], z block 1 of [r; z; n]
                gates.append(torch.sigmoid(pre[:, H : 2 * H]))  # (B, H)
            h_prev = h_t
        per_unit = torch.stack(gates).mean(dim=(0, 1))  # (H,)
        norm = torch.linalg.matrix_norm(cell.weight_hh, ord=2).item()
    return {"w_hh_norm": norm, "mean_gate": per_unit.mean().item(), "top_unit_gate": per_unit.max().item()}


# -- figures ---------------------------------------------------------------------------------------

COLORS = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}
LABELS = {"rnn": "vanilla tanh RNN", "lstm": "LSTM", "gru": "GRU"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(results: list[CellResult], T: int, path: str | Path, dpi: int = 80) -> Path:
    """Test MSE against the step, log scale, with the mean-prediction line at 1/6."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for r in results:
        steps, mse = zip(*r.curve)
        label = f"{LABELS[r.cell]} (H={r.hidden}, {r.params:,} params)"
        ax.plot(steps, mse, "-", color=COLORS[r.cell], label=label)
    ax.axhline(MEAN_BASELINE_MSE, color="gray", ls="--", label="predict the mean: 1/6")
    ax.axhline(0.01, color="gray", ls=":", label="target 0.01")
    ax.set_yscale("log")
    ax.set_xlabel("step (a fresh batch each)")
    ax.set_ylabel("test MSE")
    ax.set_title(f"The adding problem, T = {T}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    return save_png(fig, path, dpi)


def plot_gradients(
    probes: dict[str, dict[str, dict[str, Tensor]]], T: int, path: str | Path, dpi: int = 80
) -> Path:
    """``probes[stage][cell]`` from :func:`hidden_gradients`; one panel per stage ("init", "trained")."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(probes), figsize=(5.5 * len(probes), 4), squeeze=False)
    steps = range(1, T + 1)
    for ax, (stage, cells) in zip(axes[0], probes.items()):
        for cell, norms in cells.items():
            ax.plot(steps, norms["h"].detach().numpy(), color=COLORS[cell], label=f"{LABELS[cell]}: dL/dh_t")
            if "c" in norms:
                ax.plot(steps, norms["c"].detach().numpy(), ":", color=COLORS[cell], label="LSTM: dL/dc_t")
        ax.set_yscale("log")
        ax.set_xlabel("t")
        ax.set_title(f"{stage}, T = {T}")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("mean ||dL/dh_t|| over the batch")
    axes[0][0].legend(fontsize=8)
    return save_png(fig, path, dpi)
