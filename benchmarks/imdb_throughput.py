"""Training and prediction throughput of the lecture's IMDB model, rnnkit against Keras.

Real IMDB reviews, the ``seed`` preset's tokenizer (subword, 8,185) and model
(Embedding(8185, 64) -> BiLSTM(64) -> Dense(64, relu) -> Dense(1)), a whole training step with Adam.
Throughput counts real (non-padding) tokens per second. In one run, on the same reviews:

- ``rnnkit bucketed``: length-bucketed batches with exact masking (rnnkit's pipeline);
- ``rnnkit shuffled``: random batches padded to their longest review, still exactly masked;
- ``rnnkit bucketed, concurrent``: rnnkit's pipeline with the two LSTM directions on two threads
  at once (``rnnkit.nn.concurrent``, off by default) instead of one after the other;
- ``keras shuffled`` (the lecture's pipeline: random padded batches, no masking) and
  ``keras bucketed+mask`` (``Embedding(mask_zero=True)`` on the bucketed batches), when the optional
  extra is installed: ``pip install -e '.[peers]'``.

Each pipeline runs its batches once untimed, then once timed (the steady state of a long run, where
every batch shape has been met before; the first pass over new shapes costs rnnkit about 30% more).

Prediction over ``--predict`` test reviews: rnnkit's bucketed predictor against ``model.predict``.

The process's allocator is tuned first (``rnnkit.runtime.tune_allocator``, as the ``rnnkit`` command
and the trainer do), so Keras runs with the same setting; ``RNNKIT_TUNE_ALLOCATOR=0`` runs all
pipelines with glibc's defaults.

    python benchmarks/imdb_throughput.py --data ../shared/data --steps 40
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rnnkit import runtime
from rnnkit.data import SequenceDataset, bucket_indices, imdb
from rnnkit.data.tokenizer import Tokenizer
from rnnkit.nn import concurrent
from rnnkit.tasks import sentiment


def _train_rate(dataset: SequenceDataset, batches: list[np.ndarray], train_step) -> float:
    """Real tokens/s of ``train_step(batch)`` over the batches' second pass. The first pass is
    untimed: a long run meets each batch shape many times, and the first meeting costs extra in
    both libraries (kernel set-up, memory growth)."""
    tokens, start = 0, None
    for i, indices in enumerate(batches + batches):
        if i == len(batches):  # the timed pass
            start, tokens = time.perf_counter(), 0
        batch = dataset.collate(indices)
        train_step(batch)
        tokens += int(batch.lengths.sum())
    return tokens / (time.perf_counter() - start)


def rnnkit_train_rate(dataset: SequenceDataset, batches: list[np.ndarray]) -> float:
    config = sentiment.resolved(sentiment.preset("seed"))
    model = sentiment.build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()

    def train_step(batch) -> None:
        loss, _, _ = sentiment.step(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return _train_rate(dataset, batches, train_step)


def keras_model(mask: bool):
    import keras

    model = keras.Sequential(
        [
            keras.layers.Embedding(8185, 64, mask_zero=mask),
            keras.layers.Bidirectional(keras.layers.LSTM(64)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(
        loss=keras.losses.BinaryCrossentropy(from_logits=True), optimizer=keras.optimizers.Adam(1e-4)
    )
    return model


def keras_train_rate(dataset: SequenceDataset, batches: list[np.ndarray], mask: bool) -> float:
    model = keras_model(mask)
    return _train_rate(
        dataset, batches, lambda batch: model.train_on_batch(batch.tokens.numpy(), batch.labels.numpy())
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help="IMDB tarball or folder")
    parser.add_argument("--steps", type=int, default=40, help="training steps per pipeline")
    parser.add_argument("--predict", type=int, default=5000, help="test reviews to predict")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"allocator tuned: {runtime.tune_allocator()}")

    corpus = imdb.load(args.data)
    tokenizer = Tokenizer.train(corpus.train.texts, "subword", 8185)
    train = sentiment.encode(tokenizer, corpus.train.texts, corpus.train.labels, 2000)
    shuffled = bucket_indices(train.lengths, 64, shuffle=True, seed=args.seed, pool=1)[: args.steps]
    bucketed = bucket_indices(train.lengths, 64, shuffle=True, seed=args.seed, pool=50)[: args.steps]
    rates = {
        "rnnkit bucketed": rnnkit_train_rate(train, bucketed),
        "rnnkit shuffled": rnnkit_train_rate(train, shuffled),
    }
    concurrent.set_enabled(True)
    rates["rnnkit bucketed, concurrent"] = rnnkit_train_rate(train, bucketed)
    concurrent.set_enabled(False)
    try:
        import keras  # noqa: F401

        rates["keras shuffled"] = keras_train_rate(train, shuffled, mask=False)
        rates["keras bucketed+mask"] = keras_train_rate(train, bucketed, mask=True)
    except ImportError:
        print("(keras not installed: pip install -e '.[peers]' to measure the lecture's pipeline)")
    print(f"training step with Adam, seed model, batch 64, {args.steps} steps per pipeline:")
    for name, rate in rates.items():
        print(f"  {name:28s} {rate:>9,.0f} real tokens/s")
    for peer in ("rnnkit bucketed, concurrent", "keras shuffled", "keras bucketed+mask"):
        if peer in rates:
            print(f"  rnnkit bucketed / {peer} = {rates['rnnkit bucketed'] / rates[peer]:.2f}x")

    texts = corpus.test.texts[: args.predict]
    model = sentiment.build_model(sentiment.resolved(sentiment.preset("seed")))
    predictor = sentiment.Predictor(model, tokenizer, 2000)
    predictor(texts[:64])  # warm-up, outside the clock (Keras gets one too)
    concurrent.set_enabled(True)
    start = time.perf_counter()
    predictor(texts)
    together = time.perf_counter() - start
    concurrent.set_enabled(False)
    start = time.perf_counter()
    predictor(texts)
    ours = time.perf_counter() - start
    print(f"predict {len(texts):,} test reviews, tokenizing included: rnnkit {ours:.1f} s", end="")
    print(f" (directions concurrent {together:.1f} s)", end="")
    if "keras shuffled" in rates:
        peer = keras_model(mask=False)
        warm = sentiment.encode(tokenizer, texts[:64], [0] * 64, 2000)
        peer.predict_on_batch(warm.collate(np.arange(64)).tokens.numpy())  # traces the function
        start = time.perf_counter()
        test = sentiment.encode(tokenizer, texts, [0] * len(texts), 2000)
        for indices in np.array_split(np.arange(len(texts)), -(-len(texts) // 64)):  # the tutorial's batches
            peer.predict_on_batch(test.collate(indices).tokens.numpy())
        theirs = time.perf_counter() - start
        print(f", keras model.predict {theirs:.1f} s: {theirs / ours:.2f}x", end="")
    print()


if __name__ == "__main__":
    main()
