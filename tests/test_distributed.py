"""Training on several processes (torchrun, DDP, gloo on 127.0.0.1) equals training in one.

The numbers: two processes, forked from this one, train each task's model (float64) on their
shares of the same global batches as a single process; every step's averaged gradients, the
weights after the last step, and the logged losses and metrics equal the single process's. The
shares: balanced, each row once, a stand-in where a batch has fewer rows than processes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from helpers import PRETRAIN_TINY, tagger_config
from safetensors.torch import load_file

from rnnkit.cli import build_parser, common, main
from rnnkit.cli import sentiment as sentiment_cli
from rnnkit.data import DataError
from rnnkit.data.batching import SequenceDataset, Shard, Share
from rnnkit.data.conll import Sentence
from rnnkit.data.text import TextStreams, TokenStreams
from rnnkit.errors import ConfigError
from rnnkit.models import ClassifierConfig, SequenceClassifier
from rnnkit.models.charlm import CharLM, CharLMConfig
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.models.tagger import SequenceTagger
from rnnkit.models.wordlm import WordLM, WordLMConfig
from rnnkit.tasks import charlm, pretrain, sentiment, tag
from rnnkit.tasks.translate import make_step
from rnnkit.tasks.translate.data import PairDataset
from rnnkit.train import TrainConfig, Trainer, distributed

# -- the balanced deal ---------------------------------------------------------------------------


def test_shards_deal_every_row_once_with_balanced_tokens():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=50)
    indices = rng.permutation(50)[:37]
    for world in (1, 2, 3, 5):
        parts = [Shard(rank, world).rows(indices, lengths) for rank in range(world)]
        assert sorted(np.concatenate(parts).tolist()) == sorted(indices.tolist())
        for part in parts:  # each keeps the global batch's order
            order = [list(indices).index(i) for i in part]
            assert order == sorted(order)
        tokens = [int(lengths[p].sum()) for p in parts]
        assert max(tokens) - min(tokens) <= lengths[indices].max()  # the greedy deal's bound
    assert [len(Shard(r, 4).rows(indices[:2], lengths)) for r in range(4)] == [1, 1, 0, 0]
    blocks = [Shard(r, 3).block(8) for r in range(3)]
    assert [(b.start, b.stop) for b in blocks] == [(0, 3), (3, 6), (6, 8)]
    with pytest.raises(ValueError, match=r"rank must be in \[0, 2\)"):
        Shard(2, 2)


def test_a_process_without_rows_gets_a_stand_in():
    dataset = SequenceDataset([[1, 2, 3], [4, 5]], [1, 0], max_len=10)
    shares = [list(dataset.batches(8, shard=Shard(rank, 3))) for rank in range(3)]
    assert all(len(s) == 1 and isinstance(s[0], Share) for s in shares)
    assert [s[0].empty for s in shares] == [False, False, True]
    assert sorted(s[0].batch.indices[0] for s in shares[:2]) == [0, 1]


# -- two processes == one, float64, every task ------------------------------------------------------

STEPS = {"sentiment": 3, "charlm": 4, "tag": 3, "translate": 3, "pretrain": 3}  # steps per epoch; 2 epochs


def _case(model, step, train, val, shard):
    """A case's (model, step, training batches by epoch, validation batches) from a ``(dataset,
    batch size)`` for each, for datasets whose ``batches`` reshuffle with the epoch as the seed."""
    (train_data, train_size), (val_data, val_size) = train, val
    return (
        model,
        step,
        lambda epoch: train_data.batches(train_size, shuffle=True, seed=epoch, shard=shard),
        lambda: val_data.batches(val_size, shard=shard),
    )


def _sentiment(shard):
    rng = np.random.default_rng(0)

    def data(n):
        lengths = rng.integers(1, 13, size=n)
        return SequenceDataset([rng.integers(1, 20, size=k) for k in lengths], rng.integers(0, 2, size=n), 20)

    train, val = data(17), data(7)  # batches of 8, 8 and 1 row: the last leaves a process without rows
    model = SequenceClassifier(ClassifierConfig(vocab_size=20, embed_dim=4, hidden_sizes=(5,), dense_size=4))
    return _case(model, sentiment.step, (train, 8), (val, 5), shard)


def _charlm(shard):
    ids = np.random.default_rng(1).integers(0, 10, size=3 * 20 + 1)
    train, val = TextStreams(ids, 3, 4), TextStreams(ids[:40], 3, 8)  # 3 streams: rows 2 and 1
    model = CharLM(CharLMConfig(vocab_size=10, embed_dim=4, hidden_size=6))
    return (
        model,
        charlm.StatefulStep(),
        lambda epoch: train.batches(offset=epoch, shard=shard),
        lambda: val.full_pass(shard=shard),
    )


def _tag(shard):
    rng = np.random.default_rng(2)
    words = ["Harry", "met", "Paris", "in", "june", "the", "Potter", "Granger"]

    def sentence():
        n = int(rng.integers(1, 9))
        tags = [str(rng.choice(["O", "B-PER", "B-LOC"])) for _ in range(n)]
        tags = [
            t if i == 0 or t == "O" or rng.random() < 0.5 else "I" + tags[i - 1][1:]
            for i, t in enumerate(tags)
        ]
        tags = [t if not t.startswith("I") or tags[i - 1] != "O" else "O" for i, t in enumerate(tags)]
        return Sentence([str(w) for w in rng.choice(words, size=n)], tags)

    config = tag.TagConfig()
    sentences = [sentence() for _ in range(19)]
    vocab = tag.Vocabularies.build(sentences, config)
    dataset = tag.TagDataset([s.tokens for s in sentences], vocab, config, [s.tags for s in sentences])
    sizes = {"word_dim": 4, "char_dim": 3, "char_hidden": 3, "casing_dim": 2, "hidden_size": 4}
    model = SequenceTagger(tagger_config(vocab, **sizes, dropout=0.0, word_dropout=0.0))
    return _case(model, tag.step, (dataset, 7), (dataset, 6), shard)


def _translate(shard):
    rng = np.random.default_rng(3)
    sources = [list(rng.integers(3, 12, size=int(rng.integers(1, 8)))) for _ in range(13)]
    targets = [list(rng.integers(3, 12, size=int(rng.integers(1, 8)))) for _ in range(13)]
    dataset = PairDataset(sources, targets, max_tokens=10)
    config = Seq2SeqConfig(
        source_vocab=12, target_vocab=12, embed_size=4, hidden_size=4, decoder_size=6, dropout=0.0
    )
    return _case(Seq2Seq(config), make_step(0.1), (dataset, 5), (dataset, 4), shard)


def _pretrain(shard):
    ids = np.random.default_rng(4).integers(0, 30, size=5 * 22 + 1).astype(np.uint16)
    streams = [TokenStreams(ids, 5, 3, reverse=r) for r in (False, True)]  # 5 streams: rows 3 and 2
    checks = [TokenStreams(ids[:41], 3, 6, reverse=r) for r in (False, True)]
    slices = pretrain.Slices(streams, 2, seed=0, shard=shard)  # 2 slices of 3 chunks a pass
    assert slices.size == STEPS["pretrain"]
    model = WordLM(WordLMConfig(vocab_size=30, embed_dim=4, hidden_size=5, dropout=0.0, cutoffs=(10, 20)))
    return model, pretrain.PretrainStep(), slices, lambda: pretrain.validation_pass(checks, shard)


CASES = {
    "sentiment": _sentiment,
    "charlm": _charlm,
    "tag": _tag,
    "translate": _translate,
    "pretrain": _pretrain,
}


class Grads:
    """A callback that keeps every step's gradients (after DDP's average, before clipping... and
    after: the trainer clips before on_step, which is what the single process does too)."""

    def __init__(self, model):
        self.model, self.steps = model, []

    def on_step(self, index, logs):
        self.steps.append(
            {n: p.grad.detach().clone() for n, p in self.model.named_parameters() if p.grad is not None}
        )


def train_case(name, run_dir, shard=None):
    torch.manual_seed(0)
    model, step, train_batches, val_batches = CASES[name](shard)
    model = model.double()
    grads = Grads(model)
    config = TrainConfig(epochs=2, lr=0.01, clip_norm=1.0, monitor="val_loss")
    trainer = Trainer(model, step, config, run_dir, [grads])
    assert trainer.shard == shard
    history = trainer.fit(train_batches, STEPS[name], val_batches)
    weights = {n: t.detach().clone() for n, t in model.state_dict().items()}
    times = ("seconds", "elapsed")
    return {
        "grads": grads.steps,
        "weights": weights,
        "history": [{k: v for k, v in row.items() if k not in times} for row in history],
    }


def _worker(rank, world, port, out):
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    results = {name: train_case(name, os.path.join(out, f"{name}-run"), Shard(rank, world)) for name in CASES}
    results["mismatch"] = resume_elsewhere(rank, world, out)
    torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def resume_elsewhere(rank, world, out):
    """Rank 0 resumes the finished sentiment run, rank 1 finds no checkpoint: the error each raises."""
    model, step, train_batches, val_batches = _sentiment(Shard(rank, world))
    run = os.path.join(out, "sentiment-run" if rank == 0 else "elsewhere")
    trainer = Trainer(model.double(), step, TrainConfig(epochs=3), run)
    assert trainer.resume() == (rank == 0)
    with pytest.raises(distributed.DistributedError) as error:
        trainer.fit(train_batches, STEPS["sentiment"], val_batches)
    return str(error.value)


def test_processes_that_would_resume_different_checkpoints_stop_before_training(runs):
    for rank in runs[1]:
        assert rank["mismatch"].startswith("the processes would start at different epochs (2, 0 by rank)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, no_plots):  # the forked children inherit the trainer without curves.png
    """Each case trained by one process, then by two: ``(single, [rank 0, rank 1], folder)``."""
    out = tmp_path_factory.mktemp("ddp")
    single = {name: train_case(name, out / f"{name}-single") for name in CASES}
    # fork: the children start at once, warm, with this process's imports (it runs no CPU threads)
    mp.start_processes(_worker, args=(2, free_port(), str(out)), nprocs=2, start_method="fork")
    return single, [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)], out


def assert_close(a, b, what):
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("name", list(CASES))
def test_two_processes_equal_one_in_float64(runs, name):
    single, ranks, out = runs
    single = single[name]
    assert len(single["grads"]) == 2 * STEPS[name]
    for rank in ranks:
        got = rank[name]
        assert len(got["grads"]) == len(single["grads"])
        for k, (g, s) in enumerate(zip(got["grads"], single["grads"])):
            assert g.keys() == s.keys(), f"{name} step {k + 1}: other weights have gradients"
            for p in s:
                assert_close(g[p], s[p], f"{name} step {k + 1} gradient of {p}")
        for p, tensor in single["weights"].items():
            assert_close(got["weights"][p], tensor, f"{name} weight {p}")
        assert got["history"][0].keys() == single["history"][0].keys()
        for row, expected in zip(got["history"], single["history"]):
            for key, value in expected.items():
                assert row[key] == pytest.approx(value, rel=1e-9), f"{name} history {key}"
    run = out / f"{name}-run"
    assert (run / "train_state.pt").is_file() and (run / "processes.json").is_file()


# -- the command line: --nproc, two machines, a killed worker -------------------------------------

# The tiny recipe of tests/test_cli.py: whole words of a made-up sentiment, max-pooled.
TINY_CLI = [
    *("--set", "tokenizer=word", "--set", "vocab_size=300", "--set", "model.embed_dim=8"),
    *("--set", "model.hidden_sizes=8", "--set", "model.dense_size=8", "--set", "model.pooling=max"),
    *("--set", "train.monitor=val_loss", "--batch-size", "16", "--lr", "0.03", "--epochs", "8"),
]


def without_times(history):
    return [{k: v for k, v in row.items() if k not in ("seconds", "elapsed")} for row in history]


@pytest.fixture(scope="module")
def reference(imdb_tarball, tmp_path_factory):
    """``rnnkit sentiment train --nproc 2`` run as on a command line: (run, its output)."""
    run = tmp_path_factory.mktemp("nproc") / "run"
    command = [sys.executable, "-m", "rnnkit", "sentiment", "train", "--data", str(imdb_tarball)]
    done = subprocess.run(
        [*command, "--out", str(run), *TINY_CLI, "--nproc", "2"],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return run, done


def test_nproc_2_trains_reports_once_and_matches_one_process(reference, imdb_tarball, tmp_path):
    run, done = reference
    assert done.stdout.count("test accuracy") == 1  # rank 0 reports, the other process is silent
    assert "(2 processes x 1 thread(s))" in done.stderr and done.stderr.count("Epoch 1/8") == 1
    assert json.loads((run / "processes.json").read_text()) == [
        {
            "from_epoch": 0,
            "processes": 2,
            "dropout_seeds": [0, 1],
            "backend": "gloo",
            "threads_per_process": 1,
        }
    ]
    history = without_times(json.loads((run / "history.json").read_text()))
    config = common.config_from_args(
        sentiment.preset("seed"),
        build_parser().parse_args(["sentiment", "train", *TINY_CLI]),
        sentiment_cli.OPTIONS,
    )
    sentiment.train(config, imdb_tarball, tmp_path / "one")
    alone = without_times(json.loads((tmp_path / "one" / "history.json").read_text()))
    for row, expected in zip(history, alone, strict=True):  # float32, summed in another order
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert row[key] == pytest.approx(expected[key], rel=1e-3, abs=1e-4), (row["epoch"], key)
    results = json.loads((run / "results.json").read_text())
    assert results["test_accuracy"] > 0.8


def torchrun(tmp_path, name, options, argv):
    """``torchrun OPTIONS -m rnnkit ARGV`` in the background (1 thread per process), its output
    in files: (the process, its output file)."""
    out = tmp_path / f"{name}.txt"
    command = [sys.executable, "-m", "torch.distributed.run", *options, "-m", "rnnkit", *argv]
    with open(out, "w") as file:
        agent = subprocess.Popen(
            command, stdout=file, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )
    return agent, out


def worker_pid(agent: subprocess.Popen, rank: int) -> int | None:
    """The pid of the process of ``rank`` that torchrun's agent started first (from /proc)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            environ = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if (
            ppid == agent.pid
            and f"RANK={rank}".encode() in environ
            and b"TORCHELASTIC_RESTART_COUNT=0" in environ
        ):
            return int(stat.parent.name)
    return None


def assert_same_run(run, reference_run):
    expected, got = load_file(reference_run / "last.safetensors"), load_file(run / "last.safetensors")
    assert expected.keys() == got.keys() and all(torch.equal(got[k], expected[k]) for k in expected)
    expected = without_times(json.loads((reference_run / "history.json").read_text()))
    assert without_times(json.loads((run / "history.json").read_text())) == expected


def test_two_machines_train_as_one(reference, imdb_tarball, tmp_path):
    """``torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d`` started twice on 127.0.0.1
    ends with the weights and history of ``--nproc 2`` on one machine."""
    run = tmp_path / "run"
    rendezvous = ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--rdzv-id", "two"]
    options = ["--nnodes", "2", "--nproc-per-node", "1", *rendezvous]
    argv = ["sentiment", "train", "--data", str(imdb_tarball), "--out", str(run), *TINY_CLI]
    machines = [torchrun(tmp_path, f"machine{i}", options, argv) for i in range(2)]
    for agent, out in machines:
        assert agent.wait(timeout=240) == 0, out.read_text()[-3000:]
    outputs = [out.read_text() for _, out in machines]
    assert sum(text.count("test accuracy") for text in outputs) == 1  # from rank 0, on one of them
    assert_same_run(run, reference[0])


def test_a_killed_process_is_restarted_and_the_run_ends_as_an_unbroken_one(reference, imdb_tarball, tmp_path):
    """Under ``torchrun --standalone --nproc-per-node 2 --max-restarts 1`` rank 0 is killed with
    SIGKILL once the history holds two epochs (it may be saving the second: the checkpoint may
    still be the first's); torchrun restarts both processes, which resume from the last checkpoint
    and end with the unbroken run's weights and history."""
    run = tmp_path / "run"
    options = ["--standalone", "--nproc-per-node", "2", "--max-restarts", "1", "--monitor-interval", "0.1"]
    argv = ["sentiment", "train", "--data", str(imdb_tarball), "--out", str(run), *TINY_CLI]
    agent, out = torchrun(tmp_path, "killed", options, argv)
    deadline, history = time.monotonic() + 180, run / "history.json"
    while not (history.is_file() and len(json.loads(history.read_text() or "[]")) >= 2):
        assert time.monotonic() < deadline and agent.poll() is None, out.read_text()[-3000:]
        time.sleep(0.01)
    pid = worker_pid(agent, rank=0)
    assert pid is not None, "no rank 0 among the agent's processes"
    os.kill(pid, signal.SIGKILL)
    assert agent.wait(timeout=180) == 0, out.read_text()[-3000:]
    assert "resuming the sentiment run" in out.read_text()
    sessions = json.loads((run / "processes.json").read_text())
    assert [s["processes"] for s in sessions] == [2, 2] and 1 <= sessions[1]["from_epoch"] < 8
    assert sessions[1]["dropout_seeds"] is None  # each process went on with its saved random states
    assert_same_run(run, reference[0])


def test_one_process_resumes_a_run_of_two(reference, imdb_tarball, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference[0], run)
    assert (
        main(
            ["sentiment", "train", "--data", str(imdb_tarball), "--out", str(run), *TINY_CLI, "--epochs", "9"]
        )
        == 0
    )
    assert [row["epoch"] for row in json.loads((run / "history.json").read_text())] == list(range(1, 10))


# -- bad input -------------------------------------------------------------------------------------


def test_pretraining_runs_as_two_processes_and_matches_one(imdb_tarball, tmp_path):
    """Rank 0 builds the corpus while rank 1 waits; both then train on their blocks of streams."""
    runs = {n: tmp_path / f"lm{n}" for n in (1, 2)}
    for n, run in runs.items():
        command = [sys.executable, "-m", "rnnkit", "sentiment", "pretrain", "--preset", "quick"]
        command += ["--data", str(imdb_tarball), "--out", str(run), "--nproc", str(n)]
        done = subprocess.run(
            [
                *command,
                *[f"--set={o}" for o in PRETRAIN_TINY],
                "--set=model.dropout=0",
            ],  # ranks' dropout differs
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.count("validation perplexity") == 1  # rank 0 alone reports
    one, two = (json.loads((runs[n] / pretrain.RESULTS_FILE).read_text()) for n in (1, 2))
    assert two["corpus"]["tokens"] == one["corpus"]["tokens"] and two["epochs"] == one["epochs"] == 2
    assert two["best_val_loss"] == pytest.approx(one["best_val_loss"], rel=1e-5)
    weights = [load_file(runs[n] / "last.safetensors") for n in (1, 2)]
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        torch.testing.assert_close(weights[1][key], weights[0][key], rtol=1e-4, atol=1e-5, msg=key)


def test_nproc_must_be_a_whole_number_of_one_or_more(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["sentiment", "train", "--nproc", "0"])
    assert stop.value.code == 2
    assert "argument --nproc: expected a whole number of processes >= 1, got '0'" in capsys.readouterr().err


def test_nproc_runs_the_command_line_again_under_torchrun(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(distributed, "launch_local", lambda *args: calls.append(args) or 0)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    argv = ["sentiment", "train", "--out", "runs/x", "--nproc", "3", "--epochs", "2"]
    monkeypatch.setattr(sys, "argv", ["rnnkit", *argv])
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0 and calls == [
        (["sentiment", "train", "--out", "runs/x", "--epochs", "2"], 3, 1)
    ]
    assert "warning: --nproc 3 is more processes than the 2 cores" in capsys.readouterr().err
    assert common.without_nproc(["a", "--nproc=2", "b", "--npr", "4", "--no-x"]) == ["a", "b", "--no-x"]


def test_nproc_errors_are_one_line(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["python"])  # main() called from Python, not a command line
    assert main(["sentiment", "train", "--nproc", "2"]) == 2
    assert "--nproc runs the command line again under torchrun" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["sentiment", "train", "--nproc", "2"]) == 2
    assert "already runs under torchrun (2 processes)" in capsys.readouterr().err


def test_a_taken_port_and_an_unreachable_rendezvous_are_one_line_errors(monkeypatch):
    monkeypatch.setenv("RNNKIT_DIST_TIMEOUT", "1")
    env = {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        for name, value in {**env, "RANK": "0", "MASTER_PORT": str(taken.getsockname()[1])}.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(
            distributed.DistributedError, match=r"^process 0 of 2 .* port .* is taken"
        ) as error:
            distributed.setup()
        assert "\n" not in str(error.value)
    for name, value in {**env, "RANK": "1", "MASTER_PORT": str(free_port())}.items():  # nobody listens
        monkeypatch.setenv(name, value)
    start = time.monotonic()
    with pytest.raises(distributed.DistributedError, match=r"^process 1 of 2 could not join .* reachable"):
        distributed.setup()
    assert time.monotonic() - start < 10  # about RNNKIT_DIST_TIMEOUT
    assert not torch.distributed.is_initialized()
    monkeypatch.setenv("RNNKIT_DIST_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="RNNKIT_DIST_TIMEOUT must be a number of seconds > 0, got 'soon'"):
        distributed.setup()


def test_unsharded_batches_and_too_few_streams_are_refused():
    with pytest.raises(distributed.DistributedError, match="this task's batches are not sharded"):
        distributed.Group(0, 2, 0).unwrap(object())
    streams = TextStreams(np.arange(40) % 7, 1, 4)
    with pytest.raises(DataError, match="read as 1 streams, fewer than the 2 processes"):
        next(streams.batches(shard=Shard(0, 2)))
