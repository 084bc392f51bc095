"""The checks that need a GPU, as one short script for a lent CUDA machine.

1. Parity: the fused layers on CUDA (cuDNN) against the reference loop on CPU, float64, with
   lengths: outputs, final states and the gradients of the input and every weight.
2. Warnings torch raises on the fused path (e.g. about weights not in one contiguous chunk).
3. Throughput of the lecture's BiLSTM(64), as in ``lstm_masking_throughput.py``, on the GPU.

    python benchmarks/cuda_check.py
"""

from __future__ import annotations

import sys
import time
import warnings

import torch

import rnnkit


def parity(kind: str) -> float:
    layer_class = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}[kind]
    torch.manual_seed(0)
    reference = layer_class(5, 7, num_layers=2, bidirectional=True, impl="reference").double()
    fused = layer_class(5, 7, num_layers=2, bidirectional=True, impl="fused").double().cuda()
    fused.load_state_dict(reference.state_dict())
    x = torch.randn(4, 9, 5, dtype=torch.float64)
    lengths = torch.tensor([9, 4, 1, 6])
    worst = 0.0
    results = []
    for layer, device in ((reference, "cpu"), (fused, "cuda")):
        xd = x.to(device).requires_grad_()
        out, state = layer(xd, lengths)
        finals = state if isinstance(state, tuple) else (state,)
        (out.square().sum() + sum(s.sum() for s in finals)).backward()
        grads = [xd.grad] + [p.grad for p in layer.parameters()]
        results.append([t.detach().cpu() for t in (out, *finals, *grads)])
    for a, b in zip(*results):
        worst = max(worst, (a - b).abs().max().item())
    return worst


def throughput() -> dict[str, float]:
    B, E, H = 64, 64, 64
    module = torch.nn.LSTM(E, H, batch_first=True, bidirectional=True).cuda()
    layer = rnnkit.from_torch(module)
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.randn(B, generator=gen) * 0.64 + 5.42).exp().long().clamp(8, 2500) for _ in range(20)]
    rates = {}
    for name, run in (
        ("rnnkit", lambda x, n: layer(x, n)[1][0]),
        ("torch padded", lambda x, n: module(x)[1][0]),
        (
            "torch packed",
            lambda x, n: module(
                torch.nn.utils.rnn.pack_padded_sequence(x, n, batch_first=True, enforce_sorted=False)
            )[1][0],
        ),
    ):
        tokens = 0
        torch.cuda.synchronize()
        start = time.perf_counter()
        for n in batches:
            x = torch.randn(B, int(n.max()), E, device="cuda", requires_grad=True)
            run(x, n).square().sum().backward()
            tokens += int(n.sum())
        torch.cuda.synchronize()
        rates[name] = tokens / (time.perf_counter() - start)
    return rates


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check here")
        return 0
    print(torch.cuda.get_device_name(), "torch", torch.__version__, "cudnn", torch.backends.cudnn.version())
    failed = False
    for kind in ("rnn", "lstm", "gru"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            error = parity(kind)
        failed |= error > 1e-9
        messages = sorted({str(w.message)[:80] for w in caught})
        print(f"{kind}: max |fused cuda - reference cpu| = {error:.1e}; warnings: {messages}")
    throughput()  # warm-up
    rates = throughput()
    for name, rate in rates.items():
        print(f"  {name:13s} {rate:>12,.0f} real tokens/s")
    padded, packed = rates["rnnkit"] / rates["torch padded"], rates["rnnkit"] / rates["torch packed"]
    print(f"  rnnkit / padded {padded:.2f}x, / packed {packed:.2f}x")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
