"""What the five gallery scripts share: their command-line options and their small training loop.

Each script keeps what makes it itself (its toy data, its model, the loss it trains and what it
measures); this file holds only the steps that are the same in all five, so it is read once:

    args = start(argv, __doc__, steps=800, hidden=32, lr=0.01, batch_size=64)
    model = Classifier(args.hidden)
    loss, seconds = fit(model, training_loss, args.steps, args.lr)

where ``training_loss()`` draws the script's next batch and returns the loss on it (a scalar tensor).
The scripts import it as ``from _train import fit, start``: Python puts the folder of the script it runs on
the import path, so ``python examples/NAME.py`` finds it from the repository root.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import nn


def start(
    argv: list[str] | None,
    doc: str,
    *,
    steps: int,
    hidden: int,
    lr: float,
    batch_size: int | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """Parses ``--seed --steps --hidden --lr`` (and ``--batch-size`` where the script samples
    batches) with the script's defaults, ``extra`` adding the script's own options; then seeds torch
    with ``--seed`` and keeps it to one thread (on tensors this small a second thread only waits)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    if batch_size is None:
        parser.add_argument("--steps", type=int, default=steps, help="full-batch Adam steps")
    else:
        parser.add_argument("--steps", type=int, default=steps, help="Adam steps, each on a fresh batch")
        parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--hidden", type=int, default=hidden)
    parser.add_argument("--lr", type=float, default=lr)
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)  # the model's initial weights
    torch.set_num_threads(1)
    return args


def fit(
    model: nn.Module, training_loss: Callable[[], torch.Tensor], steps: int, lr: float
) -> tuple[float, float]:
    """``steps`` steps of Adam on ``training_loss()``; returns the last step's loss and the seconds taken."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    began = time.perf_counter()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        loss = training_loss()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item(), time.perf_counter() - began
