"""Start-up time of the ``rnnkit`` command: ``rnnkit --help`` and each ``rnnkit TASK --help``, against
``python -c pass`` (the interpreter alone) and ``python -c "import torch"`` (what a command that
imports torch pays before any work), all measured in the same run.

Each command runs as a fresh process (the installed ``rnnkit`` script beside this Python, or
``python -m rnnkit`` without one), ``--repeats`` times; the commands take turns within each round,
so that a slow spell of the machine falls on all of them. Reported: the median and the fastest
wall-clock time of each, in seconds.

    python benchmarks/cli_startup.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rnnkit.cli import build_parser


def rnnkit_command() -> list[str]:
    script = Path(sys.executable).with_name("rnnkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rnnkit"]


def task_names() -> list[str]:
    """The top-level commands, in the order of ``rnnkit --help``."""
    commands = build_parser()._subparsers._group_actions[0]
    return list(commands.choices)


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (default 5)")
    args = parser.parse_args()

    rnnkit = rnnkit_command()
    name = "rnnkit" if len(rnnkit) == 1 else "python -m rnnkit"
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
        f"{name} --help": [*rnnkit, "--help"],
        **{f"{name} {task} --help": [*rnnkit, task, "--help"] for task in task_names()},
    }
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(args.repeats):
        for label, command in commands.items():
            times[label].append(seconds(command))

    width = max(map(len, commands))
    print(f"{'command':{width}s}  {'median s':>9s}  {'fastest s':>9s}   ({args.repeats} runs each)")
    for label, measured in times.items():
        print(f"{label:{width}s}  {statistics.median(measured):9.3f}  {min(measured):9.3f}")


if __name__ == "__main__":
    main()
