"""Time-series forecasting (many-to-one): the next value of a series from the previous ``window``.

The lecture's sample model, with ``ForecastConfig()`` defaults (``cell="lstm"``/``"gru"`` swap the layer)::

    SimpleRNN(50) on (B, 49, 1) windows -> Dense(64, relu) -> Dense(1)

Recipe, for any one-column series in a CSV:

- **Splits**, chronological by the time step of the predicted value ``y_t``: the first 70% of the rows
  are training targets (those with a full window behind them, ``t >= window``), the next 15%
  validation, the last 15% test. A window may reach back into an earlier split: those values are
  the known past, never the future.
- **Scaling**: ``z = (y - mean) / std`` with the mean and std of the training rows only (a std of 0
  is replaced by 1); predictions are mapped back, ``y = z * std + mean``, and every error is in the
  column's own units.
- **Baselines** on the test split: last value ``ŷ_t = y_{t-1}`` and seasonal naive
  ``ŷ_t = y_{t-s}`` with season ``s``. ``season=0`` infers ``s`` from the first column's dates:
  12 for monthly ``YYYY-MM`` dates, 365 for daily ``YYYY-MM-DD`` dates; any other series needs an
  explicit season (1 makes seasonal naive equal last value).
- **Errors**: ``MAE = mean |ŷ_t - y_t|``, ``RMSE = sqrt(mean (ŷ_t - y_t)^2)`` over the test targets,
  all one-step-ahead (each prediction sees the true previous ``window`` values).
- **Training**: MSE on the scaled values, Adam, the shared :class:`rnnkit.train.Trainer` keeping the
  checkpoint with the lowest validation loss (``best.safetensors``) and stopping early.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import check_at_least_one
from ..data.series import Series, infer_season, read_series
from ..errors import ConfigError, InputError
from ..nn import GRU, LSTM, RNN
from ..train import RunKind, TrainConfig, Trainer
from ..train.template import Fit, Recipe, train_run

RESULTS_FILE, TABLE_FILE, PREDICTIONS_FILE, PLOT_FILE = (
    "results.json",
    "table.md",
    "predictions.csv",
    "forecast.png",
)
_LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


@dataclass
class ForecastConfig:
    cell: str = "rnn"  # "rnn" (the lecture's SimpleRNN) | "lstm" | "gru"
    window: int = 49  # past values W that predict the next one
    hidden_size: int = 50  # H
    dense_size: int = 64  # the Dense(64, relu) head
    season: int = 0  # seasonal-naive period s; 0: infer from the dates (monthly 12, daily 365)
    train_share: float = 0.70
    val_share: float = 0.15  # the test split is the rest
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=100, batch_size=32, lr=1e-3, patience=10, monitor="val_loss", clip_norm=1.0
        )
    )

    def __post_init__(self) -> None:
        if self.cell not in _LAYERS:
            raise ConfigError(f"cell must be one of {sorted(_LAYERS)}, got {self.cell!r}")
        if self.window < 1:
            raise ConfigError(f"window must be >= 1, got {self.window}; try --window 49")
        check_at_least_one(self, "hidden_size", "dense_size")
        if self.season < 0:
            raise ConfigError(f"season must be >= 1 (or 0 to infer it from the dates), got {self.season}")
        if not (self.train_share > 0 and self.val_share > 0 and self.train_share + self.val_share < 1):
            raise ConfigError(
                f"train_share and val_share must be > 0 and leave a test split (sum < 1), "
                f"got {self.train_share} and {self.val_share}"
            )


RUNS = RunKind("forecast", ForecastConfig)  # a fresh run each time: nothing is resumed


# -- splits, scaling, windows --------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Chronological target ranges: train ``[window, train_end)``, validation, test ``[val_end, n)``."""

    window: int
    train_end: int
    val_end: int
    n: int

    @property
    def train(self) -> range:
        return range(self.window, self.train_end)

    @property
    def validation(self) -> range:
        return range(self.train_end, self.val_end)

    @property
    def test(self) -> range:
        return range(self.val_end, self.n)


def _split_or_none(n: int, window: int, season: int, train_share: float, val_share: float) -> Split | None:
    # round first: 0.7 * 2820 is 1973.9999999999998 in floating point, and 1974 rows are 70%
    train_end = math.floor(round(n * train_share, 6))
    val_end = train_end + math.floor(round(n * val_share, 6))
    ok = train_end > window and val_end > train_end and n > val_end and val_end >= season
    return Split(window, train_end, val_end, n) if ok else None


def split_series(n: int, config: ForecastConfig, season: int, name: str = "the series") -> Split:
    """The splits of ``n`` rows, or an error saying how many rows the window, season and shares need."""
    shares = (config.train_share, config.val_share)
    split = _split_or_none(n, config.window, season, *shares)
    if split is None:
        need = next(
            m
            for m in range(n + 1, 100 * (n + config.window + season))
            if _split_or_none(m, config.window, season, *shares)
        )
        raise InputError(
            f"{name} has {n} values, too few for --window {config.window} and --season {season} with "
            f"{config.train_share:.0%}/{config.val_share:.0%}/rest splits: at least {need} are needed "
            "(more training values than the window, and the test split at least one season in); "
            "use a smaller --window or --season, or a longer series"
        )
    return split


@dataclass
class Scaler:
    """Standardisation ``z = (y - mean) / std`` with statistics of the training rows only."""

    mean: float
    std: float

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        std = float(values.std())
        return cls(float(values.mean()), std if std > 0 else 1.0)

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * self.std + self.mean


@dataclass
class WindowBatch:
    x: Tensor  # (B, W, 1) scaled past values
    y: Tensor  # (B,) the scaled value that follows

    def to(self, device: torch.device | str) -> WindowBatch:
        return WindowBatch(self.x.to(device), self.y.to(device))


def windows(scaled: np.ndarray, targets: range, window: int) -> WindowBatch:
    """Every ``(y_{t-W..t-1}, y_t)`` pair for ``t`` in ``targets``, as one batch."""
    views = np.lib.stride_tricks.sliding_window_view(scaled[:-1], window)  # (N-W, W): row i = y_{i..i+W-1}
    x = views[targets.start - window : targets.stop - window]  # (B, W)
    y = scaled[targets.start : targets.stop]  # (B,)
    return WindowBatch(torch.tensor(x, dtype=torch.float32)[:, :, None], torch.tensor(y, dtype=torch.float32))


def batches(data: WindowBatch, batch_size: int, shuffle: bool = False, seed: int = 0) -> list[WindowBatch]:
    n = len(data.y)
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    return [
        WindowBatch(data.x[order[i : i + batch_size]], data.y[order[i : i + batch_size]])
        for i in range(0, n, batch_size)
    ]


# -- baselines and errors ------------------------------------------------------------------------


def last_value(values: np.ndarray, targets: range) -> np.ndarray:
    """``ŷ_t = y_{t-1}`` for each ``t`` in ``targets``."""
    return values[targets.start - 1 : targets.stop - 1]


def seasonal_naive(values: np.ndarray, targets: range, season: int) -> np.ndarray:
    """``ŷ_t = y_{t-s}`` for each ``t`` in ``targets`` (needs ``targets.start >= s``)."""
    assert targets.start >= season, "split_series keeps the test split a season in"
    return values[targets.start - season : targets.stop - season]


def errors(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    diff = np.asarray(predicted, dtype=np.float64) - truth
    return {"mae": float(np.abs(diff).mean()), "rmse": float(np.sqrt((diff**2).mean()))}


# -- the model -----------------------------------------------------------------------------------


class Forecaster(nn.Module):
    """``x`` (B, W, 1) -> recurrent layer (H) -> h_W (B, H) -> Dense(dense_size, relu) -> Dense(1) -> (B,).

    The lecture's ``SimpleRNN(50)`` is ``cell="rnn"``, ``h_t = tanh(W_hh h_{t-1} + W_hx x_t + b)``;
    the prediction reads only the last hidden state (Keras's ``return_sequences=False``).
    """

    def __init__(self, config: ForecastConfig) -> None:
        super().__init__()
        self.recurrent = _LAYERS[config.cell](1, config.hidden_size)
        self.head = nn.Sequential(
            nn.Linear(config.hidden_size, config.dense_size), nn.ReLU(), nn.Linear(config.dense_size, 1)
        )
        for module in self.head:
            if isinstance(module, nn.Linear):  # Keras's Dense: Glorot-uniform kernel, zero bias
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        last, _ = self.recurrent(x, return_sequences=False)  # (B, H): h after the last step
        return self.head(last).squeeze(1)  # (B, H) -> (B, 1) -> (B,)


def step(model: nn.Module, batch: WindowBatch) -> tuple[Tensor, dict[str, float], int]:
    predicted = model(batch.x)  # (B,)
    loss = F.mse_loss(predicted, batch.y)
    return loss, {"scaled_mae": (predicted - batch.y).abs().sum().item()}, len(batch.y)


def predict(model: nn.Module, data: WindowBatch, scaler: Scaler) -> np.ndarray:
    """One-step predictions in the series' units."""
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        scaled = torch.cat([model(b.x.to(device)).cpu() for b in batches(data, 1024)])
    return scaler.inverse(scaled.double().numpy())


# -- a run ---------------------------------------------------------------------------------------


def resolve_season(config: ForecastConfig, series: Series) -> int:
    if config.season:
        return config.season
    season = infer_season(series.dates)
    if season is None:
        example = f" (its first column starts {series.dates[0]!r})" if series.dates else ""
        raise ConfigError(
            f"cannot infer a season from the dates{example}: only monthly YYYY-MM and daily YYYY-MM-DD "
            "dates are recognised; pass --season P (12 monthly, 365 daily, 1 for none)"
        )
    return season


@dataclass
class ForecastData:
    series: Series
    season: int
    split: Split
    scaler: Scaler
    train: WindowBatch
    validation: WindowBatch
    test: WindowBatch


class ForecastRecipe(Recipe[ForecastConfig, ForecastData]):
    """The forecasting task's parts for the run template; a run starts afresh each time."""

    runs = RUNS

    def __init__(self, csv_path: str | Path, column: str) -> None:
        self.csv_path, self.column = csv_path, column
        self.start = time.perf_counter()

    def prepare(self, config: ForecastConfig, saved: None) -> ForecastData:
        series = read_series(self.csv_path, self.column)
        season = resolve_season(config, series)
        split = split_series(len(series.values), config, season, f"{self.csv_path} column {self.column!r}")
        scaler = Scaler.fit(series.values[: split.train_end])
        scaled = scaler.transform(series.values)
        parts = (
            windows(scaled, targets, config.window) for targets in (split.train, split.validation, split.test)
        )
        return ForecastData(series, season, split, scaler, *parts)

    def decide(self, config: ForecastConfig, data: ForecastData) -> ForecastConfig:
        return dataclasses.replace(config, season=data.season)

    def build(self, config: ForecastConfig, data: ForecastData) -> Forecaster:
        return Forecaster(config)

    def step(self, config: ForecastConfig):
        return step

    def fit(self, config: ForecastConfig, data: ForecastData, trainer: Trainer, model: nn.Module) -> Fit:
        size, seed = config.train.batch_size, config.train.seed
        return Fit(
            lambda epoch: batches(data.train, size, shuffle=True, seed=seed * 1000 + epoch),
            math.ceil(len(data.train.y) / size),
            lambda: batches(data.validation, 1024),
        )

    def test(self, config: ForecastConfig, data: ForecastData, trainer: Trainer, model: nn.Module) -> dict:
        """The model's and the baselines' test errors; also writes the predictions, plot and table."""
        split, values, season = data.split, data.series.values, data.season
        truth = values[split.val_end :]
        forecasts = {
            "model": predict(model, data.test, data.scaler),
            "last_value": last_value(values, split.test),
            "seasonal_naive": seasonal_naive(values, split.test, season),
        }
        results = {
            "csv": str(self.csv_path),
            "column": self.column,
            "cell": config.cell,
            "window": config.window,
            "season": season,
            "rows": {"all": split.n, "train_targets": len(split.train), "validation": len(split.validation)},
            "test_rows": len(split.test),
            "scaler": {"mean": data.scaler.mean, "std": data.scaler.std},
            "test": {name: errors(predicted, truth) for name, predicted in forecasts.items()},
            "best_val_loss": trainer.best,
            "best_epoch": min(trainer.history, key=lambda row: row["val_loss"])["epoch"],
            "seconds": time.perf_counter() - self.start,  # reading, training and scoring
        }
        run_dir = trainer.run_dir
        dates = data.series.dates[split.val_end :] if data.series.dates else None
        _save_predictions(run_dir / PREDICTIONS_FILE, split.test, dates, truth, forecasts)
        title = f"{Path(self.csv_path).stem} ({self.column}): {config.cell.upper()}, window {config.window}"
        plot_forecast(run_dir / PLOT_FILE, truth, forecasts, dates, f"{title}, season {season}")
        (run_dir / TABLE_FILE).write_text(format_table(results) + "\n")
        return results


def train(
    config: ForecastConfig, csv_path: str | Path, column: str, run_dir: str | Path, callbacks=()
) -> dict:
    """Fit the model on ``csv_path[column]`` into ``run_dir`` and score it and the baselines on test."""
    return train_run(ForecastRecipe(csv_path, column), config, run_dir, callbacks, resume=False)


def format_table(results: dict) -> str:
    """The test errors as a Markdown table, in the column's units."""
    names = {
        "model": f"{results['cell'].upper()} (window {results['window']})",
        "last_value": "last value",
        "seasonal_naive": f"seasonal naive (s={results['season']})",
    }
    lines = [
        f"test split of {results['column']!r}: {results['test_rows']} one-step forecasts",
        "",
        "| forecast | MAE | RMSE |",
        "|---|---:|---:|",
    ]
    for key, name in names.items():
        lines.append(f"| {name} | {results['test'][key]['mae']:.3f} | {results['test'][key]['rmse']:.3f} |")
    return "\n".join(lines)


def _save_predictions(path: Path, targets: range, dates, truth, forecasts: dict[str, np.ndarray]) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["t", "date", "truth", *forecasts])
        for i, t in enumerate(targets):
            row = [f"{forecasts[name][i]:.6g}" for name in forecasts]
            writer.writerow([t, dates[i] if dates else "", f"{truth[i]:.6g}", *row])


def plot_forecast(
    path: str | Path, truth: np.ndarray, forecasts: dict[str, np.ndarray], dates=None, title: str = ""
) -> Path:
    """The test split: truth, the model's one-step predictions and seasonal naive, against time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6))
    steps = np.arange(len(truth))
    ax.plot(steps, truth, color="black", linewidth=1.4, label="truth")
    for name, label, color in (
        ("model", "model, one step ahead", "tab:blue"),
        ("seasonal_naive", "seasonal naive", "tab:orange"),
    ):
        mae = errors(forecasts[name], truth)["mae"]
        ax.plot(steps, forecasts[name], color=color, linewidth=1.0, label=f"{label} (MAE {mae:.3g})")
    if dates:
        ticks = np.linspace(0, len(dates) - 1, min(6, len(dates))).astype(int)
        ax.set_xticks(ticks, [dates[i] for i in ticks])
    ax.set_xlabel("test split")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
