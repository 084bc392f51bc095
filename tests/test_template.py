"""The run template (rnnkit.train.template): the steps every task's train takes, in order, on a toy
recipe: a new run writes its files and results; a resume reads them back, goes on, and refuses a
changed setting; the test scores come from the best weights."""

import json
from dataclasses import dataclass, field

import pytest
from helpers import toy_batches
from torch import nn

from rnnkit.errors import ConfigError
from rnnkit.train import RunKind, TrainConfig
from rnnkit.train import checkpoint as ckpt
from rnnkit.train.template import RESULTS_FILE, Fit, Recipe, train_run


@dataclass
class ToyConfig:
    width: int = 3
    decided: int = 0  # set from the data by a new run
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=2, lr=0.1, monitor="val_loss"))


class Toy(Recipe[ToyConfig, dict]):
    runs = RunKind(
        "toy", ToyConfig, may_change=("train.epochs",), from_data=("decided",), files=("vocab.txt",)
    )

    def __init__(self):
        self.calls = []

    def load_saved(self, run_dir, config):
        self.calls.append("load_saved")
        return (run_dir / "vocab.txt").read_text()

    def prepare(self, config, saved):
        self.calls.append(f"prepare({saved})")
        return {
            "vocab": saved or "abc",
            "train": toy_batches(4, 0, rows=8),
            "validation": toy_batches(2, 1, sign=-1.0, rows=8),
        }  # learning makes it worse

    def decide(self, config, data):
        self.calls.append("decide")
        return ToyConfig(config.width, len(data["vocab"]), config.train)

    def save_new(self, config, data, run_dir):
        self.calls.append("save_new")
        (run_dir / "vocab.txt").write_text(data["vocab"])

    def build(self, config, data):
        self.calls.append("build")
        return nn.Linear(config.width, 1)

    def step(self, config):
        def step(model, batch):
            return nn.functional.mse_loss(model(batch.x).squeeze(1), batch.y), {}, len(batch.y)

        return step

    def fit(self, config, data, trainer, model):
        self.calls.append("fit")
        return Fit(lambda epoch: data["train"], len(data["train"]), lambda: data["validation"])

    def test(self, config, data, trainer, model):
        self.calls.append("test")
        return {"weight": model.weight.detach().tolist()}


def test_a_new_run_then_a_resume_take_the_template_steps(tmp_path):
    run = tmp_path / "run"
    toy = Toy()
    results = train_run(toy, ToyConfig(), run)
    assert toy.calls == ["prepare(None)", "decide", "save_new", "build", "fit", "test"]
    assert json.loads((run / ckpt.CONFIG).read_text())["decided"] == 3
    assert json.loads((run / "run.json").read_text())["task"] == "toy"
    saved = json.loads((run / RESULTS_FILE).read_text())
    assert saved["epochs"] == 2 and saved["parameters"] == 4 and saved["best_val"] == results["best_val"]
    # the test scores come from the best weights (here the first epoch's), loaded before test()
    best, last = nn.Linear(3, 1), nn.Linear(3, 1)
    ckpt.load_weights(best, run / ckpt.BEST)
    ckpt.load_weights(last, run / ckpt.LAST)
    assert results["weight"] == best.weight.detach().tolist() != last.weight.detach().tolist()
    assert results["best_val"] == json.loads((run / "history.json").read_text())[0]["val_loss"]

    again = Toy()
    longer = ToyConfig(train=TrainConfig(epochs=3, lr=0.1, monitor="val_loss"))
    resumed = train_run(again, longer, run)
    assert again.calls == ["load_saved", "prepare(abc)", "build", "fit", "test"]  # no decide, no save_new
    assert resumed["epochs"] == 3
    assert json.loads((run / ckpt.CONFIG).read_text())["train"]["epochs"] == 3
    with pytest.raises(ConfigError, match="width: 3 saved, 4 asked"):
        train_run(Toy(), ToyConfig(width=4, train=longer.train), run)


def test_a_fresh_run_leaves_no_older_state_to_resume(tmp_path):
    """resume=False starts afresh: an older run's train_state.pt in the folder is removed at once, so
    an interruption before the first epoch ends cannot leave it beside the new config."""
    run = tmp_path / "run"
    train_run(Toy(), ToyConfig(), run)
    seen = []

    class Watch(Toy):
        def build(self, config, data):
            seen.append((run / ckpt.STATE).exists())
            return super().build(config, data)

    train_run(Watch(), ToyConfig(), run, resume=False)
    assert seen == [False]


def test_a_recipe_must_give_its_parts():
    class Half(Recipe):
        runs = Toy.runs

        def prepare(self, config, saved):
            return None

    with pytest.raises(TypeError, match="abstract"):
        Half()
