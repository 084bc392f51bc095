"""onnxruntime against rnnkit's PyTorch predictor on the IMDB test set: speed and parity.

The run's classifier is exported (``rnnkit.export.onnx.export_onnx``, unless ``--onnx`` names a
file already exported), then the test reviews are tokenised once and both predictors score the same
token ids with the same batches: sorted by length, at most 256 reviews and 65,536 tokens per batch
(``sentiment.inference_batches``; ``OnnxPredictor`` inherits ``Predictor``'s batching). Both use
``--threads`` threads (torch's intra-op threads; onnxruntime's ``intra_op_num_threads``), and
rnnkit's allocator setting, as the ``rnnkit`` command does.

So that the machine's slow spells fall on both, the reviews are cut into ``--chunks`` parts (in a
seeded random order) and the two predictors take turns on each part, the one that goes first
alternating; each predictor first warms up on 256 reviews. Reported: reviews per second for each
(total reviews / total seconds), the ratio, and the parity over the set: the largest
|probability difference| and the number of reviews whose label (p > 0.5) differs.

    python benchmarks/onnx_speed.py --run runs/seed-e3 --data ../shared/data
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from _measure import save_results

from rnnkit import runtime
from rnnkit.data import SequenceDataset, imdb
from rnnkit.export.onnx import OnnxPredictor, export_onnx
from rnnkit.tasks import sentiment


def subset(dataset: SequenceDataset, rows: np.ndarray) -> SequenceDataset:
    """The reviews ``rows`` of ``dataset`` (already truncated: nothing is cut again)."""
    return SequenceDataset([dataset.sequences[i] for i in rows], [0] * len(rows), int(dataset.lengths.max()))


def timed(predict, dataset: SequenceDataset) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    probs = predict(dataset)
    return probs, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", required=True, help="a sentiment run directory")
    parser.add_argument("--data", help="IMDB tarball or folder (default: $RNNKIT_DATA)")
    parser.add_argument("--onnx", help="an already exported file of --run (default: export one now)")
    parser.add_argument("--limit", type=int, help="score only N test reviews (a seeded random subset)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="threads for both")
    parser.add_argument("--chunks", type=int, default=10, help="parts the predictors take turns on")
    parser.add_argument("--out", default="benchmarks/results/onnx_speed.json")
    args = parser.parse_args(argv)
    runtime.tune_allocator()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as folder:
        path, export_seconds = args.onnx, None
        if path is None:
            path = str(Path(folder) / "model.onnx")
            info = export_onnx(args.run, path)
            export_seconds = info.seconds
            print(info.summary(), flush=True)
        torch_predictor = sentiment.Predictor.from_run(args.run)
        onnx_predictor = OnnxPredictor.from_run(args.run, path, threads=args.threads)
        onnx_bytes = Path(path).stat().st_size

        test = imdb.load(args.data).test
        order = np.random.default_rng(0).permutation(len(test))[: args.limit or len(test)]
        start = time.perf_counter()
        dataset = torch_predictor.encode([test.texts[i] for i in order])
        labels = np.asarray(test.labels)[order]
        print(f"{len(dataset):,} test reviews tokenised in {time.perf_counter() - start:.1f} s", flush=True)

        predictors = {"torch": torch_predictor.predict, "onnxruntime": onnx_predictor.predict}
        warm = subset(dataset, np.arange(min(256, len(dataset))))
        for predict in predictors.values():
            predict(warm)
        probs = {name: np.zeros(len(dataset)) for name in predictors}
        seconds = dict.fromkeys(predictors, 0.0)
        for k, part in enumerate(np.array_split(np.arange(len(dataset)), args.chunks)):
            chunk = subset(dataset, part)
            for name in list(predictors)[:: 1 if k % 2 == 0 else -1]:
                probs[name][part], took = timed(predictors[name], chunk)
                seconds[name] += took
            print(
                f"  part {k + 1}/{args.chunks}: torch {seconds['torch']:6.1f} s, "
                f"onnxruntime {seconds['onnxruntime']:6.1f} s so far",
                flush=True,
            )
    diff = np.abs(probs["torch"] - probs["onnxruntime"])
    n = len(dataset)
    result = {
        "command": " ".join(["python", *sys.argv]),
        "run": args.run,
        "reviews": n,
        "threads": args.threads,
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "export_seconds": export_seconds,
        "onnx_bytes": onnx_bytes,
        "reviews_per_s": {name: n / s for name, s in seconds.items()},
        "seconds": seconds,
        "speed_ratio_onnxruntime_over_torch": seconds["torch"] / seconds["onnxruntime"],
        "accuracy": {name: float(((p > 0.5) == (labels > 0.5)).mean()) for name, p in probs.items()},
        "max_abs_diff_probability": float(diff.max()),
        "label_disagreements": int(((probs["torch"] > 0.5) != (probs["onnxruntime"] > 0.5)).sum()),
    }
    for name in predictors:
        print(
            f"{name:12s} {result['reviews_per_s'][name]:8,.0f} reviews/s ({seconds[name]:.1f} s), "
            f"accuracy {result['accuracy'][name]:.4%}"
        )
    print(
        f"onnxruntime / torch speed: {result['speed_ratio_onnxruntime_over_torch']:.2f}x; parity over "
        f"{n:,} reviews: max |diff| of probability {result['max_abs_diff_probability']:.1e}, "
        f"{result['label_disagreements']} label disagreements"
    )
    save_results(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
