"""What exact masking costs a ReLU RNN: the packed kernel it now runs with padding, against the same
layer on the padded tensor without lengths (the kernel rnnkit used before, which overflowed into
NaN when padded steps ran on) and against the tanh RNN's padded path, at the same sizes.

Forward + backward of a bidirectional ``rnnkit.RNN(64, 64)``, B=64, IMDB-like lengths (as in
``lstm_masking_throughput.py``), bucketed; real tokens per second, medians over ``--repeats``
passes, all in one process.

    python benchmarks/relu_padding.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import rnnkit

B, E, H = 64, 64, 64


def rate(layer, batches, with_lengths: bool, repeats: int) -> float:
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randn(B, int(n.max()), E, generator=gen) for n in batches]
    tokens = sum(int(n.sum()) for n in batches)
    seconds = []
    for _ in range(repeats + 1):  # the first pass is untimed
        start = time.perf_counter()
        for x, n in zip(inputs, batches):
            x = x.requires_grad_()
            out, _ = layer(x, n if with_lengths else None, return_sequences=False)
            out.square().sum().backward()
        seconds.append(time.perf_counter() - start)
    return tokens / statistics.median(seconds[1:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rnnkit.tune_allocator()
    gen = torch.Generator().manual_seed(0)
    lengths = (torch.randn(args.batches * B, generator=gen) * 0.64 + 5.42).exp().round().long().clamp(8, 2500)
    batches = list(lengths.sort().values.split(B))
    torch.manual_seed(0)
    relu = rnnkit.RNN(E, H, nonlinearity="relu", bidirectional=True)
    tanh = rnnkit.RNN(E, H, bidirectional=True)
    results = {
        "relu, lengths (packed kernel, exact)": rate(relu, batches, True, args.repeats),
        "relu, no lengths (padded kernel, not exact)": rate(relu, batches, False, args.repeats),
        "tanh, lengths (padded kernel, exact)": rate(tanh, batches, True, args.repeats),
    }
    print(f"bidirectional RNN(64), B=64, {args.batches} bucketed batches, threads={torch.get_num_threads()}")
    for name, value in results.items():
        print(f"  {name:45s} {value:>10,.0f} real tokens/s")
    packed = results["relu, lengths (packed kernel, exact)"]
    print(f"  packed / padded relu = {packed / results['relu, no lengths (padded kernel, not exact)']:.2f}x")


if __name__ == "__main__":
    main()
