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

Prediction over ``--predict`` test reviews (all 25,000 by default), tokenizing included on both
sides: rnnkit's ``Predictor`` (sorted by length, batches within a token budget) against the
lecture's ``model.predict`` on batches of 64 in order. ``--steps 0`` measures prediction alone.

The process's allocator is tuned first (``rnnkit.runtime.tune_allocator``, as the ``rnnkit`` command
and the trainer do), so Keras runs with the same setting; ``RNNKIT_TUNE_ALLOCATOR=0`` runs all
pipelines with glibc's defaults.

    python benchmarks/imdb_throughput.py --data ../shared/data --steps 40
"""

from __future__ import annotations

import argparse
import importlib.util
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
    parser.add_argument("--steps", type=int, default=40, help="training steps per pipeline (0: skip)")
    parser.add_argument("--predict", type=int, default=25000, help="test reviews to predict (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"allocator tuned: {runtime.tune_allocator()}")
    with_keras = importlib.util.find_spec("keras") is not None
    if not with_keras:
        print("(keras not installed: pip install -e '.[peers]' to measure the lecture's pipeline)")

    corpus = imdb.load(args.data)
    tokenizer = Tokenizer.train(corpus.train.texts, "subword", 8185)
    if args.steps:
        train = sentiment.encode(tokenizer, corpus.train.texts, corpus.train.labels, 2000)
        compare_training(train, args.steps, args.seed, with_keras)
    if args.predict:
        compare_prediction(tokenizer, corpus.test.texts[: args.predict], with_keras)


def compare_training(train: SequenceDataset, steps: int, seed: int, with_keras: bool) -> None:
    shuffled = bucket_indices(train.lengths, 64, shuffle=True, seed=seed, pool=1)[:steps]
    bucketed = bucket_indices(train.lengths, 64, shuffle=True, seed=seed, pool=50)[:steps]
    rates = {
        "rnnkit bucketed": rnnkit_train_rate(train, bucketed),
        "rnnkit shuffled": rnnkit_train_rate(train, shuffled),
    }
    concurrent.set_enabled(True)
    rates["rnnkit bucketed, concurrent"] = rnnkit_train_rate(train, bucketed)
    concurrent.set_enabled(False)
    if with_keras:
        rates["keras shuffled"] = keras_train_rate(train, shuffled, mask=False)
        rates["keras bucketed+mask"] = keras_train_rate(train, bucketed, mask=True)
    print(f"training step with Adam, seed model, batch 64, {steps} steps per pipeline:")
    for name, rate in rates.items():
        print(f"  {name:28s} {rate:>9,.0f} real tokens/s")
    for peer in ("rnnkit bucketed, concurrent", "keras shuffled", "keras bucketed+mask"):
        if peer in rates:
            print(f"  rnnkit bucketed / {peer} = {rates['rnnkit bucketed'] / rates[peer]:.2f}x")


def compare_prediction(tokenizer: Tokenizer, texts: list[str], with_keras: bool) -> None:
    """Seconds to turn the texts into probabilities, tokenizing included on both sides (the same
    tokenizer): rnnkit's Predictor, and the lecture's model.predict on batches of 64 in order."""
    model = sentiment.build_model(sentiment.resolved(sentiment.preset("seed")))
    predictor = sentiment.Predictor(model, tokenizer, 2000)
    predictor(texts[:64])  # warm-up, outside the clock (Keras gets one too)
    start = time.perf_counter()
    predictor(texts)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    sentiment.encode(tokenizer, texts, [0] * len(texts), 2000)
    encoding = time.perf_counter() - start
    theirs = keras_predict_seconds(tokenizer, texts) if with_keras else None
    print(f"predict {len(texts):,} test reviews, tokenizing included (the same tokenizer on both sides):")
    print(f"  rnnkit Predictor          {ours:6.1f} s")
    if theirs is not None:
        print(f"  keras model.predict       {theirs:6.1f} s   rnnkit is {theirs / ours:.2f}x as fast")
    print(f"  tokenizing alone, about   {encoding:6.1f} s", end="")
    if theirs is not None:
        print(f"   the models alone: {(theirs - encoding) / (ours - encoding):.2f}x", end="")
    print()


def keras_predict_seconds(tokenizer: Tokenizer, texts: list[str]) -> float:
    """The lecture's model.predict: batches of 64 in the test set's order, each padded to its
    longest review, no masking; tokenizing with rnnkit's tokenizer included."""
    peer = keras_model(mask=False)
    warm = sentiment.encode(tokenizer, texts[:64], [0] * 64, 2000)
    peer.predict_on_batch(warm.collate(np.arange(64)).tokens.numpy())  # traces the function
    start = time.perf_counter()
    test = sentiment.encode(tokenizer, texts, [0] * len(texts), 2000)
    for indices in np.array_split(np.arange(len(texts)), -(-len(texts) // 64)):
        peer.predict_on_batch(test.collate(indices).tokens.numpy())
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
