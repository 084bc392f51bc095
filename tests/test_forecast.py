"""Forecasting on tiny synthetic CSVs: splits, scaling, baselines, learning, bad input, the CLI."""

import json
import math

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.config import apply_overrides
from rnnkit.data import series
from rnnkit.tasks import forecast
from rnnkit.train import checkpoint as ckpt

TINY = ["hidden_size=8", "dense_size=8", "train.lr=0.01"]


def write_csv(path, values, header=("Month", "Value"), dates=None):
    dates = dates or [f"{1900 + i // 12}-{i % 12 + 1:02d}" for i in range(len(values))]
    lines = [",".join(f'"{h}"' for h in header)] + [f'"{d}",{v}' for d, v in zip(dates, values)]
    path.write_text("\r\n".join(lines))  # CRLF and no final newline, like airline-passengers.csv
    return path


def config(*overrides):
    return apply_overrides(forecast.ForecastConfig(), [*TINY, *overrides])


# -- splits and scaling --------------------------------------------------------------------------


def test_split_is_chronological_disjoint_and_covers_every_target():
    split = forecast.split_series(100, config("window=10", "season=12"), season=12)
    assert (split.train, split.validation, split.test) == (range(10, 70), range(70, 85), range(85, 100))
    split = forecast.split_series(2820, config(), season=12)  # 0.7 * 2820 = 1973.9999999999998 in floats
    assert (split.train_end, len(split.validation), len(split.test)) == (1974, 423, 423)


def test_train_windows_read_only_the_past():
    values = np.arange(30, dtype=np.float64)  # y_t = t, so each window shows which rows it read
    batch = forecast.windows(values, range(5, 9), window=5)
    assert batch.x.shape == (4, 5, 1)
    assert batch.x[:, :, 0].tolist() == [[t - 5 + k for k in range(5)] for t in range(5, 9)]
    assert batch.y.tolist() == [5, 6, 7, 8]


def test_scaler_uses_the_training_rows_only(tmp_path):
    """Two series with the same first 70 rows and wildly different futures: identical scaling."""
    n = 100
    rng = np.random.default_rng(0)
    head = rng.normal(50.0, 5.0, size=70)
    calm = write_csv(tmp_path / "calm.csv", [*head, *rng.normal(50.0, 5.0, size=n - 70)])
    wild = write_csv(tmp_path / "wild.csv", [*head, *np.full(n - 70, 1e6)])
    cfg = config("window=10", "train.epochs=1")
    runs = [forecast.train(cfg, path, "Value", tmp_path / path.stem) for path in (calm, wild)]
    for results in runs:
        assert results["scaler"]["mean"] == pytest.approx(head.mean(), rel=1e-12)
        assert results["scaler"]["std"] == pytest.approx(head.std(), rel=1e-12)
        assert results["rows"] == {"all": 100, "train_targets": 60, "validation": 15}
    # the same past and seed: the same training, whatever the future holds
    histories = [json.loads((tmp_path / name / "history.json").read_text()) for name in ("calm", "wild")]
    assert histories[0][0]["loss"] == histories[1][0]["loss"]
    assert histories[0][0]["val_loss"] != histories[1][0]["val_loss"]


# -- baselines -----------------------------------------------------------------------------------


def test_baselines_and_errors_on_a_hand_checked_series():
    values = np.array([1, 3, 2, 5, 4, 6, 8, 7], dtype=np.float64)
    targets = range(5, 8)  # truth 6, 8, 7
    truth = values[5:]
    last = forecast.last_value(values, targets)
    seasonal = forecast.seasonal_naive(values, targets, season=4)
    assert last.tolist() == [4, 6, 8]
    assert seasonal.tolist() == [3, 2, 5]
    assert forecast.errors(last, truth) == pytest.approx({"mae": 5 / 3, "rmse": math.sqrt(3)})
    assert forecast.errors(seasonal, truth) == pytest.approx({"mae": 11 / 3, "rmse": math.sqrt(49 / 3)})


def test_season_is_inferred_from_monthly_and_daily_dates_only():
    assert series.infer_season(["1949-01", "1949-02"]) == 12
    assert series.infer_season(["1981-01-01", "1981-01-02"]) == 365
    assert series.infer_season(["1981-01-01", "1981-01-08"]) is None  # weekly
    assert series.infer_season(["1700", "1701"]) is None
    assert series.infer_season(None) is None


# -- learning ------------------------------------------------------------------------------------


def test_the_model_learns_a_sine_wave_better_than_last_value(tmp_path):
    t = np.arange(240)
    path = write_csv(tmp_path / "sine.csv", np.sin(2 * np.pi * t / 20).round(6))
    cfg = config("window=12", "hidden_size=16", "dense_size=16", "season=20", "train.epochs=12")
    results = forecast.train(cfg, path, "Value", tmp_path / "run")
    test = results["test"]
    # last value errs by |sin(x) - sin(x - 2π/20)|, about 0.2 on average; the RNN learns the wave
    values = np.sin(2 * np.pi * t / 20).round(6)
    assert test["last_value"]["mae"] == pytest.approx(np.abs(values[204:] - values[203:-1]).mean())
    assert test["model"]["mae"] < 0.25 * test["last_value"]["mae"]
    assert test["seasonal_naive"]["mae"] < 1e-6  # a clean wave repeats exactly after its period


def test_same_seed_same_numbers(tmp_path):
    path = write_csv(tmp_path / "noise.csv", np.random.default_rng(1).normal(size=80).round(4))
    cfg = config("window=6", "train.epochs=2")
    first, second = (forecast.train(cfg, path, "Value", tmp_path / name) for name in ("a", "b"))
    assert first["test"] == second["test"]
    assert first["best_val_loss"] == second["best_val_loss"]


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['"Month","Value"', '"1900-01",1', '"1900-02",NaN'], "line 3: column 'Value' is 'NaN'"),
        (
            ['"Month","Value"', '"1900-01",1', '"1900-02",12a'],
            "line 3: column 'Value' holds '12a', not a number",
        ),
        (['"Month","Value"', '"1900-01",', '"1900-02",2'], "line 2: column 'Value' is empty"),
        (['"Month","Value"', '"1900-01"', '"1900-02",2'], "line 2: column 'Value' is empty"),
        (['"Month","Value"'], "has a header but no rows"),
    ],
)
def test_bad_cells_name_the_line(tmp_path, lines, message):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n\n")
    with pytest.raises(ValueError, match=message):
        series.read_series(path, "Value")


def test_missing_column_lists_the_columns(tmp_path):
    path = write_csv(tmp_path / "x.csv", [1, 2, 3])
    with pytest.raises(ValueError, match=r"no column 'Passengers'; its columns are 'Month', 'Value'"):
        series.read_series(path, "Passengers")


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no CSV file at .*nope.csv"):
        series.read_series(tmp_path / "nope.csv", "Value")


def test_too_few_rows_says_how_many_are_needed(tmp_path):
    cfg = config("window=49")
    with pytest.raises(ValueError, match="has 60 values, too few for --window 49 .* at least 72 are needed"):
        forecast.split_series(60, cfg, season=12)
    split = forecast.split_series(72, cfg, season=12)  # the number it names is enough
    assert len(split.train) == 1 and len(split.test) >= 1
    with pytest.raises(ValueError, match="too few"):
        forecast.split_series(71, cfg, season=12)


def test_a_season_that_cannot_be_inferred_must_be_given(tmp_path):
    path = write_csv(
        tmp_path / "yearly.csv", range(100), ("Year", "Value"), [str(1800 + i) for i in range(100)]
    )
    with pytest.raises(ValueError, match=r"starts '1800'.*pass --season P"):
        forecast.train(config("window=5"), path, "Value", tmp_path / "run")


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    path = write_csv(tmp_path / "x.csv", [1, 2, 3])
    assert main(["forecast", "--csv", str(path), "--column", "Sales"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "its columns are 'Month', 'Value'" in err[-1]


# -- the command line end to end -----------------------------------------------------------------


def test_cli_end_to_end_writes_table_plot_and_checkpoint(tmp_path, capsys):
    t = np.arange(120)
    values = (100 + t + 10 * np.sin(2 * np.pi * t / 12)).round(6)
    path = write_csv(tmp_path / "monthly.csv", values, ("Month", "Sales"))
    out = tmp_path / "run"
    args = ["forecast", "--csv", str(path), "--column", "Sales", "--cell", "gru", "--window", "12"]
    args += ["--epochs", "2", "--out", str(out), "--seed", "3", "--set", "hidden_size=8"]
    assert main(args) == 0
    for name in (
        "best.safetensors",
        "config.json",
        "history.csv",
        "table.md",
        "forecast.png",
        "predictions.csv",
    ):
        assert (out / name).is_file(), name
    assert (out / "forecast.png").read_bytes()[:4] == b"\x89PNG"
    results = json.loads((out / "results.json").read_text())
    assert (results["cell"], results["season"], results["test_rows"]) == ("gru", 12, 18)
    # baselines on the test rows 102..119, by hand: last value misses by the step, seasonal naive by 12
    truth = values[102:]
    assert results["test"]["last_value"]["mae"] == pytest.approx(np.abs(values[101:119] - truth).mean())
    assert results["test"]["seasonal_naive"]["mae"] == pytest.approx(12.0, abs=1e-3)
    printed = capsys.readouterr().out
    assert "| seasonal naive (s=12) | 12.000 | 12.000 |" in printed
    assert printed.startswith((out / "table.md").read_text().strip())
    saved = json.loads((out / "config.json").read_text())
    assert (saved["cell"], saved["window"], saved["train"]["seed"]) == ("gru", 12, 3)
    model = forecast.Forecaster(forecast.ForecastConfig(cell="gru", window=12, hidden_size=8))
    ckpt.load_weights(model, out / "best.safetensors")  # the checkpoint rebuilds the model
    assert model(torch.zeros(1, 12, 1)).shape == (1,)
