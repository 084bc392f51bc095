"""The character LM against a wall-clock budget: validation loss against training time.

Runs an ``rnnkit lm`` preset on Tiny Shakespeare for ``--minutes`` (validation after each pass over
the training text, counted in the time), then prints the validation loss curve against minutes
beside the nanoGPT peer the issue measured on this machine, and measures batch-1 sampling speed.

    python benchmarks/charlm_wallclock.py --text ../shared/data/tinyshakespeare/input.txt --minutes 15

nanoGPT (the ``shakespeare_char`` CPU config, 0.8M parameters), measured on this machine and quoted
by the issue: validation loss 1.886 after 2.3 minutes, 1.547 after 13.4 minutes (12,000 iterations).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from rnnkit.config import apply_overrides
from rnnkit.tasks import charlm
from rnnkit.train import ProgressBar
from rnnkit.train.plots import save_png

NANOGPT = [(2.3, 1.886), (13.4, 1.547)]  # (minutes, validation loss), quoted by the issue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--text", required=True, help="Tiny Shakespeare input.txt")
    parser.add_argument("--preset", default="shakespeare-15min", choices=list(charlm.PRESETS))
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget, validation included")
    parser.add_argument("--out", default="runs/bench-charlm")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--sample-chars", type=int, default=2000)
    args = parser.parse_args(argv)

    config = apply_overrides(charlm.preset(args.preset), [f"train.time_limit={args.minutes}", *args.set])
    out = Path(args.out)
    for name in ("train_state.pt", "last.safetensors", "best.safetensors", "config.json"):
        (out / name).unlink(missing_ok=True)
    print(f"{args.preset}: {args.minutes} min budget, {torch.get_num_threads()} threads", file=sys.stderr)
    results = charlm.train(config, args.text, out, callbacks=[ProgressBar()])
    history = json.loads((out / "history.json").read_text())

    print("\nminutes  val_loss  val_bits/char   (rnnkit, after each pass over the training text)")
    for row in history:
        print(f"{row['elapsed'] / 60:7.2f}  {row['val_loss']:8.4f}  {row['val_loss'] / charlm.LN2:8.3f}")
    print("nanoGPT (quoted): " + ", ".join(f"{loss} at {m} min" for m, loss in NANOGPT))
    for minutes, loss in NANOGPT:
        ours = [row["val_loss"] for row in history if row["elapsed"] <= 60 * minutes]
        if ours:
            print(f"at {minutes} min: rnnkit {min(ours):.4f} vs nanoGPT {loss}")

    model, vocab, _ = charlm.load_run(out)
    torch.set_num_threads(1)
    start = time.perf_counter()
    for _ in charlm.sample(model, vocab, "ROMEO:", args.sample_chars, 0.8, seed=0):
        pass
    speed = args.sample_chars / (time.perf_counter() - start)
    print(f"sampling at batch 1 (1 thread): {speed:,.0f} characters/s")
    summary = {
        **results,
        "sampling_chars_per_second": speed,
        "curve": [(r["elapsed"], r["val_loss"]) for r in history],
    }
    (out / "benchmark.json").write_text(json.dumps(summary, indent=2) + "\n")
    _plot(history, out / "val_loss_vs_time.png")
    print(f"curve: {out / 'val_loss_vs_time.png'}")
    return 0


def _plot(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["elapsed"] / 60 for r in history], [r["val_loss"] for r in history], "o-", label="rnnkit LSTM")
    ax.plot(*zip(*NANOGPT), "s--", label="nanoGPT (quoted, this machine)")
    ax.axhline(1.54, color="grey", lw=0.8, ls=":", label="target 1.54")
    ax.set_xlabel("training minutes (2 CPU cores)")
    ax.set_ylabel("validation loss (nats/char)")
    ax.set_ylim(1.3, 2.6)
    ax.grid(alpha=0.3)
    ax.legend()
    save_png(fig, path, dpi=80)


if __name__ == "__main__":
    sys.exit(main())
