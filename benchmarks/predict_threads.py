"""One torch thread or two for sentiment prediction, on an idle machine and on a loaded one: the
figures behind ``rnnkit.runtime.inference_threads`` (docs/threads.md, issue 30).

The model is the sentiment preset's (``--preset``, default ``seed``: Embedding(8185, 64) ->
BiLSTM(64) -> Dense(64, relu) -> Dense(1)) with random weights, since speed does not depend on
them, or a trained run (``--run``). It predicts, through ``sentiment.Predictor`` as
``rnnkit sentiment predict`` does (sorted batches of at most 256 reviews and 65,536 tokens):

- one review of 371 tokens (the issue's), one of 2,000 (the longest the seed model reads; every
  preset gets the same lengths);
- 256 reviews of IMDB-like lengths (log-normal, median 230 tokens, 10 to 2,000);
- B reviews of 200 tokens as one batch, B = 4, 16, 32, 64, 128: where a second thread starts to pay.

Each workload runs with 1 and 2 threads (alternating, median of ``--repeats``), first on the
machine as it is (meant to be idle: the load average is printed), then with ``--load`` busy
processes (``while True: pass``, default one per core) that this script starts and kills at the end
(each also stops by itself, 30 s after the time bound). A cell stops repeating after ``--cell-seconds``
(one run at least); past ``--seconds`` in all, the rest is skipped. The ratio is 2 threads' time
over 1 thread's: below 1, two threads are faster. "rule" is what ``inference_threads`` picks for
the work (rows: the batch the loop runs) with torch at 2 threads and the busy cores it saw as each
condition began.

    python benchmarks/predict_threads.py                        # the seed model, about 20 s
    python benchmarks/predict_threads.py --preset pretrained    # a wider one: LSTM(256), about 70 s
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

THREADS = (1, 2)


@dataclass
class Workload:
    name: str
    lengths: np.ndarray  # tokens of each review
    one_batch: bool = False  # run as one batch (the scan) rather than cut by the predictor
    seconds: dict[tuple[str, int], list[float]] = field(default_factory=dict)  # (condition, threads)

    @property
    def rows(self) -> int:
        """The rows the CLI tells the rule: the inputs, at most the predictor's batch size."""
        from rnnkit.tasks import sentiment

        return min(len(self.lengths), sentiment.EVAL_BATCH)


def workloads() -> list[Workload]:
    rng = np.random.default_rng(0)
    imdb_like = np.clip(rng.lognormal(np.log(230), 0.75, 256), 10, 2000).astype(int)
    found = [
        Workload("1 review, 371 tokens", np.array([371])),
        Workload("1 review, 2,000 tokens", np.array([2000])),
        Workload("256 reviews, IMDB-like", imdb_like),
    ]
    found += [Workload(f"{B} x 200 tokens, one batch", np.full(B, 200), True) for B in (4, 16, 32, 64, 128)]
    return found


def build(args: argparse.Namespace):
    import torch

    from rnnkit.tasks import sentiment

    if args.run:
        model, tokenizer, config = sentiment.load_run(args.run)
        return sentiment.Predictor(model, tokenizer, config.max_tokens), config.model.vocab_size
    config = sentiment.resolved(sentiment.preset(args.preset))
    torch.manual_seed(0)
    model = sentiment.build_model(config)
    return sentiment.Predictor(model, None, config.max_tokens), config.model.vocab_size


def timer(predictor, work: Workload, vocab: int):
    from rnnkit.data import SequenceDataset

    rng = np.random.default_rng(1)
    ids = [rng.integers(1, vocab, n) for n in work.lengths]
    dataset = SequenceDataset(ids, [0] * len(ids), int(work.lengths.max()))
    batches = [np.arange(len(ids))] if work.one_batch else None

    def run() -> float:
        began = time.perf_counter()
        predictor.logits(dataset, batches=batches)
        return time.perf_counter() - began

    return run


def measure(condition: str, items: list[tuple[Workload, object]], args: argparse.Namespace, deadline: float):
    import torch

    for work, run in items:
        spent = {t: 0.0 for t in THREADS}
        times = {t: work.seconds.setdefault((condition, t), []) for t in THREADS}
        for _ in range(args.repeats):
            for threads in THREADS:
                if time.monotonic() > deadline and times[threads]:
                    continue
                if spent[threads] > args.cell_seconds:
                    continue
                torch.set_num_threads(threads)
                seconds = run()
                times[threads].append(seconds)
                spent[threads] += seconds
        shown = "  ".join(f"{t} thread(s) {1000 * statistics.median(times[t]):8.1f} ms" for t in THREADS)
        print(f"  {condition:6s} {work.name:28s} {shown}", file=sys.stderr, flush=True)


def busy(count: int, seconds: float) -> list[subprocess.Popen]:
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]


def table(works: list[Workload], busy: dict[str, float]) -> str:
    """The markdown table: per condition, both times, their ratio, and what the rule picks with
    the ``busy`` cores measured as the condition began."""
    from rnnkit.runtime import inference_threads

    head = ["work", "rows"]
    for condition in busy:
        head += [f"{condition}: 1 thread", "2 threads", "2t/1t", "rule"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for work in works:
        cells = [work.name, str(work.rows)]
        for condition, cores in busy.items():
            medians = [statistics.median(work.seconds[(condition, t)]) for t in THREADS]
            counts = [len(work.seconds[(condition, t)]) for t in THREADS]
            cells += [f"{1000 * m:,.1f} ms" + (f" (n={n})" if n < 3 else "") for m, n in zip(medians, counts)]
            cells.append(f"**{medians[1] / medians[0]:.2f}**")
            cells.append(str(inference_threads(work.rows, available=max(THREADS), busy=cores)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--preset", default="seed", help="the sentiment preset whose sizes to build (default seed)"
    )
    parser.add_argument("--run", help="a trained sentiment run instead of random weights")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per cell (median)")
    parser.add_argument("--cell-seconds", type=float, default=6.0, help="stop repeating a cell after this")
    parser.add_argument("--seconds", type=float, default=150.0, help="the whole benchmark's time bound")
    parser.add_argument("--load", type=int, default=os.cpu_count() or 2, help="busy processes for the load")
    args = parser.parse_args(argv)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(name):
            sys.exit(f"unset {name}: this benchmark sets the threads itself")
    start = time.monotonic()
    import torch

    from rnnkit import tune_allocator
    from rnnkit.runtime import busy_cores

    tune_allocator()  # as the rnnkit command does
    predictor, vocab = build(args)
    works = workloads()
    items = [(work, timer(predictor, work, vocab)) for work in works]
    cores = {"idle": busy_cores()}  # as a fresh command sees the machine, before its first call
    for threads in THREADS:  # first calls: every shape's kernels, at each thread count
        torch.set_num_threads(threads)
        for _, run in items:
            run()
    print(
        f"torch {torch.__version__}, {os.cpu_count()} cores, preset {args.run or args.preset}, "
        f"load average before: {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
    )
    deadline = start + args.seconds
    measure("idle", items, args, deadline - args.seconds / 2)  # leave half for the loaded machine
    load = busy(args.load, max(1.0, deadline - time.monotonic()) + 30)
    try:
        time.sleep(0.5)  # the busy processes running
        cores["loaded"] = busy_cores()
        measure("loaded", items, args, deadline)
    finally:
        for process in load:
            process.kill()
            process.wait()
    print(
        f"\n{time.strftime('%Y-%m-%d')}, torch {torch.__version__}, {os.cpu_count()} cores, "
        f"{args.run or 'preset ' + args.preset} (random weights unless a run), loaded: {args.load} busy "
        f"processes; medians, {time.monotonic() - start:.0f} s in all\n"
    )
    print(f"busy cores as the rule saw them: {', '.join(f'{k} {v:.2f}' for k, v in cores.items())}\n")
    print(table(works, cores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
