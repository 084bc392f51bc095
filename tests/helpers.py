"""Shared checks: run a layer, collect every gradient in a comparable form."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

import rnnkit
from rnnkit.models.tagger import TaggerConfig


def torch_param_grads(module: nn.RNNBase, kind: str) -> dict[str, Tensor]:
    """torch.nn's gradients, folded into rnnkit's per-cell names (see rnnkit.nn.interop)."""
    D = 2 if module.bidirectional else 1
    H = module.hidden_size
    grads = {}
    for index in range(module.num_layers * D):
        suffix = f"l{index // D}" + ("_reverse" if index % D else "")
        g = {name: getattr(module, f"{name}_{suffix}").grad for name in ("weight_ih", "weight_hh")}
        b_ih = getattr(module, f"bias_ih_{suffix}").grad
        b_hh = getattr(module, f"bias_hh_{suffix}").grad
        # d(b_ih + b_hh) = d b_ih = d b_hh, wherever the two are folded
        g["bias"] = b_ih
        if kind == "gru":
            g["bias_hn"] = b_hh[2 * H :]
        for name, value in g.items():
            grads[f"cells.{index}.{name}"] = value
    return grads


def rnnkit_param_grads(layer: nn.Module) -> dict[str, Tensor]:
    return {name: p.grad for name, p in layer.named_parameters()}


def make_torch(kind: str, E: int, H: int, **kwargs) -> nn.RNNBase:
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
    return cls(E, H, **kwargs).double()


def assert_close(actual: Tensor, expected: Tensor, name: str, atol: float = 1e-10) -> None:
    torch.testing.assert_close(actual, expected, atol=atol, rtol=1e-8, msg=lambda m: f"{name}: {m}")


def _relu_rnn(*args, **kwargs) -> rnnkit.RNN:
    return rnnkit.RNN(*args, nonlinearity="relu", **kwargs)


LAYERS = {"rnn": rnnkit.RNN, "relu": _relu_rnn, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}


class XYBatch:
    """Inputs ``x`` and targets ``y``: the least a batch needs for :class:`rnnkit.train.Trainer`."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y

    def to(self, device: torch.device | str) -> XYBatch:
        return XYBatch(self.x.to(device), self.y.to(device))


class Killed(BaseException):
    """Stands for the process dying: nothing after it runs, no except-Exception catches it."""


class KillAt:
    """A trainer callback that dies (raises :class:`Killed`) at step ``step`` of epoch ``epoch``."""

    def __init__(self, epoch: int, step: int) -> None:
        self.epoch, self.step, self.current = epoch, step, 0

    def on_epoch_begin(self, epoch, *_):
        self.current = epoch

    def on_step(self, step, *_):
        if (self.current, step) == (self.epoch, self.step):
            raise Killed


# A tiny rnnkit sentiment pretrain (overrides of the "quick" preset): seconds on the IMDB fixture.
PRETRAIN_TINY = [
    "max_documents=0",
    "vocab_size=400",
    "seq_len=8",
    "slices=2",
    "val_batch_size=2",
    "model.embed_dim=16",
    "model.hidden_size=16",
    "model.cutoffs=100,200",
    "train.batch_size=4",
    "train.epochs=2",
    "train.time_limit=null",
]


def train_tiny(root: Path, task: str, data: Path, options: list[str]) -> Path:
    """``rnnkit TASK train --data DATA --out ROOT/run OPTIONS``, which must succeed; the run's folder."""
    from rnnkit.cli import main

    run = root / "run"
    assert main([task, "train", "--data", str(data), "--out", str(run), *options]) == 0
    return run


def tagger_config(vocab, **sizes) -> TaggerConfig:
    """A tagger sized for ``vocab`` (a ``tag.Vocabularies``: words, characters, tags) with ``sizes``."""
    return TaggerConfig(
        word_vocab=len(vocab.words), char_vocab=len(vocab.chars), tags=tuple(vocab.tags.tags), **sizes
    )


def toy_batches(n: int = 4, seed: int = 0, sign: float = 1.0, rows: int = 16) -> list[XYBatch]:
    """``n`` batches of a noiseless linear regression, y = sign * x . (1, -2, 0.5)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randn(rows, 3, generator=gen)
        out.append(XYBatch(x, sign * (x @ torch.tensor([1.0, -2.0, 0.5]))))
    return out
