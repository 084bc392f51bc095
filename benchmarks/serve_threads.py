"""Where the model-side figures of docs/serve.md come from: which thread runs torch, what a time step
costs by batch size, and what the batch planner gains. The model alone, no HTTP (``serve_load.py``
measures the server).

- **threads**: a one-review ``SentimentModel.answer`` call, median of ``--calls``, in a fresh process
  each: ``main`` (loaded and called in the main thread), ``worker after main`` (loaded in the main
  thread, called in a worker thread: the server before the fix, two OpenMP teams), ``one thread``
  (loaded and called in ``rnnkit.serve.batcher.torch_thread``, as the server does now);
- **step costs**: ``StepCosts.measure`` of the loaded model: microseconds per time step over 1 row,
  and per row over ``--batch`` rows;
- **planner**: ``--batch`` IMDB test reviews answered as one padded batch, and cut by
  ``planned_batches`` with those costs (what the server does with a gathered batch): reviews/s,
  median of ``--rounds``.

    python benchmarks/serve_threads.py --run runs/seed --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MODES = ("main", "worker after main", "one thread")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a trained sentiment run directory")
    parser.add_argument("--data", help="IMDB tarball or folder (default: $RNNKIT_DATA, then cache)")
    parser.add_argument("--calls", type=int, default=50, help="one-review calls timed per mode")
    parser.add_argument("--batch", type=int, default=64, help="reviews of the planner's batch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # a child process's mode
    return parser.parse_args(argv)


def load(run: str, max_batch: int):
    from rnnkit.serve.models import Limits, SentimentModel

    return SentimentModel(Path(run), Limits(max_batch=max_batch))


def one_mode(args: argparse.Namespace, review: str) -> float:
    """Median milliseconds of a one-review answer in this process, in ``args.mode``."""
    from rnnkit.serve.batcher import torch_thread
    from rnnkit.serve.models import SentimentRequest

    request = [SentimentRequest(text=review)]
    if args.mode == "one thread":
        model = torch_thread().submit(load, args.run, args.batch).result()
        runner = torch_thread()
    else:
        model = load(args.run, args.batch)
        runner = ThreadPoolExecutor(1) if args.mode == "worker after main" else None

    def timed() -> float:
        began = time.perf_counter()
        model.answer(request)
        return time.perf_counter() - began

    call = (lambda: runner.submit(timed).result()) if runner else timed
    for _ in range(5):
        call()  # warm
    return 1000 * statistics.median(call() for _ in range(args.calls))


def main() -> None:
    args = parse()
    from rnnkit import tune_allocator
    from rnnkit.data import imdb

    tune_allocator()  # as the rnnkit command does
    if args.mode:  # a child: the review comes on stdin
        print(json.dumps(one_mode(args, sys.stdin.read())))
        return
    texts = imdb.load(args.data).test.texts
    import torch

    print(f"{args.run}, torch threads: {torch.get_num_threads()}")
    for mode in MODES:
        command = [sys.executable, __file__, "--run", args.run, "--calls", str(args.calls), "--mode", mode]
        command += ["--batch", str(args.batch)]
        done = subprocess.run(command, input=texts[0], capture_output=True, text=True, check=True)
        print(f"  one review, {mode:18s} {json.loads(done.stdout.splitlines()[-1]):7.2f} ms (median)")

    import numpy as np

    from rnnkit.data.batching import planned_batches

    model = load(args.run, args.batch)  # measures its step costs, as the server does at load
    costs, B = model.costs, args.batch
    print(
        f"  a time step: {costs.step[0] * 1e6:.1f} us over 1 row, "
        f"{costs.step[B - 1] / B * 1e6:.2f} us per row over {B} rows "
        f"(call overhead {costs.call * 1e6:.0f} us)"
    )
    predictor, sentiment = model.predictor, model.sentiment
    reviews = [texts[i] for i in np.random.default_rng(0).choice(len(texts), B, replace=False)]
    dataset = sentiment.encode(predictor.tokenizer, reviews, [0] * B, predictor.max_tokens)
    plans = {
        "one padded batch": [np.arange(B)],
        "planned cuts": planned_batches(dataset.lengths, costs.step, costs.call, sentiment.EVAL_TOKENS),
    }
    for name, batches in plans.items():
        predictor.logits(dataset, batches=batches)  # warm
        seconds = []
        for _ in range(args.rounds):
            began = time.perf_counter()
            predictor.logits(dataset, batches=batches)
            seconds.append(time.perf_counter() - began)
        rate = B / statistics.median(seconds)
        print(f"  {B} reviews, {name:16s} ({len(batches)} calls): {rate:6,.0f} reviews/s")


if __name__ == "__main__":
    main()
