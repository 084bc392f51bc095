"""Commands that show the core: NumPy BPTT, the model summary, exact masking."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def cmd_scratch_hello(args: argparse.Namespace) -> int:
    from ..scratch import train_hello

    start = time.perf_counter()
    result = train_hello(args.word, hidden_size=args.hidden, steps=args.steps, seed=args.seed)
    seconds = time.perf_counter() - start
    print(f'Vanilla RNN, NumPy BPTT, trained on "{args.word}" ({args.steps} Adam steps, {seconds:.2f} s)')
    print(f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.4f} (cross-entropy summed over steps)")
    print(result.table())
    print(f'after "{result.inputs}" the model predicts "{result.predicted[-1]}"')
    return 0


def cmd_scratch_gradcheck(args: argparse.Namespace) -> int:
    from ..scratch import gradient_check

    worst = 0.0
    for cell in ("rnn", "lstm", "gru"):
        error = gradient_check(cell, seed=args.seed)
        worst = max(worst, error)
        print(f"{cell:5s} BPTT vs finite differences: max relative error {error:.2e}")
    return 0 if worst < 1e-5 else 1


def _lecture_model() -> tuple[torch.nn.Module, torch.Tensor]:
    import torch

    from ..models import ClassifierConfig, SequenceClassifier

    model = SequenceClassifier(ClassifierConfig())
    return model, torch.randint(1, 8185, (2, 16))


def cmd_summary(args: argparse.Namespace) -> int:
    from ..summary import summary

    model, tokens = _lecture_model()
    print(
        "The lecture's model: Embedding(8185, 64) -> Bidirectional(LSTM(64)) -> Dense(64, relu) -> Dense(1)"
    )
    print(summary(model, tokens))
    return 0


def cmd_masking(args: argparse.Namespace) -> int:
    """Shows that a sequence gets the same output alone and inside a padded batch."""
    import torch

    from ..nn import LSTM

    torch.manual_seed(args.seed)
    layer = LSTM(8, 16, bidirectional=True).double()
    reference = layer.to_torch()
    alone = torch.randn(1, 5, 8, dtype=torch.float64)
    batch = torch.zeros(2, 12, 8, dtype=torch.float64)
    batch[0, :5] = alone[0]
    batch[1] = torch.randn(12, 8, dtype=torch.float64)
    lengths = torch.tensor([5, 12])
    with torch.no_grad():
        _, h_alone = layer(alone)
        _, h_batch = layer(batch, lengths)
        _, (h_torch, _) = reference(batch)
    ours = (h_alone[0][:, 0] - h_batch[0][:, 0]).abs().max().item()
    theirs = (h_alone[0][:, 0] - h_torch[:, 0]).abs().max().item()
    print("BiLSTM final states of a 5-step sequence, alone vs padded to 12 steps in a batch:")
    print(f"  rnnkit.LSTM(lengths=...)    max |difference| = {ours:.1e}")
    print(f"  torch.nn.LSTM, padded       max |difference| = {theirs:.1e}  (padding leaks in)")
    return 0 if ours < 1e-12 else 1
