"""What the allocator setting (``rnnkit.runtime.tune_allocator``) gives a training step.

The lecture's IMDB model (Embedding(8185, 64) -> BiLSTM(64) -> Dense(64, relu) -> Dense(1)), a whole
training step with Adam, on 12 synthetic batches of 64 reviews with IMDB-like bucketed lengths
(60-700 tokens, each batch within 15% of its longest), then forward-only prediction on the same
batches. The allocator is set per process, so the default and the tuned allocator each run in a
fresh subprocess, alternating over ``--rounds`` rounds so that the machine's noise falls on both.
Prints real tokens/s, system CPU seconds and page faults of training per run, then their medians and
the tuned / default ratios. The page faults are what the setting is for (each large buffer given back
to the system comes back as fresh zeroed pages); how many, and what they cost, depend on the machine
and its load, so they are measured here, while tests/test_runtime.py checks glibc's bookkeeping of
one large buffer, which does not.

    python benchmarks/allocator.py --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import sys

from _fresh import run_json

_CHILD = r"""
import json, resource, time
import torch
from rnnkit import runtime
from rnnkit.tasks import sentiment

tuned = runtime.tune_allocator()
torch.manual_seed(0)
model = sentiment.build_model(sentiment.resolved(sentiment.preset("seed")))
optimizer = torch.optim.Adam(model.parameters(), 1e-4)
g = torch.Generator().manual_seed(1)
batches = []
for _ in range(12):
    T = int(torch.randint(60, 700, (1,), generator=g))
    lengths = torch.randint(int(T * 0.85), T + 1, (64,), generator=g)
    lengths[0] = T
    tokens = torch.randint(1, 8185, (64, T), generator=g)
    tokens[torch.arange(T)[None] >= lengths[:, None]] = 0
    batches.append((tokens, lengths, torch.randint(0, 2, (64,), generator=g).float()))
real = sum(int(lengths.sum()) for _, lengths, _ in batches)

def train():
    for tokens, lengths, labels in batches:
        logits = model(tokens, lengths).squeeze(1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

train()  # warm-up
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
train()
seconds, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
with torch.inference_mode():
    t1 = time.perf_counter()
    for tokens, lengths, _ in batches:
        model(tokens, lengths)
    predict = time.perf_counter() - t1
print(json.dumps({"tuned": tuned, "train": real / seconds, "predict": real / predict,
                  "sys": r1.ru_stime - r0.ru_stime, "faults": r1.ru_minflt - r0.ru_minflt}))
"""

SETTINGS = (False, True)  # allocator tuned


def name(tuned: bool) -> str:
    return f"allocator {'tuned' if tuned else 'default'}"


def run(tuned: bool) -> dict:
    return run_json(_CHILD, env={"RNNKIT_TUNE_ALLOCATOR": "1" if tuned else "0"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    results: dict[bool, list[dict]] = {tuned: [] for tuned in SETTINGS}
    for round_ in range(args.rounds):
        for tuned in SETTINGS:
            result = run(tuned)
            results[tuned].append(result)
            print(
                f"round {round_ + 1}: {name(tuned):17s} train {result['train']:>9,.0f}  "
                f"predict {result['predict']:>9,.0f} real tokens/s  sys {result['sys']:.2f} s  "
                f"page faults {result['faults']:>9,}",
                flush=True,
            )
    if not all(r["tuned"] for r in results[True]):
        print("(the allocator could not be tuned here: not glibc)")
    keys = ("train", "predict", "sys", "faults")
    median = {tuned: {k: statistics.median(r[k] for r in rs) for k in keys} for tuned, rs in results.items()}
    print(f"\nmedian of {args.rounds} rounds:")
    for tuned in SETTINGS:
        m = median[tuned]
        print(
            f"  {name(tuned):17s} train {m['train']:>9,.0f}  predict {m['predict']:>9,.0f} real tokens/s  "
            f"sys {m['sys']:.2f} s  page faults {m['faults']:>9,.0f}"
        )
    tuned, default = median[True], median[False]
    print(
        f"  tuned / default: train {tuned['train'] / default['train']:.2f}x, "
        f"predict {tuned['predict'] / default['predict']:.2f}x, "
        f"page faults {tuned['faults'] / max(default['faults'], 1):.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
