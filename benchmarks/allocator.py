"""What the allocator setting (``rnnkit.runtime.tune_allocator``) and concurrent directions give.

The lecture's IMDB model (Embedding(8185, 64) -> BiLSTM(64) -> Dense(64, relu) -> Dense(1)), a whole
training step with Adam, on 12 synthetic batches of 64 reviews with IMDB-like bucketed lengths
(60-700 tokens, each batch within 15% of its longest), then forward-only prediction on the same
batches. The allocator is set per process, so each of the four combinations
{allocator default, tuned} x {directions in turn, concurrent} runs in a fresh subprocess, the
combinations interleaved over ``--rounds`` rounds so that the machine's noise falls on all of them.
Prints real tokens/s, system CPU seconds and page faults per combination, and the ratios.

    python benchmarks/allocator.py --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import sys

from _fresh import run_json

_CHILD = r"""
import json, resource, sys, time
import torch
from rnnkit import runtime
from rnnkit.nn import concurrent
from rnnkit.tasks import sentiment

tuned = runtime.tune_allocator()
concurrent.set_enabled(sys.argv[1] == "1")
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

COMBINATIONS = [  # (allocator tuned, concurrent directions)
    (False, False),
    (True, False),
    (False, True),
    (True, True),
]


def name(tuned: bool, concurrent: bool) -> str:
    return (
        f"allocator {'tuned' if tuned else 'default'}, directions {'concurrent' if concurrent else 'in turn'}"
    )


def run(tuned: bool, concurrent: bool) -> dict:
    env = {"RNNKIT_TUNE_ALLOCATOR": "1" if tuned else "0"}
    return run_json(_CHILD, "1" if concurrent else "0", env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    results: dict[tuple[bool, bool], list[dict]] = {c: [] for c in COMBINATIONS}
    for round_ in range(args.rounds):
        for combination in COMBINATIONS:
            result = run(*combination)
            results[combination].append(result)
            print(
                f"round {round_ + 1}: {name(*combination):42s} train {result['train']:>9,.0f}  "
                f"predict {result['predict']:>9,.0f} real tokens/s  sys {result['sys']:.2f} s  "
                f"page faults {result['faults']:,}",
                flush=True,
            )
    if not all(r["tuned"] for c in COMBINATIONS if c[0] for r in results[c]):
        print("(the allocator could not be tuned here: not glibc, or RNNKIT_TUNE_ALLOCATOR=0)")
    median = {
        c: {k: statistics.median(r[k] for r in rs) for k in ("train", "predict")} for c, rs in results.items()
    }
    print(f"\nmedian of {args.rounds} rounds, real tokens/s:")
    for combination in COMBINATIONS:
        m = median[combination]
        print(f"  {name(*combination):42s} train {m['train']:>9,.0f}  predict {m['predict']:>9,.0f}")
    base = median[(False, False)]
    for combination in COMBINATIONS[1:]:
        m = median[combination]
        print(
            f"  {name(*combination)} / {name(False, False)}: "
            f"train {m['train'] / base['train']:.2f}x, predict {m['predict'] / base['predict']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
