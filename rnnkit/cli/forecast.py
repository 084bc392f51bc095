"""``rnnkit forecast``: the next value of any CSV column, an RNN/LSTM/GRU against naive baselines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..config import apply_overrides
from ..errors import ConfigError
from ..tasks import forecast
from ..train import ProgressBar


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "forecast",
        help="one-step forecasts of a CSV column: RNN/LSTM/GRU vs last value and seasonal naive",
        description="Train the lecture's SimpleRNN(50) -> Dense(64, relu) -> Dense(1) (or its LSTM/GRU "
        "counterpart) on a 70/15/15 chronological split of one CSV column, then print the test MAE/RMSE "
        "of the model and of the naive baselines in the column's units and write a forecast plot.",
    )
    parser.add_argument("--csv", required=True, help="a CSV file with a header row")
    parser.add_argument("--column", required=True, help="the numeric column to forecast")
    parser.add_argument("--cell", default="rnn", choices=["rnn", "lstm", "gru"], help="default: rnn")
    parser.add_argument("--window", type=int, help="past values per prediction (default 49)")
    parser.add_argument("--epochs", type=int, help="most epochs (default 100; early stopping after 10)")
    parser.add_argument(
        "--season",
        type=int,
        help="seasonal-naive period (default: 12 for YYYY-MM dates, 365 for daily YYYY-MM-DD dates; "
        "other data must name it, 1 for none)",
    )
    parser.add_argument("--out", help="run directory, overwritten (default: runs/forecast/CSVNAME-CELL)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads (default 1: the tensors are tiny, more only add overhead)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set hidden_size=32 --set train.lr=3e-4",
    )
    parser.set_defaults(func=cmd_forecast)


def _config(args: argparse.Namespace) -> forecast.ForecastConfig:
    overrides = [f"cell={args.cell}", *args.set]
    for flag, key in (
        ("window", "window"),
        ("epochs", "train.epochs"),
        ("season", "season"),
        ("seed", "train.seed"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    return apply_overrides(forecast.ForecastConfig(), overrides)


def cmd_forecast(args: argparse.Namespace) -> int:
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    if args.season is not None and args.season < 1:
        raise ConfigError(f"--season must be >= 1, got {args.season}; use 1 for no seasonality")
    config = _config(args)
    run_dir = Path(args.out or f"runs/forecast/{Path(args.csv).stem}-{config.cell}")
    torch.set_num_threads(args.threads)
    print(f"forecasting {args.column!r} of {args.csv} with {config.cell} into {run_dir}", file=sys.stderr)
    results = forecast.train(config, args.csv, args.column, run_dir, callbacks=[ProgressBar()])
    print(forecast.format_table(results))
    print(
        f"\n{results['epochs']} epochs (best {results['best_epoch']}), {results['seconds']:.0f} s; "
        f"run: {run_dir}  (plot: {run_dir / forecast.PLOT_FILE}, table: {run_dir / forecast.TABLE_FILE}, "
        f"predictions: {run_dir / forecast.PREDICTIONS_FILE})"
    )
    return 0


__all__ = ["add_parser"]
