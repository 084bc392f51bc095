"""Translation throughput over the test split: sentences per second, greedy and beam search.

A trained run translates the test sources (5,000 pairs for fra-eng) with
``rnnkit.tasks.translate.Translator``: sentences sorted by length, batched (greedy up to 512
sentences, beam search up to 128 sentences of K beams), finished sentences dropped from the batch
as the search goes; tokenizing and detokenizing included. The first pass of each search is untimed,
then ``--rounds`` timed passes; the median is reported, with the BLEU of the pass as a check that
the fast path is the scored one. As a baseline measured in the same run, the same search one
sentence at a time over the first ``--single`` sentences: the ratio is what batching buys.
Targets on the project's 2-core CPU: greedy >= 500 sentences/s, beam 5 >= 100 sentences/s.

    python benchmarks/translate_throughput.py runs/translate-fast --data ../shared/data
"""

from __future__ import annotations

import time
from functools import partial

import torch
from _measure import median_seconds, run_parser

from rnnkit import tune_allocator
from rnnkit.tasks import translate


def main() -> None:
    parser = run_parser(__doc__, "translation", "the Tatoeba zips", "$RNNKIT_DATA", rounds=3)
    parser.add_argument("--beams", default="1,5", help="comma-separated beam sizes (1: greedy)")
    parser.add_argument("--single", type=int, default=200, help="sentences for the one-at-a-time baseline")
    args = parser.parse_args()
    tune_allocator()
    translator = translate.Translator.from_run(args.run, "cpu")
    config = translator.config
    pairs = translate.load_splits(config, args.data).test
    sources = [p.source for p in pairs]
    print(f"{config.pair} test: {len(sources):,} sentences; threads={torch.get_num_threads()}")
    for beam in (int(b) for b in args.beams.split(",")):
        name = "greedy" if beam == 1 else f"beam {beam}"
        translator.translate(sources[:500], beam=beam)  # untimed
        median, translations = median_seconds(partial(translator.translate, sources, beam=beam), args.rounds)
        texts = [t.text for t in translations]
        bleu = translate.corpus_scores(texts, pairs, config)["bleu"]
        start = time.perf_counter()
        for source in sources[: args.single]:
            translator.translate([source], beam=beam)
        single = args.single / (time.perf_counter() - start)
        batched = len(sources) / median
        print(
            f"  {name:8s} {batched:>8,.0f} sentences/s batched (median of {args.rounds}: {median:.2f} s, "
            f"BLEU {bleu:.2f}); one at a time {single:,.0f}/s: batching x{batched / single:.1f}"
        )


if __name__ == "__main__":
    main()
