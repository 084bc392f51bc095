"""Forward + backward throughput of the lecture's BiLSTM(64) in real (non-padding) tokens/s.

Compares, on the same batches in one run (these machines are shared, so only ratios are meaningful):

- ``rnnkit``: ``rnnkit.LSTM(64, 64, bidirectional=True)`` with ``lengths`` (exact masking, fused);
- ``torch padded``: ``torch.nn.LSTM`` on the padded tensor, no masking (fast but wrong: padding
  leaks into the final states);
- ``torch packed``: ``torch.nn.LSTM`` on a ``PackedSequence`` (exact, slow on CPU).

Inputs are embedded tokens (B=64, E=64) whose lengths follow IMDB's: log-normal with the log-mean
5.42 and log-std 0.64 of the train reviews' word-and-punctuation counts, clipped to [8, 2500].
``--batching shuffled`` pads random batches to their longest review (the tutorial's pipeline);
``--batching bucketed`` sorts a pool of reviews by length first, so little is padding.

    python benchmarks/lstm_masking_throughput.py --batching shuffled
    python benchmarks/lstm_masking_throughput.py --batching bucketed
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit

B, E, H = 64, 64, 64


def make_batches(n: int, batching: str, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    lengths = (torch.randn(n * B, generator=gen) * 0.64 + 5.42).exp().round().long().clamp(8, 2500)
    if batching == "bucketed":
        lengths = lengths.sort().values
        order = torch.randperm(n, generator=gen)
        return [lengths[i * B : (i + 1) * B][torch.randperm(B, generator=gen)] for i in order]
    return list(lengths.split(B))


def step_rnnkit(layer, x, lengths):
    _, (h_n, _) = layer(x, lengths)
    return h_n


def step_torch_padded(module, x, lengths):
    _, (h_n, _) = module(x)
    return h_n


def step_torch_packed(module, x, lengths):
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    _, (h_n, _) = module(packed)
    return h_n


def time_pass(step, model, batches, seed: int) -> float:
    """Seconds for forward + backward over every batch."""
    gen = torch.Generator().manual_seed(seed)
    elapsed = 0.0
    for lengths in batches:
        x = torch.randn(B, int(lengths.max()), E, generator=gen).requires_grad_()
        start = time.perf_counter()
        h_n = step(model, x, lengths)
        h_n.square().sum().backward()
        elapsed += time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batching", choices=["shuffled", "bucketed"], default="shuffled")
    parser.add_argument("--batches", type=int, default=6, help="batches per timed pass")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per method (median kept)")
    parser.add_argument("--skip-packed", action="store_true", help="packed is slow: leave it out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    module = torch.nn.LSTM(E, H, batch_first=True, bidirectional=True)
    layer = rnnkit.from_torch(module)
    batches = make_batches(args.batches, args.batching, args.seed)
    real = sum(int(n.sum()) for n in batches)
    padded = sum(int(n.max()) * B for n in batches)
    methods = {"rnnkit": (step_rnnkit, layer), "torch padded": (step_torch_padded, module)}
    if not args.skip_packed:
        methods["torch packed"] = (step_torch_packed, module)

    for step, model in methods.values():  # warm-up
        time_pass(step, model, batches[:1], args.seed)
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(args.repeats):  # interleaved, so load on the machine hits every method alike
        for name, (step, model) in methods.items():
            times[name].append(time_pass(step, model, batches, args.seed))

    rate = {name: real / statistics.median(t) for name, t in times.items()}
    print(f"BiLSTM({H}) forward+backward, B={B}, E={E}, {args.batching} batches: {len(batches)} batches, ")
    print(
        f"{real:,} real tokens, {real / padded:.0%} of the padded tensor; threads={torch.get_num_threads()}"
    )
    for name, r in rate.items():
        print(f"  {name:14s} {r:>10,.0f} real tokens/s")
    print(f"  rnnkit / torch padded = {rate['rnnkit'] / rate['torch padded']:.2f}x (target >= 0.85)")
    if "torch packed" in rate:
        print(f"  rnnkit / torch packed = {rate['rnnkit'] / rate['torch packed']:.2f}x (target >= 5)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batching": args.batching, "real_tokens": real, "tokens_per_s": rate}, f, indent=2)


if __name__ == "__main__":
    main()
