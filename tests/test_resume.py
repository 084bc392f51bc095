"""Crash-safe checkpoints: a run killed anywhere resumes to exactly the weights of an unbroken run.

A checkpoint is several files (weights, best weights, history, train_state.pt). The trainer makes
train_state.pt the unit and stamps the others with their epoch; these tests kill a save between
every pair of its writes, and a real training process with SIGKILL, and check that the resumed run
ends bitwise where the uninterrupted one does (or that resume refuses with a clear message).
"""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import Killed, XYBatch
from safetensors.torch import load_file
from torch import nn

from rnnkit.train import CheckpointError, TrainConfig, Trainer
from rnnkit.train import checkpoint as ckpt

# curves.png is drawn on a timer, not part of the checkpoint: keep it out of the write count
pytestmark = pytest.mark.usefixtures("no_plots")

EPOCHS = 3


def step(model, batch):
    loss = nn.functional.mse_loss(model(batch.x).squeeze(1), batch.y)
    return loss, {}, len(batch.y)


def batches(epoch, n=5, seed=0):
    gen = torch.Generator().manual_seed(seed * 1000 + epoch)
    out = []
    for _ in range(n):
        x = torch.randn(16, 3, generator=gen)
        out.append(XYBatch(x, torch.sin(x @ torch.tensor([1.0, -2.0, 0.5]))))
    return out


def make_trainer(run_dir, epochs=EPOCHS):
    torch.manual_seed(0)
    # dropout draws from torch's RNG every step: resume must restore it, not only the weights
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Dropout(0.3), nn.Linear(16, 1))
    config = TrainConfig(epochs=epochs, lr=0.05, monitor="val_loss")
    return Trainer(model, step, config, run_dir)


def fit(trainer):
    # validation alternates good and bad so that "best" is not always the last epoch
    return trainer.fit(batches, 5, lambda: batches(7 + trainer.epoch % 2, n=2))


def without_times(history):
    return [{k: v for k, v in row.items() if k not in ("seconds", "elapsed")} for row in history]


def snapshot(run_dir):
    return {
        "last": load_file(run_dir / ckpt.LAST),
        "best": load_file(run_dir / ckpt.BEST),
        "history": without_times(json.loads((run_dir / "history.json").read_text())),
    }


def assert_same_run(run_dir, reference):
    got = snapshot(run_dir)
    for name in ("last", "best"):
        assert got[name].keys() == reference[name].keys()
        for key, tensor in reference[name].items():
            assert torch.equal(got[name][key], tensor), f"{name}.safetensors differs at {key}"
    assert got["history"] == reference["history"]
    assert not list(run_dir.glob(f"{ckpt.TEMP_PREFIX}*")), "temporary files left behind"


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory, no_plots):
    run_dir = tmp_path_factory.mktemp("unbroken")
    writes = []
    real = ckpt.atomic_write

    def record(path, data):
        writes.append(Path(path).name)
        real(path, data)

    ckpt.atomic_write = record
    try:
        fit(make_trainer(run_dir))
    finally:
        ckpt.atomic_write = real
    reference = snapshot(run_dir)
    assert reference["history"][1]["val_loss"] != reference["history"][0]["val_loss"]
    return run_dir, reference, writes


def test_the_reference_run_exercises_a_best_epoch_that_is_not_the_last(unbroken):
    _, reference, writes = unbroken
    history = reference["history"]
    best = min(range(len(history)), key=lambda i: history[i]["val_loss"])
    assert best + 1 < len(history), "pick validation data whose best epoch is not the last"
    assert writes.count(ckpt.STATE) == EPOCHS


class Saboteur:
    """Stands in for the checkpoint's writes and dies at the ``kill_at``-th (counted from 1):
    before it starts (``where="before"``), or once its temporary file is complete but before the
    rename (``"after_temp_file"``)."""

    def __init__(self, kill_at, where):
        self.kill_at, self.where, self.count = kill_at, where, 0
        self.write, self.replace = ckpt.atomic_write, os.replace

    def atomic_write(self, path, data):
        self.count += 1
        if self.count == self.kill_at and self.where == "before":
            raise Killed
        self.write(path, data)

    def os_replace(self, src, dst):
        if self.count == self.kill_at and self.where == "after_temp_file":
            raise Killed
        self.replace(src, dst)


@pytest.mark.parametrize("where", ["before", "after_temp_file"])
def test_a_kill_between_any_two_writes_resumes_exactly(unbroken, tmp_path, where):
    _, reference, writes = unbroken
    # every write after the first epoch's checkpoint is complete
    for kill_at in range(writes.index(ckpt.STATE) + 2, len(writes) + 1):
        run_dir = tmp_path / f"{where}-{kill_at}"
        saboteur = Saboteur(kill_at, where)
        with pytest.MonkeyPatch.context() as patch, pytest.raises(Killed):
            patch.setattr(ckpt, "atomic_write", saboteur.atomic_write)
            patch.setattr(ckpt.os, "replace", saboteur.os_replace)
            fit(make_trainer(run_dir))
        resumed = make_trainer(run_dir)
        assert resumed.resume()
        fit(resumed)
        assert_same_run(run_dir, reference)


def test_stale_exports_are_rewritten_with_a_message(unbroken, tmp_path):
    _, reference, _ = unbroken
    run_dir = tmp_path / "run"
    fit(make_trainer(run_dir, epochs=1))
    state_after_1 = (run_dir / ckpt.STATE).read_bytes()
    trainer = make_trainer(run_dir, epochs=2)
    trainer.resume()
    fit(trainer)
    # epoch 2's exports, but epoch 1's state: as if killed just before the state was written
    (run_dir / ckpt.STATE).write_bytes(state_after_1)
    (run_dir / f"{ckpt.TEMP_PREFIX}{ckpt.STATE}.x1y2").write_bytes(b"half a file")
    messages = []
    resumed = make_trainer(run_dir)
    resumed.callbacks.append(type("Log", (), {"on_message": staticmethod(messages.append)})())
    assert resumed.resume() and resumed.epoch == 1
    assert any("removed .partial-train_state.pt" in m for m in messages)
    assert any("last.safetensors was from epoch 2; rewrote it" in m for m in messages)
    assert ckpt.weights_metadata(run_dir / ckpt.LAST)["epoch"] == "1"
    fit(resumed)
    assert_same_run(run_dir, reference)


def test_a_damaged_or_old_checkpoint_is_refused_in_one_line(tmp_path):
    run_dir = tmp_path / "run"
    fit(make_trainer(run_dir, epochs=1))
    state = torch.load(run_dir / ckpt.STATE, weights_only=True)
    state["format"] = 1
    ckpt.save_state(state, run_dir / ckpt.STATE)
    with pytest.raises(CheckpointError, match="older rnnkit .* --restart"):
        make_trainer(run_dir).resume()
    (run_dir / ckpt.STATE).write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="train_state.pt is damaged"):
        make_trainer(run_dir).resume()


def test_resume_needs_the_same_model(tmp_path):
    run_dir = tmp_path / "run"
    fit(make_trainer(run_dir, epochs=1))
    other = Trainer(nn.Linear(3, 1), step, TrainConfig(epochs=2), run_dir)
    with pytest.raises(CheckpointError, match="does not fit this model"):
        other.resume()


# -- a real kill -9 --------------------------------------------------------------------------------

KILL_EPOCHS, KILL_STEPS = 6, 20


def kill_trainer(run_dir, callbacks=()):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Dropout(0.3), nn.Linear(64, 1))
    config = TrainConfig(epochs=KILL_EPOCHS, lr=0.02, monitor="val_loss")
    return Trainer(model, step, config, run_dir, callbacks)


def kill_fit(trainer):
    trainer.fit(lambda e: batches(e, n=KILL_STEPS), KILL_STEPS, lambda: batches(7 + trainer.epoch % 2, n=2))


CHILD = textwrap.dedent(
    """
    import sys
    import torch
    sys.path.insert(0, {tests!r})
    import test_resume as t
    torch.set_num_threads(1)
    t.Trainer._plot = lambda self: None

    class Say:
        def on_step(self, index, logs):
            print("step", flush=True)

    trainer = t.kill_trainer(sys.argv[1], [Say()])
    trainer.resume()
    t.kill_fit(trainer)
    """
)


def run_and_kill(run_dir, kill_after_steps):
    """Train in a fresh process and SIGKILL it once it has taken ``kill_after_steps`` steps."""
    code = CHILD.format(tests=str(Path(__file__).parent))
    child = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE)
    steps = 0
    for line in child.stdout:
        steps += line.startswith(b"step")
        if steps >= kill_after_steps:
            child.send_signal(signal.SIGKILL)
            break
    child.stdout.close()
    return child.wait(timeout=120)


def test_kill_minus_9_at_random_moments_then_resume_equals_an_unbroken_run(tmp_path):
    kill_fit(kill_trainer(tmp_path / "unbroken"))  # the reference, in this process (1 thread too)
    reference = snapshot(tmp_path / "unbroken")
    run_dir = tmp_path / "killed"
    rng = random.Random(1234)
    for target in sorted(rng.sample(range(5, KILL_EPOCHS * KILL_STEPS - 5), 3)):  # three kills
        state = run_dir / ckpt.STATE
        done = torch.load(state, weights_only=True)["epoch"] * KILL_STEPS if state.is_file() else 0
        assert run_and_kill(run_dir, max(target - done, 1)) == -signal.SIGKILL
    trainer = kill_trainer(run_dir)
    assert trainer.resume()
    kill_fit(trainer)
    assert_same_run(run_dir, reference)


@pytest.mark.skipif(os.name != "posix", reason="file modes and umask are POSIX")
@pytest.mark.parametrize(
    ("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)], ids=["022", "077", "002"]
)
def test_run_files_honour_the_umask_like_open(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        ckpt.save_json({"epoch": 1}, tmp_path / "history.json")
        with open(tmp_path / "plain.txt", "w") as plain:  # what an ordinary write gives
            plain.write("x")
    finally:
        os.umask(previous)
    assert (tmp_path / "history.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == mode
    assert ckpt.current_umask() == previous  # read without changing it


@pytest.mark.skipif(os.name != "posix", reason="file modes and umask are POSIX")
def test_the_umask_is_read_and_left_unchanged_without_proc(monkeypatch):
    def no_proc(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(ckpt, "open", no_proc, raising=False)  # the module's open(): os.umask instead
    previous = os.umask(0o027)
    try:
        assert ckpt.current_umask() == 0o027 and ckpt.current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # still what it was
    finally:
        os.umask(previous)
