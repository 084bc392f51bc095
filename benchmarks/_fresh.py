"""Run a benchmark's measuring code in a fresh Python process: what a process-wide setting (the
allocator) or a first pass (new heap, new kernel shapes) needs to be measured honestly."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_json(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` with ``args`` in a new interpreter; return the JSON object of its last stdout
    line. A failed child stops the benchmark with the child's stderr."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"a measuring process failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
