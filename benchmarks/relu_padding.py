"""What exact masking costs a ReLU RNN on a CPU: its padded path with the stop column (exact),
torch's packed kernel (exact, what a GPU runs), the same layer on the padded tensor without lengths
(not exact: the kernel rnnkit once ran with lengths, which overflowed into NaN when padded steps ran
on), and the tanh RNN's padded path, at the same sizes.

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


def rate(layer, batches, with_lengths: bool, repeats: int, packed: bool = False) -> float:
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randn(B, int(n.max()), E, generator=gen) for n in batches]
    tokens = sum(int(n.sum()) for n in batches)
    seconds = []
    for _ in range(repeats + 1):  # the first pass is untimed
        start = time.perf_counter()
        for x, n in zip(inputs, batches):
            x = x.requires_grad_()
            if packed:
                out = packed_pass(layer, x, n)
            else:
                out, _ = layer(x, n if with_lengths else None, return_sequences=False)
            out.square().sum().backward()
        seconds.append(time.perf_counter() - start)
    return tokens / statistics.median(seconds[1:])


def packed_pass(layer, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The layer's one-call packed path (the GPU's), run on the CPU: the final h of each direction."""
    from rnnkit.nn.masking import Padding

    zeros = x.new_zeros(x.shape[0], H)
    _, last = layer._run_layer(
        list(layer.cells), x, [(zeros,)] * 2, Padding.from_lengths(lengths, x.shape[1]), False, layer=0
    )
    return torch.cat([last[0][0], last[1][0]], dim=1)


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
        "relu, lengths (padded + stop column, exact)": rate(relu, batches, True, args.repeats),
        "relu, lengths (packed kernel, exact)": rate(relu, batches, True, args.repeats, packed=True),
        "relu, no lengths (padded kernel, not exact)": rate(relu, batches, False, args.repeats),
        "tanh, lengths (padded kernel, exact)": rate(tanh, batches, True, args.repeats),
    }
    print(f"bidirectional RNN(64), B=64, {args.batches} bucketed batches, threads={torch.get_num_threads()}")
    for name, value in results.items():
        print(f"  {name:45s} {value:>10,.0f} real tokens/s")
    unsafe = results["relu, no lengths (padded kernel, not exact)"]
    for name in ("relu, lengths (padded + stop column, exact)", "relu, lengths (packed kernel, exact)"):
        print(f"  {name.split('(')[1][:-1]} / not exact = {results[name] / unsafe:.2f}x")


if __name__ == "__main__":
    main()
