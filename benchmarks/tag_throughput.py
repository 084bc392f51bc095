"""Tagging throughput over CoNLL-2003 testb: sentences per second, batched, Viterbi included.

A trained run tags all 3,453 testb sentences (``rnnkit.tasks.tag.Tagger``: sorted by length, batches
of at most 1,024 sentences within 16,384 words, the word and character BiLSTMs, then the CRF's
Viterbi or the softmax argmax), from tokens (the file's own) and from raw text (tokenizing
included). The first pass is untimed (kernel set-up, heap growth), then ``--rounds`` timed passes;
the median is reported. The target is 5,000 sentences/s on the project's 2-core CPU.

    python benchmarks/tag_throughput.py runs/tag-fast --data ../shared/data
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rnnkit import tune_allocator
from rnnkit.data.conll import read_conll
from rnnkit.tasks import tag


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", help="a trained tagging run directory")
    parser.add_argument("--data", help="folder with eng.testb (default: $RNNKIT_DATA/conll2003)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tune_allocator()
    sentences = [s.tokens for s in read_conll(tag.data_dir(args.data) / tag.SPLITS["test"])]
    texts = [" ".join(tokens) for tokens in sentences]
    tagger = tag.Tagger.from_run(args.run)
    print(
        f"{len(sentences):,} testb sentences, {sum(map(len, sentences)):,} words; "
        f"threads={torch.get_num_threads()}"
    )
    for name, run in (
        ("from tokens", lambda: tagger(sentences)),
        ("from text (tokenizing included)", lambda: tagger([tag.tokenize(t) for t in texts])),
    ):
        run()  # untimed
        seconds = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - start)
        median = statistics.median(seconds)
        print(
            f"  {name:34s} {len(sentences) / median:>9,.0f} sentences/s "
            f"(median of {args.rounds}: {median:.2f} s)"
        )


if __name__ == "__main__":
    main()
