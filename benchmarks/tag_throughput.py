"""Tagging throughput over CoNLL-2003 testb: sentences per second, batched, Viterbi included.

A trained run tags all 3,453 testb sentences (``rnnkit.tasks.tag.Tagger``: sorted by length, batches
of at most 1,024 sentences within 16,384 words, the word and character BiLSTMs, then the CRF's
Viterbi or the softmax argmax), from tokens (the file's own) and from raw text (tokenizing
included). The first pass is untimed (kernel set-up, heap growth), then ``--rounds`` timed passes;
the median is reported, in float32 and in bfloat16 autocast (``rnnkit tag --bf16``), with how many
sentences' tags the two disagree on. The target is 5,000 sentences/s on the project's 2-core CPU.

    python benchmarks/tag_throughput.py runs/tag-fast --data ../shared/data
"""

from __future__ import annotations

import torch
from _measure import median_seconds, run_parser

from rnnkit import tune_allocator
from rnnkit.data.conll import read_conll
from rnnkit.tasks import tag


def main() -> None:
    parser = run_parser(__doc__, "tagging", "eng.testb", "$RNNKIT_DATA/conll2003", rounds=5)
    args = parser.parse_args()
    tune_allocator()
    sentences = [s.tokens for s in read_conll(tag.data_dir(args.data) / tag.SPLITS["test"])]
    texts = [" ".join(tokens) for tokens in sentences]
    print(
        f"{len(sentences):,} testb sentences, {sum(map(len, sentences)):,} words; "
        f"threads={torch.get_num_threads()}"
    )
    tagged = {}
    for bf16 in (False, True):
        tagger = tag.Tagger.from_run(args.run, bf16=bf16)
        print("bfloat16 (autocast)" if bf16 else "float32")
        for name, run in (
            ("from tokens", lambda tagger=tagger: tagger(sentences)),
            (
                "from text (tokenizing included)",
                lambda tagger=tagger: tagger([tag.tokenize(t) for t in texts]),
            ),
        ):
            out = run()  # untimed
            tagged.setdefault(bf16, out)  # from tokens
            median, _ = median_seconds(run, args.rounds)
            print(
                f"  {name:34s} {len(sentences) / median:>9,.0f} sentences/s "
                f"(median of {args.rounds}: {median:.2f} s)"
            )
    differ = sum(a != b for a, b in zip(tagged[False], tagged[True]))
    print(f"sentences whose tags differ between float32 and bfloat16: {differ:,} of {len(sentences):,}")


if __name__ == "__main__":
    main()
