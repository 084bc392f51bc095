"""What the benchmarks share: the options of one that times a trained run, a median of timed passes,
and writing the results where the docs read them."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_parser(doc: str, task: str, files: str, default: str, rounds: int) -> argparse.ArgumentParser:
    """The options of a benchmark that times a trained ``task`` run on ``files`` from ``--data``
    (``default``: where they are without it): the run, ``--data``, ``--rounds`` timed passes."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help=f"a trained {task} run directory")
    parser.add_argument("--data", help=f"folder with {files} (default: {default})")
    parser.add_argument("--rounds", type=int, default=rounds)
    return parser


def median_seconds(run: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    """``run()`` ``rounds`` times: the median of its wall times and what the last call returned.
    The caller makes the untimed first pass (kernel set-up, heap growth) that it needs."""
    seconds, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def save_results(results: Any, path: str | Path) -> None:
    """``results`` as indented JSON at ``path`` (its folder made if missing), and where it went."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {path}")
