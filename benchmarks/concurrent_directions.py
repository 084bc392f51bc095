"""Training throughput with the two LSTM directions concurrent vs in turn, interleaved.

``imdb_throughput.py`` times each pipeline once, one after the other, so a single row carries the
machine's drift. This script times the seed sentiment model on the same real IMDB batches with
``rnnkit.nn.concurrent`` on and off in alternation, after a warm-up pass, for several rounds:

    python benchmarks/concurrent_directions.py --data ../shared/data --steps 20 --rounds 3
"""

from __future__ import annotations

import argparse
import time

import torch

from rnnkit.data import SequenceDataset, bucket_indices, imdb
from rnnkit.data.tokenizer import Tokenizer
from rnnkit.nn import concurrent
from rnnkit.tasks import sentiment


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help="IMDB tarball or folder")
    parser.add_argument("--steps", type=int, default=20, help="training steps per timing")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    corpus = imdb.load(args.data)
    tokenizer = Tokenizer.train(corpus.train.texts, "subword", 8185)
    train: SequenceDataset = sentiment.encode(tokenizer, corpus.train.texts, corpus.train.labels, 2000)
    batches = bucket_indices(train.lengths, 64, shuffle=True, seed=args.seed, pool=50)
    batches = batches[: args.steps]
    torch.manual_seed(args.seed)
    model = sentiment.build_model(sentiment.resolved(sentiment.preset("seed")))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()

    def rate() -> float:
        tokens, start = 0, time.perf_counter()
        for indices in batches:
            batch = train.collate(indices)
            loss, _, _ = sentiment.step(model, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tokens += int(batch.lengths.sum())
        return tokens / (time.perf_counter() - start)

    rate()  # warm-up pass
    totals = {True: 0.0, False: 0.0}
    print(f"seed model, batch 64, {args.steps} bucketed steps, {torch.get_num_threads()} threads")
    for round_ in range(args.rounds):
        for on in (True, False):
            concurrent.set_enabled(on)
            r = rate()
            totals[on] += r
            print(f"  round {round_}: {'concurrent' if on else 'in turn':10s} {r:>9,.0f} tokens/s")
    concurrent.set_enabled(True)
    print(f"mean concurrent / in turn = {totals[True] / totals[False]:.2f}x")


if __name__ == "__main__":
    main()
