"""``rnnkit forecast``: the next value of any CSV column, an RNN/LSTM/GRU against naive baselines."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from . import common

OPTIONS = (
    common.Override("--cell", "cell", str, "default: rnn", choices=("rnn", "lstm", "gru")),
    common.Override("--window", "window", int, "past values per prediction (default 49)"),
    common.EPOCHS.with_help("most epochs (default 100; early stopping after 10)"),
    common.Override(
        "--season",
        "season",
        int,
        "seasonal-naive period (default: 12 for YYYY-MM dates, 365 for daily YYYY-MM-DD dates; "
        "other data must name it, 1 for none)",
    ),
    common.SEED,
)


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
    common.add_overrides(
        parser, OPTIONS, "override any config field, e.g. --set hidden_size=32 --set train.lr=3e-4"
    )
    parser.add_argument("--out", help="run directory, overwritten (default: runs/forecast/CSVNAME-CELL)")
    common.add_threads(parser, "the tensors are tiny, more only add overhead")
    parser.set_defaults(func=cmd_forecast)


def cmd_forecast(args: argparse.Namespace) -> int:
    from ..tasks import forecast

    common.set_threads(args)
    if args.season is not None and args.season < 1:
        raise ConfigError(f"--season must be >= 1, got {args.season}; use 1 for no seasonality")
    config = common.config_from_args(forecast.ForecastConfig(), args, OPTIONS)
    run_dir = Path(args.out or f"runs/forecast/{Path(args.csv).stem}-{config.cell}")
    results = common.train_with_progress(
        lambda callbacks: forecast.train(config, args.csv, args.column, run_dir, callbacks),
        run_dir,
        f"forecasting {args.column!r} of {args.csv} with {config.cell}",
        resumable=False,
    )
    print(forecast.format_table(results))
    print(
        f"\n{results['epochs']} epochs (best {results['best_epoch']}), {results['seconds']:.0f} s; "
        f"run: {run_dir}  (plot: {run_dir / forecast.PLOT_FILE}, table: {run_dir / forecast.TABLE_FILE}, "
        f"predictions: {run_dir / forecast.PREDICTIONS_FILE})"
    )
    return 0


__all__ = ["add_parser"]
