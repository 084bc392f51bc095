"""Choose activity settings across subjects, never on the test subjects (issue 28).

Each variant (``--set`` overrides of the preset) is trained five times per subset, each time with
one of the training subjects 1, 3, 5, 7, 9 held out to validate (leave one subject out); the table
gives the mean validation accuracy of the five (each at the epoch its validation loss chose). The
test subjects 2, 4, 6, 8, 10 are not read. Run under the CPU lock from the repository root:

    flock /tmp/rnnkit-cpu.lock .venv/bin/python benchmarks/activity_sweep.py \
        --variant fast= --variant noaug=augment.rotate_deg=0,augment.scale=0,augment.stretch=0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from rnnkit.config import apply_overrides
from rnnkit.tasks import activity
from rnnkit.tasks.activity.task import RUNS, build_model, load_inputs

SUBJECTS = (1, 3, 5, 7, 9)


def validation_accuracy(run: Path, inputs: activity.Inputs) -> float:
    model, config = RUNS.load_model(run, build_model)
    from rnnkit.train.cv import Splits

    data = load_inputs(inputs, config, Splits.load(run / activity.SPLITS_FILE))
    probs = np.stack([clip for clip, _ in activity.predict_frames([model], data.validation)])
    return float((probs.argmax(axis=1) == data.validation.labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/msr_action3d")
    parser.add_argument("--subsets", nargs="+", default=["AS1", "AS2", "AS3"])
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=KEY=VALUE,...")
    parser.add_argument("--out", default="runs/act-sweep")
    args = parser.parse_args()
    inputs = activity.Inputs("msr", args.data)
    print(f"{'variant':24s}" + "".join(f"{s:>8s}" for s in args.subsets) + f"{'mean':>8s}{'seconds':>9s}")
    for spec in args.variant:
        name, _, overrides = spec.partition("=")
        sets = [o for o in overrides.split(",") if o]
        scores, start = [], time.perf_counter()
        for subset in args.subsets:
            per_subject = []
            for v in SUBJECTS:
                config = apply_overrides(
                    activity.preset("fast"), [*sets, f"subset={subset}", f"validation_subject={v}"]
                )
                run = Path(args.out) / name / subset / f"s{v:02d}"
                if not (run / "results.json").is_file():
                    activity.train(config, inputs, run, resume=False)
                per_subject.append(validation_accuracy(run, inputs))
            scores.append(float(np.mean(per_subject)))
        seconds = time.perf_counter() - start
        print(
            f"{name:24s}" + "".join(f"{a:8.2%}" for a in scores) + f"{np.mean(scores):8.2%}{seconds:9.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
