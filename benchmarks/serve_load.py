"""Load on ``rnnkit serve``: N concurrent clients on loopback, with and without micro-batching.

The server runs in its own process (``rnnkit serve RUN --max-batch B``), started afresh for each
mode; the clients are ``--clients`` asyncio tasks in this process (httpx, one keep-alive connection
each), each posting a review, waiting for the answer, and posting the next, for ``--seconds``
after a ``--warmup``. Reviews are IMDB test reviews (``--data``), or made-up ones without it.
Reported per mode: requests/s, latency p50/p90/p99, errors (any status but 200), the mean batch
the server ran (its ``/health``), and the server's resident memory before and after the load.
Modes run in turn, ``--rounds`` times, alternating, so that the machine's slow spells fall on both.

    python benchmarks/serve_load.py --run runs/seed --data ../shared/data --clients 32 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent
RNNKIT = [sys.executable, "-c", "import sys; from rnnkit.cli import main; sys.exit(main())"]


def reviews(data: str | None, count: int, seed: int = 0) -> list[str]:
    if data is None:
        rng = random.Random(seed)
        words = [
            "good",
            "bad",
            "great",
            "awful",
            "film",
            "plot",
            "acting",
            "music",
            "boring",
            "moving",
            "the",
            "a",
            "and",
            "was",
            "it",
        ]
        return [" ".join(rng.choice(words) for _ in range(rng.randint(50, 400))) for _ in range(count)]
    from rnnkit.data import imdb

    test = imdb.load(data).test.texts
    return random.Random(seed).sample(test, min(count, len(test)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``rnnkit serve`` in a child process, waited for until ``/health`` answers."""

    def __init__(self, run: str, max_batch: int, threads: int | None) -> None:
        self.port = free_port()
        command = [*RNNKIT, "serve", f"model={run}", "--port", str(self.port), "--max-batch", str(max_batch)]
        command += ["--max-concurrent", "1024"] + (["--threads", str(threads)] if threads else [])
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                sys.exit(f"the server stopped:\n{self.process.stderr.read().decode()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                sys.exit("the server did not start within 120 s")
            time.sleep(0.2)

    def rss_mib(self) -> float:
        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=10).json()["models"]["model"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def model_alone(run: str, texts: list[str], sizes: tuple[int, ...], seconds: float, threads: int) -> dict:
    """Requests/s of the model's own batch call in this process, no HTTP: the ceiling of what
    batching can gain, whatever the server does (the same adapter and cut as the server's)."""
    import torch

    from rnnkit.serve.models import Limits, SentimentModel, SentimentRequest

    torch.set_num_threads(threads)
    model = SentimentModel(Path(run), Limits())
    requests = [SentimentRequest(text=t) for t in texts]
    rng, rates = random.Random(0), {}
    for size in sizes:
        model.answer(rng.sample(requests, size))
        done, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds:
            model.answer(rng.sample(requests, size))
            done += size
        rates[size] = done / (time.perf_counter() - began)
    return rates


async def load(url: str, texts: list[str], clients: int, seconds: float, warmup: float) -> dict:
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds

    async def client(index: int) -> None:
        nonlocal errors
        rng = random.Random(index)
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while (now := time.perf_counter()) < stop_at:
                began = now
                try:
                    response = await http.post("/api/model/predict", json={"text": rng.choice(texts)})
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                ended = time.perf_counter()
                if began >= measure_from and ended <= stop_at:
                    latencies.append(ended - began)
                    errors += not ok

    await asyncio.gather(*(client(i) for i in range(clients)))
    ordered = sorted(latencies)

    def quantile(q: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    return {
        "requests": len(latencies),
        "requests_per_s": len(latencies) / seconds,
        "p50_ms": quantile(0.50),
        "p90_ms": quantile(0.90),
        "p99_ms": quantile(0.99),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a sentiment run directory")
    parser.add_argument("--data", help="folder with aclImdb_v1.tar.gz (default: made-up reviews)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per mode and round")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--reviews", type=int, default=2000, help="distinct reviews the clients draw from")
    parser.add_argument("--threads", type=int, help="the server's torch threads (default: torch's)")
    parser.add_argument("--out", default=str(ROOT / "results" / "serve_load.json"))
    args = parser.parse_args()

    texts = reviews(args.data, args.reviews)
    import torch

    threads = args.threads or max(1, torch.get_num_threads() - 1)  # what the server will use
    alone = model_alone(args.run, texts, (1, 16, 32), args.seconds / 4, threads)
    print(
        f"the model alone, {threads} thread(s), no HTTP: "
        + ", ".join(f"batch {b}: {r:.0f} req/s" for b, r in alone.items())
        + f" ({alone[32] / alone[1]:.2f}x at 32)",
        flush=True,
    )
    modes = {"one at a time (--max-batch 1)": 1, "micro-batching (--max-batch 64)": 64}
    rows: dict[str, list[dict]] = {mode: [] for mode in modes}
    for round_ in range(args.rounds):
        for mode, max_batch in modes.items():
            server = Server(args.run, max_batch, args.threads)
            try:
                rss_before = server.rss_mib()
                before = server.health()
                result = asyncio.run(load(server.url, texts, args.clients, args.seconds, args.warmup))
                after = server.health()
                batches = after["batches"] - before["batches"]
                result |= {
                    "mean_batch": (after["requests"] - before["requests"]) / batches if batches else 0.0,
                    "rss_before_mib": rss_before,
                    "rss_after_mib": server.rss_mib(),
                }
            finally:
                server.stop()
            rows[mode].append(result)
            shown = ", ".join(
                f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()
            )
            print(f"round {round_ + 1}, {mode}: {shown}", flush=True)

    summary = {}
    for mode, results in rows.items():
        summary[mode] = {
            key: statistics.median(r[key] for r in results) for key in results[0] if key != "errors"
        } | {"errors": sum(r["errors"] for r in results)}
    single, batched = (summary[m] for m in modes)
    ratio = batched["requests_per_s"] / single["requests_per_s"]
    print(f"\n{args.clients} clients, medians of {args.rounds} rounds of {args.seconds:.0f} s:")
    for mode, s in summary.items():
        print(
            f"  {mode:32s} {s['requests_per_s']:7.1f} req/s"
            f"  p50 {s['p50_ms']:6.1f} ms  p99 {s['p99_ms']:6.1f} ms"
            f"  mean batch {s['mean_batch']:5.1f}  errors {s['errors']}"
            f"  RSS {s['rss_before_mib']:.0f} -> {s['rss_after_mib']:.0f} MiB"
        )
    print(f"  micro-batching / one at a time: {ratio:.2f}x requests/s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {"args": vars(args), "model_alone": alone, "summary": summary, "rounds": rows, "ratio": ratio}
        )
    )


if __name__ == "__main__":
    main()
