"""speechocean762: how many test sentences also occur in training (compared after upper-casing,
dropping punctuation and squeezing spaces), and the greedy CER/WER of a sentences run on the test
utterances whose sentence training never heard, beside those it did.

    python benchmarks/speech_unseen.py runs/speech-sentences --data ../shared/data/speechocean762
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from rnnkit.tasks.speech import RUNS, build_model, decode, error_rates, outputs, prepare
from rnnkit.train import folds
from rnnkit.train.cv import Splits


def key(text: str) -> str:
    return " ".join(re.sub(r"[^A-Z' ]", " ", text.upper()).split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--data")
    args = parser.parse_args(argv)
    model, config = RUNS.load_model(args.run, build_model)
    data = prepare(config, args.data, splits=Splits.load(Path(args.run) / folds.SPLITS_FILE))
    trained = {key(config.transcript(ids)) for ids in data.lm_sentences}
    seen = [key(text) in trained for text in data.test_texts]
    hypotheses = [config.transcript(decode(config, lp, 1)) for lp in outputs(model, data.test)]
    print(
        f"test utterances {len(seen)}: sentence also in training {sum(seen)}, never {len(seen) - sum(seen)}"
    )
    for name, want in (("sentence never in training", False), ("sentence also in training", True)):
        refs = [r for r, s in zip(data.test_texts, seen) if s == want]
        hyps = [h for h, s in zip(hypotheses, seen) if s == want]
        if refs:
            rates = error_rates(refs, hyps, characters=True)
            print(f"{name}: {len(refs)} utterances, greedy CER {rates['cer']:.2%}, WER {rates['wer']:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
