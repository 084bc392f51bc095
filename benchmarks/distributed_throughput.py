"""Training throughput of the seed sentiment model: 2 processes x 1 thread against 1 process x 2 threads.

The ``seed`` preset (Embedding(8185, 64) -> BiLSTM(64) -> Dense(64, relu) -> Dense(1), batch 64,
Adam 1e-4), trained on real IMDB reviews by the shared trainer, as ``rnnkit sentiment train
--preset seed`` does:

- ``1x2``: one process with 2 torch threads (the single-process trainer, no DDP);
- ``2x1``: two processes under torchrun (``--standalone``, gloo), 1 thread each, each training on
  its share of every global batch (docs/distributed.md).

Both see the same global batches in the same order. Throughput is real (non-padding) tokens of the
training steps per second of training steps (validation excluded), per epoch; the validation
accuracy after the last epoch shows that the two agree to the noise of summation order. The
configurations alternate, ``--repeats`` times each, every run in fresh processes.

    python benchmarks/distributed_throughput.py --data ../shared/data --epochs 2
    python benchmarks/distributed_throughput.py --data ../shared/data --subset 2000 --epochs 1  # a check

``--subset N`` trains on N reviews (a quick check; the tokenizer learns from them too), ``--steps N``
stops each epoch after N global batches.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time

WORKER = "--worker"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="IMDB tarball or folder (default: $RNNKIT_DATA, then cache)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--subset", type=int, default=0, help="train on this many reviews (0: all 22,500)")
    parser.add_argument("--steps", type=int, default=0, help="global batches per epoch (0: all)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each configuration, alternating")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(WORKER, action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- one run (a process of it) -----------------------------------------------------------------------


class Clock:
    """Seconds of each epoch's training steps: from its start to its last step's end."""

    def __init__(self, steps: int) -> None:
        self.steps, self.seconds = steps, []

    def on_epoch_begin(self, epoch: int, epochs: int, steps: int) -> None:
        self.start = time.perf_counter()

    def on_step(self, step: int, logs: dict[str, float]) -> None:
        if step == self.steps:
            self.seconds.append(time.perf_counter() - self.start)


def epoch_tokens(train, batch_size: int, seed: int, steps: int) -> int:
    """The real tokens of an epoch's first ``steps`` global batches (every process counts them all)."""
    from rnnkit.data.batching import bucket_indices

    batches = bucket_indices(train.lengths, batch_size, shuffle=True, seed=seed)[:steps]
    return int(sum(train.lengths[indices].sum() for indices in batches))


def worker(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from rnnkit.config import apply_overrides
    from rnnkit.runtime import tune_allocator
    from rnnkit.tasks import sentiment
    from rnnkit.train import Trainer, seed_everything

    tune_allocator()  # as the rnnkit command does
    config = apply_overrides(
        sentiment.preset("seed"), [f"train.epochs={args.epochs}", f"train_subset={args.subset}"]
    )
    seed_everything(config.train.seed)
    prepared = sentiment.prepare(config, args.data)
    vocab = prepared.tokenizer.vocab_size
    config = dataclasses.replace(
        config, vocab_size=vocab, model=dataclasses.replace(config.model, vocab_size=vocab)
    )
    train, batch_size, seed = prepared.train, config.train.batch_size, config.train.seed
    steps = args.steps or train.num_batches(batch_size)
    clock = Clock(steps)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(sentiment.build_model(config), sentiment.step, config.train, run_dir, [clock])

        def batches(epoch: int):
            return itertools.islice(
                train.batches(batch_size, shuffle=True, seed=seed * 1000 + epoch, shard=trainer.shard), steps
            )

        history = trainer.fit(
            batches, steps, lambda: sentiment.inference_batches(prepared.validation, shard=trainer.shard)
        )
    tokens = [
        epoch_tokens(train, batch_size, seed * 1000 + epoch, steps) for epoch in range(1, args.epochs + 1)
    ]
    if trainer.writes:
        print(
            json.dumps(
                {
                    "tokens_per_second": [t / s for t, s in zip(tokens, clock.seconds)],
                    "step_seconds": [s / steps for s in clock.seconds],
                    "val_accuracy": history[-1]["val_accuracy"],
                    "val_loss": history[-1]["val_loss"],
                    "threads": torch.get_num_threads(),
                    "processes": trainer.group.world if trainer.group else 1,
                    "train_reviews": len(train),
                    "steps_per_epoch": steps,
                    "real_tokens_per_epoch": tokens,
                    "mean_tokens_per_review": float(np.mean(train.lengths)),
                }
            ),
            flush=True,
        )


# -- the comparison ----------------------------------------------------------------------------------

CONFIGS = {"1x2": (1, 2), "2x1": (2, 1)}  # name: (processes, threads each)


def run(name: str, args: argparse.Namespace) -> dict:
    processes, threads = CONFIGS[name]
    script = [os.path.abspath(__file__), WORKER, "--epochs", str(args.epochs), "--subset", str(args.subset)]
    script += ["--steps", str(args.steps)] + (["--data", args.data] if args.data else [])
    if processes == 1:
        command = [sys.executable, *script]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={processes}",
        ]
        command += script
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the {name} run failed:\n{done.stderr[-4000:]}")
    result = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    return {"config": name, "wall_seconds": time.perf_counter() - start, **result}


def main() -> None:
    args = parse()
    if args.worker:
        worker(args)
        return
    results = []
    for repeat in range(args.repeats):
        for name in CONFIGS if repeat % 2 == 0 else reversed(CONFIGS):
            print(f"repeat {repeat + 1}/{args.repeats}: {name}, {args.epochs} epoch(s) ...", flush=True)
            results.append(run(name, args))
            r = results[-1]
            rates = ", ".join(f"{rate:,.0f}" for rate in r["tokens_per_second"])
            print(
                f"{name}: real tokens/s by epoch {rates}; {r['step_seconds'][-1] * 1000:.0f} ms/step; "
                f"val accuracy {r['val_accuracy']:.4f} (loss {r['val_loss']:.4f}); {r['wall_seconds']:.0f} s",
                flush=True,
            )
    last = {name: [r["tokens_per_second"][-1] for r in results if r["config"] == name] for name in CONFIGS}
    best = {name: max(rates) for name, rates in last.items()}
    first = results[0]
    print(
        f"last epoch, best of {args.repeats}: 2x1 / 1x2 = {best['2x1'] / best['1x2']:.2f}x "
        f"({best['2x1']:,.0f} against {best['1x2']:,.0f} real tokens/s; {first['train_reviews']:,} "
        f"reviews, {first['steps_per_epoch']} steps an epoch)"
    )
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"args": vars(args), "runs": results}, file, indent=2)


if __name__ == "__main__":
    main()
