"""Choose the character LM's weight and the insertion bonus of a CTC speech run on its validation
part (never the test), then score the test part with the choice.

    python benchmarks/speech_lm_grid.py runs/speech-sentences --data ../shared/data/speechocean762

It reads the run's ``lm.json``: after ``rnnkit speech lm RUN --text FILE``, the LM with that text.

Prints the validation CER of greedy, beam without LM and each (weight, bonus) with the LM, then
the test scores of the best pair (as ``rnnkit speech evaluate`` would with those settings).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from rnnkit.tasks.speech import task as speech
from rnnkit.tasks.speech.scoring import load_lm
from rnnkit.train.cv import Splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("--data")
    parser.add_argument("--weights", default="0.2,0.4,0.6,0.8")
    parser.add_argument("--bonuses", default="0,0.5,1,1.5")
    args = parser.parse_args()
    model, config = speech.RUNS.load_model(args.run, speech.build_model)
    lm = load_lm(config, Path(args.run))
    data = speech.prepare(config, args.data, splits=Splits.load(Path(args.run) / "splits.json"))
    references = [config.transcript(t) for t in data.validation.targets]
    out = speech.outputs(model, data.validation)
    sentences = config.task == "sentences"

    def rate(beam: int, lm_used, cfg) -> float:
        hypotheses = [cfg.transcript(speech.decode(cfg, o, beam, lm_used)) for o in out]
        scores = speech.error_rates(references, hypotheses, sentences)
        return scores["cer" if sentences else "wer"]

    greedy, plain = rate(1, None, config), rate(config.beam, None, config)
    print(f"validation: greedy {greedy:.4f}, beam {config.beam} {plain:.4f}")
    best = None
    for weight in map(float, args.weights.split(",")):
        for bonus in map(float, args.bonuses.split(",")):
            cfg = dataclasses.replace(config, lm_weight=weight, bonus=bonus)
            value = rate(config.beam, lm, cfg)
            print(f"  lm_weight {weight} bonus {bonus}: {value:.4f}", flush=True)
            if best is None or value < best[0]:
                best = (value, weight, bonus)
    _, weight, bonus = best
    print(f"chosen on validation: lm_weight={weight} bonus={bonus}")
    start = time.perf_counter()
    chosen = dataclasses.replace(config, lm_weight=weight, bonus=bonus)
    result = speech.score(chosen, model, data, lm)
    for name, value in result.items():
        if isinstance(value, dict) and "wer" in value:
            print(f"test {name[5:]}: " + ", ".join(f"{k} {v:.4f}" for k, v in value.items()))
    print(f"{time.perf_counter() - start:.0f} s to score the test part")


if __name__ == "__main__":
    main()
