"""The checks that need a GPU, as one short script for a lent CUDA machine.

1. ``tests/test_cuda.py`` (skipped elsewhere): the fused layers on cuDNN against the reference loop
   on the CPU, float64, with and without lengths (outputs, states, every gradient); no weight-copy
   warning in training (the flat buffer), no host sync in a forward with CPU lengths, autocast fp16;
   the translation model's greedy and beam search on the GPU == on the CPU.
2. Throughput of the seed model's BiLSTM(64) on the GPU against ``torch.nn.LSTM`` on the padded
   batch (no masking) and on the packed batch (exact), float32 and under fp16 autocast; any warning
   raised while timing fails the check.

    python benchmarks/cuda_check.py          # exit status 1 if anything fails
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

import rnnkit

ROOT = Path(__file__).resolve().parent.parent


def throughput(autocast: bool, steps: int = 20) -> dict[str, float]:
    B, E, H = 64, 64, 64
    module = torch.nn.LSTM(E, H, batch_first=True, bidirectional=True).cuda()
    layer = rnnkit.from_torch(module)
    gen = torch.Generator().manual_seed(0)
    batches = [
        (torch.randn(B, generator=gen) * 0.64 + 5.42).exp().long().clamp(8, 2500) for _ in range(steps)
    ]
    runs = {
        "rnnkit (exact)": lambda x, n: layer(x, n)[1][0],
        "torch padded (not exact)": lambda x, n: module(x)[1][0],
        "torch packed (exact)": lambda x, n: module(
            torch.nn.utils.rnn.pack_padded_sequence(x, n, batch_first=True, enforce_sorted=False)
        )[1][0],
    }
    rates = {}
    for name, run in runs.items():
        tokens = 0
        torch.cuda.synchronize()
        start = time.perf_counter()
        for n in batches:
            x = torch.randn(B, int(n.max()), E, device="cuda", requires_grad=True)
            with torch.autocast("cuda", dtype=torch.float16, enabled=autocast):
                h = run(x, n)
            h.float().square().sum().backward()
            tokens += int(n.sum())
        torch.cuda.synchronize()
        rates[name] = tokens / (time.perf_counter() - start)
    return rates


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check here")
        return 0
    print(torch.cuda.get_device_name(), "torch", torch.__version__, "cudnn", torch.backends.cudnn.version())
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "tests/test_cuda.py"], cwd=ROOT)
    failed = tests.returncode != 0
    for autocast in (False, True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            throughput(autocast, steps=3)  # warm-up: cuDNN plans, the allocator
            rates = throughput(autocast)
        label = "fp16 autocast" if autocast else "float32"
        print(f"{label}, real tokens/s (forward + backward, batch 64, lengths ~ IMDB's):")
        for name, rate in rates.items():
            print(f"  {name:26s} {rate:>12,.0f}")
        ours = rates["rnnkit (exact)"]
        print(
            f"  rnnkit / torch padded {ours / rates['torch padded (not exact)']:.2f}x, "
            f"/ torch packed {ours / rates['torch packed (exact)']:.2f}x"
        )
        for message in sorted({str(w.message)[:120] for w in caught}):
            print(f"  WARNING while timing: {message}")
            failed = True
    print("FAILED" if failed else "all GPU checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
