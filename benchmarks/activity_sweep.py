"""Choose activity settings across subjects, never on the test subjects (issue 28).

Each variant (``--set`` overrides of a preset) is trained five times per subset, each time with one
of the training subjects 1, 3, 5, 7, 9 held out to validate (leave one subject out) and the other
four training; the table gives the mean validation accuracy of the five at the last epoch (what a
model trained for the preset's epochs without validation gives, the recipe of seeded members), and
in the last column their mean at the epoch each subject's own validation loss chose (optimistic:
the subject that scores also chose the epoch). The test subjects 2, 4, 6, 8, 10 are in no
part of these runs' splits: nothing trains, validates or scores on them. Run under the CPU lock,
one thread, from the repository root:

    OMP_NUM_THREADS=1 flock /tmp/rnnkit-cpu.lock .venv/bin/python benchmarks/activity_sweep.py \
        --variant fast= --variant noaug=augment.rotate_deg=0,augment.scale=0,augment.stretch=0

``--together a,b,c`` then scores, per held-out subject, the mean of the probabilities of the
(finished) runs of variants a, b and c (such as one recipe trained with three seeds): what an
ensemble of them gives on a subject none of them trained on.

``--fuse 0,0.25,0.5,0.75,1`` then scores, per variant and held-out subject, the late fusion of the
run's model (its last epoch) with the logistic baseline (``rnnkit activity baseline``'s model,
:func:`rnnkit.tasks.activity.logistic_probs`) fitted on the same run's training clips: the clip
probabilities ``w * RNN + (1 - w) * logistic`` for each weight ``w`` (1: the RNN alone, 0: the
logistic alone), and the mean over the variants listed (such as one recipe's seeds) per weight.

``--fuse3 0.5:0.5:0,0.4:0.4:0.2,...`` likewise scores the three-way fusion
``a * RNN + b * logistic + c * DTW`` for each ``a:b:c``, with the 1-NN DTW baseline's class
probabilities (:func:`rnnkit.tasks.activity.dtw_probs`: a softmax of minus each class's nearest DTW
distance over the clip's median of them) against the same run's training clips; ``--dtw-window``
bands DTW (aeon's window, a fraction of the length; default the full window, as the baseline).
``--dtw-sharpness 2,4,8`` scores each triple with a DTW weight once per sharpness s (the softmax's
scale is the median over s; default 1), each row labelled ``A:B:C/s``.

``--held 1,3`` trains and scores only those held-out subjects (default all five; the means are then
over those), so that a slow variant's fifteen runs can be trained in several shorter commands and
read together by one with all five.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from rnnkit.config import apply_overrides
from rnnkit.tasks import activity
from rnnkit.tasks.activity.data import read_msr
from rnnkit.tasks.activity.dtw import dtw_distances, dtw_probs
from rnnkit.tasks.activity.task import RUNS, ActivityRecipe, build_model, load_inputs, predict_frames
from rnnkit.train import checkpoint as ckpt
from rnnkit.train.cv import Split, Splits
from rnnkit.train.template import train_run

SUBJECTS = (1, 3, 5, 7, 9)


class ValidationOnly(ActivityRecipe):
    """The run's "test" scores are its validation subject's: the best epoch's accuracy on it."""

    def test(self, config, data, trainer, model) -> dict:
        probs = np.stack([clip for clip, _ in predict_frames([model], data.validation)])
        return {"validation_accuracy": float((probs.argmax(axis=1) == data.validation.labels).mean())}


def subject_split(folder: str, subset: str, held: int) -> Splits:
    """Train on the training subjects but ``held``, validate on ``held``; no test part at all."""
    corpus = read_msr(folder, subset)
    index = np.arange(len(corpus.subjects))
    train = index[np.isin(corpus.subjects, SUBJECTS) & (corpus.subjects != held)]
    split = Split(train, index[corpus.subjects == held], index[:0])
    return Splits("cross-subject", 0, len(index), corpus.source, [split])


def together(out: Path, names: list[str], subset: str, held: int, inputs: activity.Inputs) -> float:
    """The held-out subject's accuracy of the mean of the variants' models (their last epoch), each
    reading its own features."""
    probs, labels = [], None
    for name in names:
        run = out / name / subset / f"s{held:02d}"
        model, config = RUNS.load_model(run, build_model, ckpt.LAST)
        data = load_inputs(inputs, config, Splits.load(run / activity.SPLITS_FILE))
        probs.append(np.stack([clip for clip, _ in predict_frames([model], data.validation)]))
        labels = data.validation.labels
    return float((np.mean(probs, axis=0).argmax(axis=1) == labels).mean())


def fused(
    out: Path,
    name: str,
    subset: str,
    held: int,
    inputs: activity.Inputs,
    weights: list[tuple[float, ...]],
    window: float | None = None,
    dtw_cache: dict | None = None,
) -> list[float]:
    """The held-out subject's accuracy of ``a * RNN + b * logistic + c * DTW`` for each ``(a, b)``,
    ``(a, b, c)`` or ``(a, b, c, s)`` in ``weights`` (s: :func:`dtw_probs`'s sharpness, default 1):
    the run's model at its last epoch, the logistic and the DTW neighbours of the run's training
    clips. ``dtw_cache`` keeps the DTW distances of a subject's clips for the next run on the same
    clips (DTW does not depend on the RNN's seed)."""
    run = out / name / subset / f"s{held:02d}"
    model, config = RUNS.load_model(run, build_model, ckpt.LAST)
    data = load_inputs(inputs, config, Splits.load(run / activity.SPLITS_FILE))
    rnn = np.stack([clip for clip, _ in predict_frames([model], data.validation)])  # (N, C)
    train, held_out = list(data.train.features), list(data.validation.features)
    logistic = activity.logistic_probs(train, data.train.labels, held_out, rnn.shape[1])  # (N, C)
    dtw = {}  # sharpness -> (N, C)
    for sharpness in {w[3] if len(w) > 3 else 1.0 for w in weights if len(w) > 2 and w[2]}:
        key = (subset, held, repr(config.skeleton), window)
        cache = {} if dtw_cache is None else dtw_cache
        if key not in cache:
            cache[key] = dtw_distances(train, held_out, window)  # (N, M)
        dtw[sharpness] = dtw_probs(cache[key], data.train.labels, rnn.shape[1], sharpness)
    labels = data.validation.labels
    scores = []
    for w in weights:
        answers = [rnn, logistic, dtw.get(w[3] if len(w) > 3 else 1.0)]
        mixed = sum(wi * p for wi, p in zip(w[:3], answers) if wi)  # (N, C)
        scores.append(float((mixed.argmax(axis=1) == labels).mean()))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/msr_action3d")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--subsets", nargs="+", default=["AS1", "AS2", "AS3"])
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE,...")
    parser.add_argument("--together", action="append", default=[], metavar="NAME,NAME,...")
    parser.add_argument("--fuse", default="", metavar="W,W,...", help="RNN weights of a late fusion")
    parser.add_argument("--fuse3", default="", metavar="A:B:C,...", help="RNN:logistic:DTW weights")
    parser.add_argument("--dtw-window", type=float, default=None, help="aeon's DTW window (default: full)")
    parser.add_argument("--dtw-sharpness", default="1", metavar="S,S,...", help="DTW tau = median / S")
    parser.add_argument("--out", default="runs/act-sweep")
    parser.add_argument(
        "--held", default="1,3,5,7,9", metavar="S,S,...", help="the held-out subjects to train and score"
    )
    args = parser.parse_args()
    held = [int(v) for v in args.held.split(",") if v]
    if not held or not set(held) <= set(SUBJECTS):
        parser.error(f"--held takes training subjects among {SUBJECTS} such as 1,3, got {args.held!r}")
    inputs = activity.Inputs("msr", args.data)
    splits = {(s, v): subject_split(args.data, s, v) for s in args.subsets for v in held}
    head = "".join(f"{s:>8s}" for s in args.subsets)
    print(f"{'variant (last epoch)':24s}{head}{'mean':>8s}{'seconds':>9s}{'best ep.':>9s}")
    for spec in args.variant:
        name, _, overrides = spec.partition("=")
        sets = [o for o in overrides.split(",") if o]
        scores, best, seconds = [], [], 0.0
        for subset in args.subsets:
            per_subject, at_best = [], []
            for v in held:
                config = apply_overrides(activity.preset(args.preset), [*sets, f"subset={subset}"])
                run = Path(args.out) / name / subset / f"s{v:02d}"
                if not (run / "results.json").is_file():
                    start = time.perf_counter()
                    train_run(ValidationOnly(inputs, splits[subset, v]), config, run, resume=False)
                    seconds += time.perf_counter() - start
                at_best.append(json.loads((run / "results.json").read_text())["validation_accuracy"])
                history = json.loads((run / "history.json").read_text())
                per_subject.append(history[-1]["val_accuracy"])
            scores.append(float(np.mean(per_subject)))
            best.append(float(np.mean(at_best)))
        print(
            f"{name:24s}"
            + "".join(f"{a:8.2%}" for a in scores)
            + f"{np.mean(scores):8.2%}{seconds:9.0f}{np.mean(best):9.2%}",
            flush=True,
        )
    for names in args.together:
        scores = [
            np.mean([together(Path(args.out), names.split(","), s, v, inputs) for v in held])
            for s in args.subsets
        ]
        print(f"{names:24s}" + "".join(f"{a:8.2%}" for a in scores) + f"{np.mean(scores):8.2%}", flush=True)
    weights = [(float(w), 1 - float(w)) for w in args.fuse.split(",") if w]
    labels = [f"w={a:g}" for a, _ in weights]
    sharpness = [float(s) for s in args.dtw_sharpness.split(",") if s]
    if not sharpness or min(sharpness) <= 0:
        parser.error(f"--dtw-sharpness takes values > 0 such as 2,4,8, got {args.dtw_sharpness!r}")
    for triple in (t for t in args.fuse3.split(",") if t):
        parts = [float(w) for w in triple.split(":")]
        if len(parts) != 3 or min(parts) < 0 or not sum(parts):
            parser.error(f"--fuse3 takes RNN:logistic:DTW weights >= 0 such as 0.4:0.4:0.2, got {triple!r}")
        for s in sharpness if parts[2] else [1.0]:
            weights.append((*parts, s))
            labels.append(triple if not parts[2] or sharpness == [1.0] else f"{triple}/{s:g}")
    names = [spec.partition("=")[0] for spec in args.variant]
    if weights:
        cache, out = {}, Path(args.out)
        fusion = np.array(
            [
                [
                    [fused(out, n, s, v, inputs, weights, args.dtw_window, cache) for v in held]
                    for s in args.subsets
                ]
                for n in names
            ]
        ).mean(axis=2)  # (variants, subsets, weights): the mean over the held-out subjects
        for i, name in enumerate([*names, "mean"]):
            per = fusion[i] if i < len(names) else fusion.mean(axis=0)  # (subsets, weights)
            for k, weight in enumerate(labels):
                row = per[:, k]
                label = f"{name} {weight}"
                print(f"{label:24s}" + "".join(f"{a:8.2%}" for a in row) + f"{row.mean():8.2%}", flush=True)


if __name__ == "__main__":
    main()
