"""The shared trainer on a toy regression: early stopping, schedule, progress output, history."""

import io
import itertools
import json

import pytest
import torch
from helpers import toy_batches
from torch import nn

from rnnkit.errors import ConfigError
from rnnkit.train import CountBar, ProgressBar, TrainConfig, Trainer, TrainingError, resolve_device


def toy_step(model, batch):
    loss = nn.functional.mse_loss(model(batch.x).squeeze(1), batch.y)
    return loss, {}, len(batch.y)


def test_loss_falls_and_history_is_written(tmp_path):
    stream = io.StringIO()
    trainer = Trainer(
        nn.Linear(3, 1),
        toy_step,
        TrainConfig(epochs=3, lr=0.1, monitor="val_loss"),
        tmp_path,
        [ProgressBar(stream)],
    )
    history = trainer.fit(lambda epoch: toy_batches(), 4, lambda: toy_batches(seed=1))
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert json.loads((tmp_path / "history.json").read_text())[-1]["epoch"] == 3
    assert (tmp_path / "history.csv").read_text().splitlines()[0].startswith("epoch,loss,val_loss")
    text = stream.getvalue()
    assert "Epoch 1/3" in text and "4/4 [==============================]" in text and "val_loss:" in text


def test_target_stops_at_the_first_epoch_that_reaches_it(tmp_path):
    config = TrainConfig(epochs=30, lr=0.1, monitor="val_loss")
    torch.manual_seed(0)
    full = Trainer(nn.Linear(3, 1), toy_step, config, tmp_path / "full").fit(
        lambda epoch: toy_batches(), 4, lambda: toy_batches(seed=1)
    )
    target = full[5]["val_loss"] * 1.0001  # first reached at epoch 6 (the loss falls monotonically)
    torch.manual_seed(0)
    stream = io.StringIO()
    config = TrainConfig(epochs=30, lr=0.1, monitor="val_loss", target=target)
    trainer = Trainer(nn.Linear(3, 1), toy_step, config, tmp_path / "target", [ProgressBar(stream)])
    history = trainer.fit(lambda epoch: toy_batches(), 4, lambda: toy_batches(seed=1))
    first = next(i for i, row in enumerate(full) if row["val_loss"] < target)
    assert len(history) == first + 1 and history[-1]["val_loss"] < target
    assert "reached the target" in stream.getvalue()


def test_time_budget_sets_the_cosine_and_survives_resume(tmp_path):
    config = TrainConfig(epochs=5, lr=1.0, schedule="cosine", time_limit=10.0, monitor="loss")
    trainer = Trainer(nn.Linear(3, 1), toy_step, config, tmp_path)
    assert trainer._lr_at(0, 100, elapsed=300.0) == pytest.approx(0.5)  # half the budget: cos(pi/2)
    assert trainer._lr_at(90, 100, elapsed=60.0) < 0.1  # the step count can also end it first
    trainer.fit(lambda epoch: toy_batches(), 4)
    resumed = Trainer(nn.Linear(3, 1), toy_step, config, tmp_path)
    assert resumed.resume() and resumed.elapsed == pytest.approx(trainer.elapsed) and trainer.elapsed > 0


def test_early_stopping(tmp_path):
    stream = io.StringIO()
    config = TrainConfig(epochs=20, lr=0.05, patience=2, monitor="val_loss")
    trainer = Trainer(nn.Linear(3, 1), toy_step, config, tmp_path, [ProgressBar(stream)])
    # validation targets of the opposite sign: the better the fit, the worse the validation
    history = trainer.fit(lambda epoch: toy_batches(), 4, lambda: toy_batches(seed=1, sign=-1.0))
    assert len(history) == 3  # best at epoch 1, then 2 epochs without improvement
    assert "early stopping" in stream.getvalue()


def test_cosine_schedule_with_warmup(tmp_path):
    trainer = Trainer(nn.Linear(3, 1), toy_step, TrainConfig(lr=1.0, schedule="cosine", warmup=0.1), tmp_path)
    lrs = [trainer._lr_at(step, 100) for step in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[-1] < 0.01
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))


def test_bad_train_config():
    with pytest.raises(ValueError, match="schedule must be 'constant' or 'cosine', got 'step'"):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        TrainConfig(epochs=0)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_count_bar_draws_on_a_terminal_only():
    terminal = _Terminal()
    bar = CountBar("predicting", 2000, terminal, width=10)
    bar.update(0)
    bar.update(1000)  # within the refresh interval: not redrawn
    bar.update(2000)  # the end is always drawn
    bar.close()
    lines = terminal.getvalue().split("\r")
    assert lines[1].startswith("predicting 0/2,000 [>.........]")
    assert lines[-1].startswith("predicting 2,000/2,000 [==========]") and lines[-1].endswith("\n")
    assert len(lines) == 3
    log = io.StringIO()
    bar = CountBar("predicting", 10, log)
    bar.update(10)
    bar.close()
    assert log.getvalue() == ""  # a log or a pipe gets nothing


def test_validate_hook_logs_metrics_that_are_not_batch_means(tmp_path):
    seen = []

    def validate(model):
        seen.append((model.training, torch.is_grad_enabled()))
        return {"f1": 0.5 + 0.1 * len(seen)}

    config = TrainConfig(epochs=3, lr=0.1, monitor="val_f1")
    trainer = Trainer(nn.Linear(3, 1), toy_step, config, tmp_path)
    history = trainer.fit(lambda epoch: toy_batches(), 4, validate=validate)
    assert [row["val_f1"] for row in history] == pytest.approx([0.6, 0.7, 0.8])
    assert seen == [(False, False)] * 3 and trainer.best == pytest.approx(0.8)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_a_user_error_in_one_line(tmp_path, capsys):
    from rnnkit.cli import main
    from rnnkit.errors import ConfigError

    with pytest.raises(ConfigError, match="sees no GPU"):
        resolve_device("cuda")
    assert main(["ball", "--epochs", "1", "--set", "train.device=cuda", "--out", str(tmp_path / "x")]) == 2
    assert "error: device 'cuda' was asked for but torch sees no GPU" in capsys.readouterr().err


def test_an_epoch_without_batches_is_refused_and_the_run_stays_at_its_last_epoch(tmp_path):
    config = TrainConfig(epochs=3, lr=0.1, monitor="val_loss")
    trainer = Trainer(nn.Linear(3, 1), toy_step, config, tmp_path)
    with pytest.raises(TrainingError) as refused:  # the data runs out after the first epoch
        trainer.fit(lambda epoch: toy_batches() if epoch == 1 else [], 4, lambda: toy_batches(seed=1))
    message = str(refused.value)
    assert message.startswith("epoch 2 of 3 gave no training batches (4 were expected)")
    assert f"the run in {tmp_path} ends at epoch 1" in message and "more data" in message
    assert trainer.epoch == 1 and len(trainer.history) == 1
    assert [row["epoch"] for row in json.loads((tmp_path / "history.json").read_text())] == [1]
    resumed = Trainer(nn.Linear(3, 1), toy_step, config, tmp_path)
    assert resumed.resume() and resumed.epoch == 1 and resumed.history == trainer.history


def step_with_error(model, batch):
    """toy_step that also reports the summed absolute error (a metric the trainer averages)."""
    prediction = model(batch.x).squeeze(1)
    loss = nn.functional.mse_loss(prediction, batch.y)
    return loss, {"abs_error": (prediction - batch.y).abs().sum().item()}, len(batch.y)


class Steps:
    def __init__(self):
        self.count = 0

    def on_step(self, *_):
        self.count += 1


def test_a_monitor_naming_no_metric_is_refused_after_the_first_validation(tmp_path):
    steps = Steps()
    config = TrainConfig(epochs=3, lr=0.1, monitor="val_acuracy")
    trainer = Trainer(nn.Linear(3, 1), step_with_error, config, tmp_path, [steps])
    with pytest.raises(ConfigError) as refused:
        trainer.fit(lambda epoch: toy_batches(), 4, lambda: toy_batches(seed=1))
    assert str(refused.value) == (
        "train.monitor='val_acuracy' names no metric of this run, which reports abs_error, loss, "
        "val_abs_error, val_loss; set it to one of them (e.g. --set train.monitor=val_loss): a name "
        "ending in 'loss' is minimised, any other maximised"
    )
    assert steps.count == 4 and trainer.epoch == 0 and trainer.history == []  # one epoch, not recorded
    assert not (tmp_path / "train_state.pt").exists() and not (tmp_path / "history.json").exists()


def test_a_validation_monitor_without_validation_is_refused_at_the_first_step(tmp_path):
    trainer = Trainer(nn.Linear(3, 1), step_with_error, TrainConfig(epochs=3, lr=0.1), tmp_path)
    with pytest.raises(ConfigError) as refused:
        trainer.fit(lambda epoch: toy_batches(), 4)
    assert str(refused.value).startswith(
        "train.monitor='val_accuracy' names no metric of this run, which reports abs_error, loss; "
        "set it to one of them (e.g. --set train.monitor=loss)"
    )
    assert trainer.global_step == 1 and trainer.history == []  # refused after one step


def test_a_resumed_run_checks_its_monitor_before_training(tmp_path):
    config = TrainConfig(epochs=1, lr=0.1, monitor="val_loss")
    Trainer(nn.Linear(3, 1), toy_step, config, tmp_path).fit(
        lambda e: toy_batches(), 4, lambda: toy_batches(1)
    )
    steps = Steps()
    config = TrainConfig(epochs=2, lr=0.1, monitor="val_los")
    resumed = Trainer(nn.Linear(3, 1), toy_step, config, tmp_path, [steps])
    assert resumed.resume()
    with pytest.raises(
        ConfigError, match=r"'val_los' names no metric of this run, which reports loss, val_loss;"
    ):
        resumed.fit(lambda e: toy_batches(), 4, lambda: toy_batches(1))
    assert steps.count == 0


def test_monitoring_the_training_loss_keeps_the_lowest(tmp_path):
    # validation of the opposite sign: its loss grows while the training loss falls
    config = TrainConfig(epochs=4, lr=0.05, monitor="loss")
    trainer = Trainer(nn.Linear(3, 1), toy_step, config, tmp_path)
    history = trainer.fit(lambda epoch: toy_batches(), 4, lambda: toy_batches(seed=1, sign=-1.0))
    losses = [row["loss"] for row in history]
    assert trainer.best == min(losses) and trainer.best_epoch == 1 + losses.index(min(losses))
