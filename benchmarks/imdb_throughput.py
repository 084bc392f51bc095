"""Training and prediction throughput of the lecture's IMDB model, rnnkit against Keras.

Real IMDB reviews, the ``seed`` preset's tokenizer (subword, 8,185) and model
(Embedding(8185, 64) -> BiLSTM(64) -> Dense(64, relu) -> Dense(1)), a whole training step with Adam.
Throughput counts real (non-padding) tokens per second. In one run, on the same reviews:

- ``rnnkit bucketed``: length-bucketed batches with exact masking (rnnkit's pipeline);
- ``rnnkit shuffled``: random batches padded to their longest review, still exactly masked;
- ``keras shuffled`` (the lecture's pipeline: random padded batches, no masking) and
  ``keras bucketed+mask`` (``Embedding(mask_zero=True)`` on the bucketed batches), when the optional
  extra is installed: ``pip install -e '.[peers]'``.

Each pipeline runs its batches once untimed, then once timed (the steady state of a long run, where
every batch shape has been met before; the first pass over new shapes costs rnnkit about 30% more).

Prediction over ``--predict`` test reviews (all 25,000 by default): rnnkit's ``Predictor`` (sorted
by length, batches within a token budget, the last output only) against the lecture's
``model.predict`` on batches of 64 in order, from token ids and from text (tokenizing included, the
same tokenizer on both sides), the pipelines alternating slice by slice (5 slices), after the
training comparison. ``--steps 0`` measures prediction alone.

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
    # Training first: rnnkit's training pipelines run before TensorFlow is imported. Prediction
    # alternates the two libraries slice by slice, so there both share the process alike.
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
    if with_keras:
        rates["keras shuffled"] = keras_train_rate(train, shuffled, mask=False)
        rates["keras bucketed+mask"] = keras_train_rate(train, bucketed, mask=True)
    print(f"training step with Adam, seed model, batch 64, {steps} steps per pipeline:")
    for name, rate in rates.items():
        print(f"  {name:28s} {rate:>9,.0f} real tokens/s")
    for peer in ("keras shuffled", "keras bucketed+mask"):
        if peer in rates:
            print(f"  rnnkit bucketed / {peer} = {rates['rnnkit bucketed'] / rates[peer]:.2f}x")


def compare_prediction(tokenizer: Tokenizer, texts: list[str], with_keras: bool, rounds: int = 5) -> None:
    """Seconds to predict the texts, rnnkit's Predictor against the lecture's model.predict, from
    token ids (what model.predict takes) and from text (tokenizing included, the same tokenizer on
    both sides). The texts are cut into ``rounds`` slices and the pipelines alternate slice by
    slice, so that the machine's slow spells (minutes long on a shared host) fall on all of them."""
    model = sentiment.build_model(sentiment.resolved(sentiment.preset("seed")))
    predictor = sentiment.Predictor(model, tokenizer, 2000)
    predictor(texts[:64])  # warm-up, outside the clock (Keras gets one too)
    peer = KerasPredictor(tokenizer) if with_keras else None
    seconds = dict.fromkeys(["rnnkit ids", "keras ids", "rnnkit text", "keras text", "tokenizing"], 0.0)
    for part in np.array_split(np.arange(len(texts)), rounds):
        part_texts = [texts[i] for i in part]
        start = time.perf_counter()
        ids = predictor.encode(part_texts)
        seconds["tokenizing"] += time.perf_counter() - start
        pipelines = {"rnnkit ids": (predictor.predict, ids), "rnnkit text": (predictor, part_texts)}
        if peer:
            pipelines.update({"keras ids": (peer.predict, ids), "keras text": (peer, part_texts)})
        for name, (predict, data) in pipelines.items():
            start = time.perf_counter()
            predict(data)
            seconds[name] += time.perf_counter() - start
    print(f"predict {len(texts):,} test reviews, seconds:")
    for source in ("ids", "text"):
        label = "from token ids" if source == "ids" else "from text (the same tokenizer)"
        ours, theirs = seconds[f"rnnkit {source}"], seconds[f"keras {source}"]
        print(f"  {label:31s} rnnkit {ours:5.1f}", end="")
        print(f", keras model.predict {theirs:5.1f}: {theirs / ours:.2f}x" if peer else "")
    print(f"  tokenizing alone               {seconds['tokenizing']:5.1f}")


class KerasPredictor:
    """The lecture's model.predict: batches of 64 in the given order, each padded to its longest
    review, no masking. Warmed up (its function traced) when made."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.model = keras_model(mask=False)
        self.tokenizer = tokenizer
        self(["A warm-up review."] * 64)

    def __call__(self, texts: list[str]) -> None:
        self.predict(sentiment.encode(self.tokenizer, texts, [0] * len(texts), 2000))

    def predict(self, dataset: SequenceDataset) -> None:
        for indices in np.array_split(np.arange(len(dataset)), -(-len(dataset) // 64)):
            self.model.predict_on_batch(dataset.collate(indices).tokens.numpy())


if __name__ == "__main__":
    main()
