"""What each step of a run on several processes sends: the gradients of every preset of every task.

DDP all-reduces float32 gradients, 4 bytes per parameter, every step. A ring all-reduce (the
bandwidth-optimal schedule) sends 2 (N - 1) / N of those bytes from each of N processes (and
receives as many): the gradients once for N = 2, nearly twice for large N. On a link of B bit/s that
takes ``8 * bytes / B`` seconds: below that step time, communication would dominate (DDP overlaps it
with the backward pass, so this is the point where it can no longer hide, not a measured time).

The models are built as the tasks build them, with the vocabularies their data gives (below); the
counts equal those printed by training, in docs/RESULTS.md, docs/charlm.md, docs/tag.md and
docs/translate.md. Prints a Markdown table (docs/distributed.md).

    python benchmarks/allreduce_bytes.py
"""

from __future__ import annotations

import dataclasses

from rnnkit.tasks import charlm, sentiment, tag, translate

# Vocabularies the data decides, as the runs of the docs found them.
SHAKESPEARE_CHARS = 65  # Tiny Shakespeare
NOTTINGHAM_CHARS = 88  # the ABC tunes of `rnnkit lm music` (321,368 parameters, docs/charlm.md)
CONLL = {"word_vocab": 17_494, "char_vocab": 86, "tags": 17}  # eng.train, pad and unknown included; IOBES


def models():
    for name, config in sentiment.PRESETS.items():
        yield "sentiment", name, sentiment.build_model(sentiment.resolved(config))
    for name, config in charlm.PRESETS.items():
        vocab = NOTTINGHAM_CHARS if name == "music" else SHAKESPEARE_CHARS
        model_config = dataclasses.replace(config.model, vocab_size=vocab)
        yield "lm", name, charlm.build_model(dataclasses.replace(config, model=model_config))
    for name, config in tag.PRESETS.items():
        tags = ("O", *(f"{p}-{t}" for t in ("LOC", "MISC", "ORG", "PER") for p in "BIES"))
        assert len(tags) == CONLL["tags"]
        model_config = dataclasses.replace(
            config.model, word_vocab=CONLL["word_vocab"], char_vocab=CONLL["char_vocab"], tags=tags
        )
        yield "tag", name, tag.build_model(dataclasses.replace(config, model=model_config))
    for name, config in translate.PRESETS.items():
        model_config = dataclasses.replace(
            config.model, source_vocab=config.source_vocab_size, target_vocab=config.target_vocab_size
        )
        yield "translate", name, translate.build_model(dataclasses.replace(config, model=model_config))


def main() -> None:
    print(
        "| task | preset | parameters | gradient MB/step | sent per process, N=2 / large N | "
        "comm. time at 1 Gbit/s, N=2 / large N | at 10 Gbit/s, N=2 / large N |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for task, name, model in models():
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        grad = 4 * params  # bytes: float32
        sent = {2: grad * 2 * (2 - 1) / 2, "large": 2 * grad}
        times = {gbit: [8 * sent[n] / (gbit * 1e9) * 1000 for n in sent] for gbit in (1, 10)}
        print(
            f"| {task} | {name} | {params:,} | {grad / 1e6:.2f} | "
            f"{sent[2] / 1e6:.2f} / {sent['large'] / 1e6:.2f} MB | "
            f"{times[1][0]:.1f} / {times[1][1]:.1f} ms | {times[10][0]:.2f} / {times[10][1]:.2f} ms |"
        )


if __name__ == "__main__":
    main()
