"""One-to-one, the slide's first box: a "vanilla neural network", no recurrence, for contrast.

Diagram: one input -> one hidden layer -> one output. The lecture's example is image classification;
in miniature the "image" is a point (x1, x2) in the plane and the class is which arm of a three-armed
spiral it lies on (CS231n's toy data). The model is an MLP with one hidden layer:

    h = tanh(W_hx x + b),    y = softmax(W_yh h + b_y)

which is exactly one step of the vanilla RNN ``h_t = tanh(W_hh h_{t-1} + W_hx x_t + b)`` started from
``h_0 = 0``: ``rnnkit.RNNCell(2, H)(x)`` computes the same ``h``. The other four scripts of this folder
add what this one lacks, the loop over time that carries ``h`` from step to step.

Run from the repository root: ``python examples/one_to_one.py`` (a few seconds on a 2-core CPU).
Trivial baseline: always predict the most frequent class (1/3 here).
"""

from __future__ import annotations

import math

import torch
from _train import fit, start
from torch import nn

CLASSES = 3


def spirals(n_per_class: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Points (N, 2) on three noisy spiral arms and their class ids (N,)."""
    r = torch.linspace(0.05, 1.0, n_per_class)  # (n,)
    points, labels = [], []
    for k in range(CLASSES):
        angle = r * 4.0 + k * 2 * math.pi / CLASSES + 0.2 * torch.randn(n_per_class, generator=generator)
        points.append(torch.stack([r * torch.sin(angle), r * torch.cos(angle)], dim=1))  # (n, 2)
        labels.append(torch.full((n_per_class,), k))
    return torch.cat(points), torch.cat(labels)


def main(argv: list[str] | None = None) -> dict:
    args = start(argv, __doc__, steps=1000, hidden=64, lr=0.01)
    generator = torch.Generator().manual_seed(args.seed)
    x_train, y_train = spirals(200, generator)  # (600, 2), (600,)
    x_test, y_test = spirals(200, generator)  # fresh noise: points the model never saw

    model = nn.Sequential(nn.Linear(2, args.hidden), nn.Tanh(), nn.Linear(args.hidden, CLASSES))  # W_hx, W_yh

    def training_loss() -> torch.Tensor:
        return nn.functional.cross_entropy(model(x_train), y_train)  # full batch: (N, 3) vs (N,)

    loss, seconds = fit(model, training_loss, args.steps, args.lr)

    with torch.no_grad():
        predicted = model(x_test).argmax(dim=1)  # (N,)
    accuracy = (predicted == y_test).float().mean().item()
    baseline = torch.bincount(y_test).max().item() / len(y_test)  # majority class
    for i in (5, 290, 550):
        x1, x2 = x_test[i].tolist()
        print(f"  point ({x1:+.2f}, {x2:+.2f}): true arm {y_test[i].item()}, predicted {predicted[i].item()}")
    print(
        f"test accuracy {accuracy:.3f} (majority-class baseline {baseline:.3f}); final train loss "
        f"{loss:.3f}; {args.steps} steps in {seconds:.1f} s"
    )
    return {"accuracy": accuracy, "baseline": baseline, "loss": loss, "seconds": seconds}


if __name__ == "__main__":
    main()
