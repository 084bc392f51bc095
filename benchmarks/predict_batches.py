"""How prediction batches are cut, and reading the last output only: what each gives on IMDB.

The lecture's model (Embedding(8185, 64) -> BiLSTM(64) -> Dense(64, relu) -> Dense(1)), forward only
(``torch.inference_mode``), over ``--reviews`` IMDB test reviews (token ids from a subword tokenizer
trained once here), in three ways:

- ``256 per batch, sequences``: sorted by length, 256 reviews per batch, the top layer assembling
  its output sequence and the classifier reading the final states (rnnkit before these changes;
  written out for the seed model's single BiLSTM layer);
- ``256 per batch, last output``: the same batches, ``return_sequences=False``;
- ``token budget N, last output``: at most 256 reviews and ``--budget`` tokens per batch (padding
  included), ``return_sequences=False``: what ``rnnkit sentiment predict`` and ``evaluate`` do.

A prediction usually runs once in a process (the ``rnnkit`` command), so what counts is the first
pass, where every batch shape and every heap size is met for the first time. Each way therefore
runs in a fresh subprocess, first pass and second pass timed, the ways interleaved over
``--rounds`` rounds so that the machine's slow spells fall on all of them; medians are printed.

    python benchmarks/predict_batches.py --data ../shared/data --reviews 5000 --rounds 6
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from _fresh import run_json

_CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
from rnnkit import runtime
from rnnkit.data import SequenceDataset, bucket_indices
from rnnkit.tasks import sentiment

runtime.tune_allocator()
path, budget, last_only = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
saved = np.load(path)
ids = np.split(saved["flat"], np.cumsum(saved["lengths"])[:-1])
dataset = SequenceDataset(ids, [0] * len(ids), 2000)
torch.manual_seed(0)
model = sentiment.build_model(sentiment.resolved(sentiment.preset("seed"))).eval()
groups = bucket_indices(dataset.lengths, 256, shuffle=False, token_budget=budget or None)

def predict(batch):
    if last_only:
        return model(batch.tokens, batch.lengths)
    x, (h_n, _) = model.recurrent[0](model.embedding(batch.tokens), batch.lengths)
    return model.head(torch.cat(list(h_n[-2:]), dim=1))

def one_pass():
    faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    with torch.inference_mode():
        for group in groups:
            predict(dataset.collate(group))
    return time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults

(first, faults), (second, _) = one_pass(), one_pass()
print(json.dumps({"first": first, "second": second, "faults": faults, "batches": len(groups)}))
"""


def ways(budget: int) -> dict[str, tuple[int, bool]]:
    return {
        "256 per batch, sequences": (0, False),
        "256 per batch, last output": (0, True),
        f"token budget {budget:,}, last output": (budget, True),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help="IMDB tarball or folder")
    parser.add_argument("--reviews", type=int, default=5000, help="test reviews per pass")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--budget", type=int, default=65_536, help="tokens per batch, padding included")
    args = parser.parse_args(argv)

    from rnnkit.data import imdb
    from rnnkit.data.tokenizer import Tokenizer

    corpus = imdb.load(args.data)
    tokenizer = Tokenizer.train(corpus.train.texts, "subword", 8185)
    picked = np.random.default_rng(0).permutation(len(corpus.test))[: args.reviews]
    ids = tokenizer.encode_batch([corpus.test.texts[i] for i in picked])
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "ids.npz")
        np.savez(path, lengths=[len(i) for i in ids], flat=np.concatenate([np.asarray(i) for i in ids]))
        results: dict[str, list[dict]] = {name: [] for name in ways(args.budget)}
        for round_ in range(args.rounds):
            for name, (budget, last_only) in ways(args.budget).items():
                result = run_json(_CHILD, path, str(budget), "1" if last_only else "0")
                results[name].append(result)
                print(
                    f"round {round_ + 1}: {name:34s} first pass {result['first']:5.2f} s "
                    f"({result['faults']:,} page faults, {result['batches']} batches), "
                    f"second {result['second']:5.2f} s",
                    flush=True,
                )
    print(f"\nmedians of {args.rounds} rounds, {args.reviews:,} reviews:")
    base = statistics.median(r["first"] for r in results["256 per batch, sequences"])
    for name, runs in results.items():
        first = statistics.median(r["first"] for r in runs)
        second = statistics.median(r["second"] for r in runs)
        print(f"  {name:34s} first pass {first:5.2f} s ({base / first:.2f}x), second pass {second:5.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
