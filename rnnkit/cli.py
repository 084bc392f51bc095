"""The ``rnnkit`` command line. Each subcommand parses its own options and calls the library."""

from __future__ import annotations

import argparse
import sys
import time

import torch


def _cmd_scratch_hello(args: argparse.Namespace) -> int:
    from .scratch import train_hello

    start = time.perf_counter()
    result = train_hello(args.word, hidden_size=args.hidden, steps=args.steps, seed=args.seed)
    seconds = time.perf_counter() - start
    print(f'Vanilla RNN, NumPy BPTT, trained on "{args.word}" ({args.steps} Adam steps, {seconds:.2f} s)')
    print(f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.4f} (cross-entropy summed over steps)")
    print(result.table())
    print(f'after "{result.inputs}" the model predicts "{result.predicted[-1]}"')
    return 0


def _cmd_scratch_gradcheck(args: argparse.Namespace) -> int:
    from .scratch import gradient_check

    worst = 0.0
    for cell in ("rnn", "lstm", "gru"):
        error = gradient_check(cell, seed=args.seed)
        worst = max(worst, error)
        print(f"{cell:5s} BPTT vs finite differences: max relative error {error:.2e}")
    return 0 if worst < 1e-5 else 1


def _lecture_model() -> tuple[torch.nn.Module, torch.Tensor]:
    from .models import ClassifierConfig, SequenceClassifier

    model = SequenceClassifier(ClassifierConfig())
    return model, torch.randint(1, 8185, (2, 16))


def _cmd_summary(args: argparse.Namespace) -> int:
    from .summary import summary

    model, tokens = _lecture_model()
    print(
        "The lecture's model: Embedding(8185, 64) -> Bidirectional(LSTM(64)) -> Dense(64, relu) -> Dense(1)"
    )
    print(summary(model, tokens))
    return 0


def _cmd_masking(args: argparse.Namespace) -> int:
    """Shows that a sequence gets the same output alone and inside a padded batch."""
    from .nn import LSTM

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


def _cmd_demo(args: argparse.Namespace) -> int:
    status = 0
    for title, command in (
        ('1. The lecture\'s "hell" -> "o", by hand-written BPTT', _cmd_scratch_hello),
        ("2. Gradient check of the NumPy BPTT", _cmd_scratch_gradcheck),
        ("3. The lecture's model summary", _cmd_summary),
        ("4. Exact masking", _cmd_masking),
    ):
        print(f"\n== {title} ==")
        status |= command(args)
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="a short tour of the core: BPTT, summary, masking")
    demo.set_defaults(func=_cmd_demo, word="hello", hidden=8, steps=300, seed=0)

    scratch = commands.add_parser("scratch", help="NumPy BPTT from scratch")
    scratch_commands = scratch.add_subparsers(dest="scratch_command", required=True)
    hello = scratch_commands.add_parser("hello", help='train the lecture\'s "hell" -> "o" RNN')
    hello.add_argument("--word", default="hello", help="training word over h, e, l, o")
    hello.add_argument("--hidden", type=int, default=8, help="hidden units H")
    hello.add_argument("--steps", type=int, default=300, help="Adam steps")
    hello.add_argument("--seed", type=int, default=0)
    hello.set_defaults(func=_cmd_scratch_hello)
    check = scratch_commands.add_parser("gradcheck", help="BPTT vs finite differences")
    check.add_argument("--seed", type=int, default=0)
    check.set_defaults(func=_cmd_scratch_gradcheck)

    summary = commands.add_parser("summary", help="the lecture's model, Keras-style table")
    summary.set_defaults(func=_cmd_summary)

    masking = commands.add_parser("masking", help="padded vs unpadded outputs, rnnkit vs torch")
    masking.add_argument("--seed", type=int, default=0)
    masking.set_defaults(func=_cmd_masking)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "word", None) is not None and set(args.word) - set("helo"):
        print(
            f"error: --word must use only the letters h, e, l, o, got {args.word!r}",
            file=sys.stderr,
        )
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
