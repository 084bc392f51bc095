"""Many-to-one: a sequence in, one label out (the lecture's sentiment classification).

Diagram: every step reads one input, only the last hidden state feeds the output. In miniature:
sentences of a toy vocabulary carry one sentiment word ("great", "dull", ...), which a "not" just before
it flips. A second "not" may stand elsewhere, before a neutral word ("not the plot"), where it changes
nothing. So the label depends on word order: knowing only which words occur (a bag of words) cannot
beat 75% (the one-"not" sentences are half negations, half distractors).

Model: embedding -> ``rnnkit.LSTM`` -> ``h_T`` -> linear -> 2 classes. Sentences have 3 to 16 words
and are right-padded into one (B, T) batch; ``lengths=`` makes the LSTM return each sentence's state at
its own last word, exactly as if it ran alone. The script also scores the trained model read without
``lengths=`` (the state taken after the padding) to show what that costs.

Run from the repository root: ``python examples/many_to_one.py``. Trivial baseline: the majority class.
"""

from __future__ import annotations

import random

import torch
from _train import fit, start
from torch import nn

import rnnkit

NEUTRAL = ["the", "movie", "was", "a", "plot", "and", "it", "film", "actors", "story"]
POSITIVE, NEGATIVE = ["good", "great", "fun", "superb"], ["bad", "dull", "awful", "boring"]
VOCAB = ["<pad>", "not", *NEUTRAL, *POSITIVE, *NEGATIVE]  # <pad> is id 0


def sentence(rng: random.Random) -> tuple[list[str], int]:
    """Neutral words, one sentiment word (maybe negated), maybe a distracting "not"; label 1 = positive."""
    words = [rng.choice(NEUTRAL) for _ in range(rng.randint(2, 13))]
    positive, negated = rng.random() < 0.5, rng.random() < 0.5
    i = rng.randint(0, len(words))
    words[i:i] = ["not"] * negated + [rng.choice(POSITIVE if positive else NEGATIVE)]
    if rng.random() < 0.5:  # a distracting "not", before a neutral word
        i = rng.choice([j for j, w in enumerate(words) if w in NEUTRAL])
        words.insert(i, "not")
    return words, int(positive != negated)


def batch(rng: random.Random, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
    """Token ids (B, T) right-padded with 0, lengths (B,), labels (B,), and the sentences."""
    pairs = [sentence(rng) for _ in range(size)]
    T = max(len(words) for words, _ in pairs)
    ids = [[VOCAB.index(w) for w in words] + [0] * (T - len(words)) for words, _ in pairs]
    lengths = torch.tensor([len(words) for words, _ in pairs])
    return torch.tensor(ids), lengths, torch.tensor([label for _, label in pairs]), pairs


class Classifier(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(VOCAB), 16)
        self.lstm = rnnkit.LSTM(16, hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        _, (h_n, _) = self.lstm(self.embed(ids), lengths=lengths)  # h_n: (L*D, B, H) = (1, B, H)
        return self.out(h_n[-1])  # (B, 2)


def main(argv: list[str] | None = None) -> dict:
    args = start(argv, __doc__, steps=800, hidden=32, lr=0.01, batch_size=64)
    rng = random.Random(args.seed)
    test_ids, test_lengths, test_labels, test_pairs = batch(random.Random(12345), 2000)

    model = Classifier(args.hidden)

    def training_loss() -> torch.Tensor:
        ids, lengths, labels, _ = batch(rng, args.batch_size)
        return nn.functional.cross_entropy(model(ids, lengths), labels)  # (B, 2) vs (B,)

    _, seconds = fit(model, training_loss, args.steps, args.lr)

    with torch.no_grad():
        predicted = model(test_ids, test_lengths).argmax(dim=1)  # (B,)
        unmasked = model(test_ids, None).argmax(dim=1)  # reads the padding too
    accuracy = (predicted == test_labels).float().mean().item()
    without_lengths = (unmasked == test_labels).float().mean().item()
    baseline = max(test_labels.float().mean().item(), 1 - test_labels.float().mean().item())
    for i in [i for c in (0, 1) for i in (test_labels == c).nonzero()[:2, 0].tolist()]:  # 2 of each class
        words, label = test_pairs[i]
        print(f"  {' '.join(words)!r}: true {label}, predicted {predicted[i].item()}")
    print(
        f"test accuracy {accuracy:.3f} (majority baseline {baseline:.3f}, best bag of words 0.75; "
        f"same model without lengths= {without_lengths:.3f}); {args.steps} steps in {seconds:.1f} s"
    )
    return {
        "accuracy": accuracy,
        "baseline": baseline,
        "without_lengths": without_lengths,
        "seconds": seconds,
    }


if __name__ == "__main__":
    main()
