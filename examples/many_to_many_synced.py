"""Many-to-many, synced: one output per input step (the lecture's video frame classification or NER).

Diagram: every step reads one input and emits one output at once. In miniature: a stream of bits, and
each step is tagged with the parity of the bits seen so far (1 if an odd number of ones):

    bits   1 0 1 1 0
    tags   1 1 0 1 1

A tag depends on the whole prefix, not on the current bit alone (copying the bit is right about 54%
of the time: always at the first step, half the time after), so the model must carry the parity in its
state, as a tagger carries context from the words before.

Model: ``rnnkit.GRU`` -> linear at every step -> 2 classes. Sequences have 1 to 24 bits and are
right-padded into one (B, T) batch. ``rnnkit.lengths_to_mask`` keeps the padding out of the loss and
the accuracy; ``lengths=`` keeps it out of the recurrence (a forward GRU's real steps come before the
padding anyway, but a bidirectional one, ``rnnkit.GRU(1, H, bidirectional=True)``, would read it first).

Run from the repository root: ``python examples/many_to_many_synced.py``.
Trivial baselines: the majority tag, and "tag = current bit".
"""

from __future__ import annotations

import torch
from _train import fit, start
from torch import nn

import rnnkit

MAX_LEN = 24


def batch(size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bits (B, T) as 0/1, running parities (B, T), lengths (B,); padded steps hold 0."""
    lengths = torch.randint(1, MAX_LEN + 1, (size,), generator=generator)  # (B,)
    mask = rnnkit.lengths_to_mask(lengths, MAX_LEN)  # (B, T)
    bits = torch.randint(0, 2, (size, MAX_LEN), generator=generator) * mask  # (B, T)
    return bits, bits.cumsum(dim=1) % 2 * mask, lengths


class Tagger(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.gru = rnnkit.GRU(1, hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, bits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = bits.float().unsqueeze(-1)  # (B, T) -> (B, T, E=1)
        h, _ = self.gru(x, lengths=lengths)  # (B, T, H), zero at padded steps
        return self.out(h)  # (B, T, 2)


def main(argv: list[str] | None = None) -> dict:
    args = start(argv, __doc__, steps=600, hidden=32, lr=0.01, batch_size=64)
    generator = torch.Generator().manual_seed(args.seed)
    test_bits, test_tags, test_lengths = batch(2000, torch.Generator().manual_seed(12345))

    model = Tagger(args.hidden)

    def training_loss() -> torch.Tensor:
        bits, tags, lengths = batch(args.batch_size, generator)
        mask = rnnkit.lengths_to_mask(lengths, MAX_LEN)  # (B, T)
        logits = model(bits, lengths)  # (B, T, 2)
        return nn.functional.cross_entropy(logits[mask], tags[mask])  # real steps only: (N, 2) vs (N,)

    _, seconds = fit(model, training_loss, args.steps, args.lr)

    mask = rnnkit.lengths_to_mask(test_lengths, MAX_LEN)  # (B, T)
    with torch.no_grad():
        predicted = model(test_bits, test_lengths).argmax(dim=-1)  # (B, T)
    correct = (predicted == test_tags) | ~mask  # padded steps count as right
    accuracy = correct[mask].float().mean().item()  # per real step
    sequences = correct.all(dim=1).float().mean().item()  # every tag of the sequence right
    majority = test_tags[mask].float().mean().item()
    baseline = max(majority, 1 - majority)
    copy_bit = (test_bits == test_tags)[mask].float().mean().item()
    for i in range(3):
        n = test_lengths[i].item()
        bits, tags, true = ("".join(map(str, t[i, :n].tolist())) for t in (test_bits, predicted, test_tags))
        print(f"  bits {bits}\n  tags {tags} (true {true})")
    print(
        f"per-step accuracy {accuracy:.3f} (majority-tag baseline {baseline:.3f}, tag = current bit "
        f"{copy_bit:.3f}); whole sequences right {sequences:.3f}; {args.steps} steps in {seconds:.1f} s"
    )
    return {
        "accuracy": accuracy,
        "baseline": baseline,
        "copy_bit": copy_bit,
        "sequence_accuracy": sequences,
        "seconds": seconds,
    }


if __name__ == "__main__":
    main()
