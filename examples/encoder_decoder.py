"""Many-to-many with an encoder and a decoder (the lecture's machine translation), in miniature.

Diagram: the encoder reads the whole input sequence before the decoder writes anything; its final
state is all the decoder knows of the input. The toy "translation" reverses a string of 1 to 8 digits:
``3 1 4 1 5 -> 5 1 4 1 3``, so input and output lengths vary, as sentences do.

Model: a shared digit embedding, an ``rnnkit.GRU`` encoder read with ``lengths=`` (its state ``h_n`` is
taken at each sequence's own last digit) and an ``rnnkit.GRU`` decoder started from ``h_n``.
Training uses teacher forcing: the decoder reads ``<s> y_1 ... y_n`` and is taught to emit
``y_1 ... y_n </s>``, the whole target in one call, with a masked loss. At test the decoder runs one
step at a time from ``<s>``, feeding back its own greedy choice until ``</s>``.

Metric: exact match, the share of test inputs whose whole output is right. Trivial baseline: copying
the input, right only for palindromes. The script also prints exact match by input length: the errors
are on the longest inputs (seed 0: 1.00 up to 5 digits, 0.61 at 8), because the whole input must pass
through the one vector ``h_n``, the bottleneck that attention was invented to remove.

Run from the repository root: ``python examples/encoder_decoder.py``.
"""

from __future__ import annotations

import torch
from _train import fit, start
from torch import nn

import rnnkit

MAX_LEN, BOS, EOS = 8, 10, 11  # tokens: the digits 0-9, then <s> and </s>


def batch(size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Digit strings (B, T) padded with </s>, their lengths (B,), and the reversed strings (B, T)."""
    lengths = torch.randint(1, MAX_LEN + 1, (size,), generator=generator)  # (B,)
    digits = torch.randint(0, 10, (size, MAX_LEN), generator=generator)  # (B, T)
    steps = torch.arange(MAX_LEN)  # (T,)
    mask = steps < lengths[:, None]  # (B, T)
    source = torch.where(mask, digits, EOS)
    reverse = torch.where(mask, lengths[:, None] - 1 - steps, steps)  # (B, T): t -> n-1-t within n
    return source, lengths, source.gather(1, reverse)


class Seq2Seq(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(12, 32)
        self.encoder = rnnkit.GRU(32, hidden)
        self.decoder = rnnkit.GRU(32, hidden)
        self.out = nn.Linear(hidden, 12)

    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, h_n = self.encoder(self.embed(source), lengths=lengths)  # (1, B, H)
        return h_n

    def forward(self, source: torch.Tensor, lengths: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (B, T+1, V) for ``y_1 ... y_n </s>`` given ``<s> y_1 ... y_n``."""
        bos = torch.full_like(target[:, :1], BOS)
        decoder_input = torch.cat([bos, target], dim=1)  # (B, T+1)
        h, _ = self.decoder(
            self.embed(decoder_input), lengths=lengths + 1, state=self.encode(source, lengths)
        )
        return self.out(h)  # (B, T+1, V)

    @torch.no_grad()
    def translate(self, source: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """Greedy decoding, one step at a time; each output cut at its first </s>."""
        state, token = self.encode(source, lengths), torch.full((len(source), 1), BOS)  # (B, 1)
        tokens = []
        for _ in range(MAX_LEN + 1):
            h, state = self.decoder(self.embed(token), state=state)  # (B, 1, H)
            token = self.out(h).argmax(dim=-1)  # (B, 1)
            tokens.append(token)
        rows = torch.cat(tokens, dim=1).tolist()  # (B, T+1)
        return [row[: row.index(EOS)] if EOS in row else row for row in rows]


def main(argv: list[str] | None = None) -> dict:
    args = start(argv, __doc__, steps=1200, hidden=128, lr=0.003, batch_size=64)
    generator = torch.Generator().manual_seed(args.seed)
    test_source, test_lengths, test_target = batch(1000, torch.Generator().manual_seed(12345))

    model = Seq2Seq(args.hidden)

    def training_loss() -> torch.Tensor:
        source, lengths, target = batch(args.batch_size, generator)
        labels = torch.cat([target, torch.full_like(target[:, :1], EOS)], dim=1)  # (B, T+1), </s> at n
        mask = rnnkit.lengths_to_mask(lengths + 1, MAX_LEN + 1)  # (B, T+1): digits and </s>
        logits = model(source, lengths, target)  # (B, T+1, V)
        return nn.functional.cross_entropy(logits[mask], labels[mask])  # (N, V) vs (N,)

    loss, seconds = fit(model, training_loss, args.steps, args.lr)

    outputs = model.translate(test_source, test_lengths)
    truths = [row[:n].tolist() for row, n in zip(test_target, test_lengths)]
    inputs = [row[:n].tolist() for row, n in zip(test_source, test_lengths)]
    copy_baseline = sum(i == t for i, t in zip(inputs, truths)) / len(truths)
    for i in range(4):
        print(f"  {inputs[i]} -> {outputs[i]} (true {truths[i]})")
    right = torch.tensor([o == t for o, t in zip(outputs, truths)], dtype=torch.float)  # (N,)
    exact = right.mean().item()
    by_length = [right[test_lengths == n].mean().item() for n in range(1, MAX_LEN + 1)]
    print("  exact match by input length 1..8:", " ".join(f"{a:.2f}" for a in by_length))
    print(
        f"test exact match {exact:.3f} (copy-the-input baseline {copy_baseline:.3f}); final loss "
        f"{loss:.3f}; {args.steps} steps in {seconds:.1f} s"
    )
    return {
        "exact_match": exact,
        "by_length": by_length,
        "baseline": copy_baseline,
        "seconds": seconds,
    }


if __name__ == "__main__":
    main()
