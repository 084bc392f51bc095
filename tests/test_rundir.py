"""Run directories (rnnkit.train.rundir): presets, resume checks, the task record, loading."""

import dataclasses
import json
import re
from dataclasses import dataclass, field

import pytest
import torch
from helpers import XYBatch
from torch import nn

from rnnkit.cli import main
from rnnkit.config import apply_overrides
from rnnkit.errors import ConfigError
from rnnkit.tasks import sentiment
from rnnkit.train import RUN_FILE, CheckpointError, RunKind, TrainConfig
from rnnkit.train import checkpoint as ckpt


@dataclass
class ToyModelConfig:
    vocab_size: int = 10
    hidden_size: int = 4


@dataclass
class ToyConfig:
    vocab_size: int = 10  # decided by the data when the run begins
    model: ToyModelConfig = field(default_factory=ToyModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


TOY = RunKind(
    "toy",
    ToyConfig,
    {"small": ToyConfig()},
    may_change=("train.epochs", "train.time_limit"),
    from_data=("vocab_size", "model.vocab_size"),
    files=("vocab.json",),
)


def build(config: ToyConfig) -> nn.Module:
    return nn.Linear(config.model.hidden_size, config.model.vocab_size)


def toy(*overrides: str) -> ToyConfig:
    return apply_overrides(ToyConfig(), list(overrides))


def test_preset_by_name():
    assert TOY.preset("small") == ToyConfig()
    with pytest.raises(ConfigError, match="unknown preset 'big'; choose one of small"):
        TOY.preset("big")


def test_resume_takes_the_asked_epochs_and_budget_and_the_saved_vocabulary(tmp_path):
    saved = toy("vocab_size=37", "model.vocab_size=37", "train.epochs=3")
    asked = toy("train.epochs=8", "train.time_limit=2.5")  # vocab_size as a new run would begin
    resumed = TOY.resumable(saved, asked, tmp_path)
    assert resumed == toy("vocab_size=37", "model.vocab_size=37", "train.epochs=8", "train.time_limit=2.5")
    assert TOY.resumable(saved, saved, tmp_path) == saved


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("model.hidden_size=8", "model.hidden_size: 4 saved, 8 asked"),
        ("train.lr=0.5", "train.lr: 0.0001 saved, 0.5 asked"),
        ("train.seed=1", "train.seed: 0 saved, 1 asked"),
    ],
)
def test_resume_refuses_any_other_change(tmp_path, override, named):
    with pytest.raises(ConfigError) as refused:
        TOY.resumable(toy(), toy(override, "train.epochs=20"), tmp_path / "run")
    message = str(refused.value)
    assert f"{tmp_path / 'run'} holds a run with other settings ({named})" in message
    assert "only train.epochs, train.time_limit may change" in message and "a new --out" in message
    assert isinstance(refused.value, ValueError)  # what library code caught before


@dataclass
class InitToyConfig:
    init: str = ""  # a run to start from: a new run takes its sizes, whatever the command says
    model: ToyModelConfig = field(default_factory=ToyModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


INIT_TOY = RunKind(
    "init-toy", InitToyConfig, from_data=("model.vocab_size",), from_init=("model.hidden_size",)
)


def test_sizes_from_an_init_run_are_kept_on_resume_and_compared_without_one(tmp_path):
    saved = InitToyConfig("runs/lm", ToyModelConfig(vocab_size=37, hidden_size=64))
    asked = apply_overrides(InitToyConfig("runs/lm"), ["model.hidden_size=8", "train.epochs=20"])
    resumed = INIT_TOY.resumable(saved, asked, tmp_path)  # a new run would have taken runs/lm's 64
    assert resumed == apply_overrides(saved, ["train.epochs=20"])
    own = InitToyConfig(model=ToyModelConfig(vocab_size=37, hidden_size=64))
    with pytest.raises(ConfigError, match=r"other settings \(model.hidden_size: 64 saved, 8 asked\)"):
        INIT_TOY.resumable(own, apply_overrides(InitToyConfig(), ["model.hidden_size=8"]), tmp_path)
    assert INIT_TOY.resumable(own, InitToyConfig(model=ToyModelConfig(hidden_size=64)), tmp_path) == own
    with pytest.raises(ConfigError, match=r"other settings \(init: 'runs/lm' saved, '' asked"):
        INIT_TOY.resumable(saved, apply_overrides(InitToyConfig(), ["model.hidden_size=64"]), tmp_path)
    with pytest.raises(TypeError, match="from_init needs a config with an 'init' field; ToyConfig has none"):
        RunKind("toy", ToyConfig, from_init=("model.hidden_size",))


def test_save_and_load_config_record_the_task(tmp_path):
    config = toy("model.hidden_size=6")
    TOY.save_config(config, tmp_path)
    assert json.loads((tmp_path / RUN_FILE).read_text())["task"] == "toy"
    assert TOY.load_config(tmp_path) == config
    model = build(config)
    ckpt.save_weights(model, tmp_path / ckpt.BEST)
    loaded, loaded_config = TOY.load_model(tmp_path, build)
    assert loaded_config == config and not loaded.training
    torch.testing.assert_close(loaded.weight, model.weight, rtol=0, atol=0)


def test_a_run_of_another_task_is_refused_in_one_line(tmp_path):
    TOY.save_config(ToyConfig(), tmp_path)
    other = RunKind("language-model", ToyConfig)
    with pytest.raises(
        CheckpointError, match=rf"^{re.escape(str(tmp_path))} is a toy run, not a language-model run$"
    ):
        other.load_config(tmp_path)
    with pytest.raises(CheckpointError, match="is a toy run, not a language-model run"):
        other.save_config(ToyConfig(), tmp_path)  # nor overwritten by another task's training
    assert TOY.load_config(tmp_path) == ToyConfig()


def test_the_tasks_refuse_each_others_runs(tmp_path, capsys):
    run = tmp_path / "shakespeare"
    run.mkdir()
    ckpt.save_json({"task": "language-model", "rnnkit": "0.1.0"}, run / RUN_FILE)
    with pytest.raises(CheckpointError, match="shakespeare is a language-model run, not a sentiment run"):
        sentiment.load_run(run)
    assert main(["sentiment", "predict", str(run), "a fine film"]) == 2
    assert capsys.readouterr().err == f"error: {run} is a language-model run, not a sentiment run\n"


def test_a_run_from_before_the_record_still_loads(tmp_path):
    config = toy("model.hidden_size=3")
    ckpt.save_json(dataclasses.asdict(config), tmp_path / ckpt.CONFIG)  # as runs were written before
    ckpt.save_weights(build(config), tmp_path / ckpt.BEST)
    assert not (tmp_path / RUN_FILE).exists()
    model, loaded = TOY.load_model(tmp_path, build)
    assert loaded == config and model.weight.shape == (10, 3)


def test_missing_or_damaged_config(tmp_path):
    with pytest.raises(CheckpointError, match="no run directory at .*nowhere"):
        TOY.load_config(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match=r"no config.json in .* \(is it a run directory\?\)"):
        TOY.load_config(tmp_path)
    (tmp_path / ckpt.CONFIG).write_text("{ not json")
    with pytest.raises(CheckpointError, match="config.json is damaged"):
        TOY.load_config(tmp_path)
    (tmp_path / ckpt.CONFIG).write_text(json.dumps({"vocab_size": 10, "colour": "red"}))
    with pytest.raises(CheckpointError, match=r"config.json is not a toy config \(unknown keys .*'colour'"):
        TOY.load_config(tmp_path)
    (tmp_path / RUN_FILE).write_text("[1, 2")
    with pytest.raises(CheckpointError, match="run.json is damaged"):
        TOY.load_config(tmp_path)


def test_missing_weights(tmp_path):
    TOY.save_config(ToyConfig(), tmp_path)
    with pytest.raises(CheckpointError, match="no weights at .*best.safetensors"):
        TOY.load_model(tmp_path, build)


def test_clear_removes_the_run_and_keeps_other_files(tmp_path):
    TOY.save_config(ToyConfig(), tmp_path)
    for name in ("vocab.json", ckpt.BEST, "notes.txt"):
        (tmp_path / name).write_text("x")
    TOY.clear(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


class Messages:
    def __init__(self):
        self.lines = []

    def on_message(self, text):
        self.lines.append(text)


def regression_step(model, batch):
    loss = nn.functional.mse_loss(model(batch.x), batch.y)
    return loss, {}, len(batch.y)


def test_trainer_resumes_where_the_run_stopped(tmp_path):
    gen = torch.Generator().manual_seed(0)
    data = [XYBatch(torch.randn(8, 4, generator=gen), torch.randn(8, 10, generator=gen)) for _ in range(3)]
    config = TrainConfig(epochs=1, lr=0.01, monitor="val_loss")
    TOY.trainer(build(ToyConfig()), regression_step, config, tmp_path).fit(
        lambda epoch: data, 3, lambda: data
    )
    said = Messages()
    resumed = TOY.trainer(build(ToyConfig()), regression_step, config, tmp_path, [said])
    assert resumed.epoch == 1 and said.lines[-1] == f"resuming the toy run in {tmp_path} after epoch 1"
    fresh = TOY.trainer(build(ToyConfig()), regression_step, config, tmp_path, resume=False)
    assert fresh.epoch == 0
