"""The IMDB baseline a user would pick instead of an RNN: bag of uni+bigrams with scikit-learn.

On rnnkit's own split of the reviews (``rnnkit.data.imdb.load``: the 25,000 training reviews minus
the validation share, the validation reviews, the 25,000 test reviews):

- **TF-IDF + logistic regression**: lowercased word uni- and bigrams (seen in >= 2 training
  reviews), sublinear TF, L2-normalised; ``C`` chosen on the validation reviews.
- **NBSVM** (Wang & Manning 2012, the log-count-ratio variant with logistic regression): binarised
  uni+bigram counts scaled by ``r = log((p / |p|_1) / (q / |q|_1))`` with ``p, q`` the smoothed
  feature counts of positive and negative training reviews; ``C`` chosen on validation.

Times are wall seconds on this machine: vectorising (fit on training, transform all) and fitting
(every ``C`` of the grid, then the chosen one again is not needed: the chosen fit is kept).
``--labelled`` repeats the run with fewer labelled training reviews (a seeded subset), for the
accuracy-against-labels table of the pretraining issue.

    python benchmarks/imdb_baseline.py --data ../shared/data --labelled 1000,5000,all
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _measure import save_results
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from rnnkit.data import imdb

TOKENS = r"(?u)\b\w+\b|[!?]"  # words (single letters included) and the two marks that carry tone
GRID = (0.25, 1.0, 4.0, 16.0, 64.0)


def best_on_validation(make, x_train, y_train, x_val, y_val) -> tuple[LogisticRegression, float, float]:
    best, best_c, best_acc = None, None, -1.0
    for c in GRID:
        model = make(c).fit(x_train, y_train)
        accuracy = float((model.predict(x_val) == y_val).mean())
        if accuracy > best_acc:
            best, best_c, best_acc = model, c, accuracy
    return best, best_c, best_acc


def tfidf_lr(train, validation, test) -> dict:
    start = time.perf_counter()
    vectorizer = TfidfVectorizer(
        lowercase=True, token_pattern=TOKENS, ngram_range=(1, 2), min_df=2, sublinear_tf=True
    )
    x_train = vectorizer.fit_transform(train.texts)
    x_val, x_test = vectorizer.transform(validation.texts), vectorizer.transform(test.texts)
    vectorize = time.perf_counter() - start
    start = time.perf_counter()
    model, c, val_acc = best_on_validation(
        lambda c: LogisticRegression(C=c, max_iter=1000), x_train, train.labels, x_val, validation.labels
    )
    fit = time.perf_counter() - start
    test_acc = float((model.predict(x_test) == np.asarray(test.labels)).mean())
    return {"C": c, "validation": val_acc, "test": test_acc, "vectorize_s": vectorize, "fit_s": fit,
            "features": x_train.shape[1]}  # fmt: skip


def nbsvm(train, validation, test) -> dict:
    start = time.perf_counter()
    vectorizer = CountVectorizer(
        lowercase=True, token_pattern=TOKENS, ngram_range=(1, 2), min_df=2, binary=True
    )
    x_train = vectorizer.fit_transform(train.texts).astype(np.float32)
    x_val, x_test = vectorizer.transform(validation.texts), vectorizer.transform(test.texts)
    y = np.asarray(train.labels)
    p = np.asarray(x_train[y == 1].sum(axis=0)).ravel() + 1.0  # (F,)
    q = np.asarray(x_train[y == 0].sum(axis=0)).ravel() + 1.0
    r = sparse.diags(np.log((p / p.sum()) / (q / q.sum())).astype(np.float32))  # (F, F)
    x_train, x_val, x_test = x_train @ r, x_val @ r, x_test @ r
    vectorize = time.perf_counter() - start
    start = time.perf_counter()
    model, c, val_acc = best_on_validation(
        lambda c: LogisticRegression(C=c, max_iter=1000, dual=True, solver="liblinear"),
        x_train, y, x_val, validation.labels,
    )  # fmt: skip
    fit = time.perf_counter() - start
    test_acc = float((model.predict(x_test) == np.asarray(test.labels)).mean())
    return {"C": c, "validation": val_acc, "test": test_acc, "vectorize_s": vectorize, "fit_s": fit,
            "features": x_train.shape[1]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", help="the IMDB tarball or folder (default: $RNNKIT_DATA)")
    parser.add_argument("--labelled", default="all", help="comma-separated training sizes, 'all' for all")
    parser.add_argument("--seed", type=int, default=0, help="seed of the labelled subsets")
    parser.add_argument("--out", default="benchmarks/results/imdb_baseline.json")
    args = parser.parse_args()
    start = time.perf_counter()
    corpus = imdb.load(args.data)
    print(
        f"IMDB: {len(corpus.train):,} training, {len(corpus.validation):,} validation, "
        f"{len(corpus.test):,} test reviews (read in {time.perf_counter() - start:.1f} s)"
    )
    results = []
    for size in args.labelled.split(","):
        train = corpus.train
        if size != "all":
            order = np.random.default_rng(args.seed).permutation(len(train))
            train = train.subset(np.sort(order[: int(size)]))
        for name, run in (("TF-IDF + LR", tfidf_lr), ("NBSVM (LR)", nbsvm)):
            row = {"model": name, "labelled": len(train), **run(train, corpus.validation, corpus.test)}
            results.append(row)
            print(
                f"  {name:12s} {len(train):>6,} labelled: test {row['test']:.2%}  validation "
                f"{row['validation']:.2%}  C={row['C']}  {row['features']:,} features  "
                f"vectorise {row['vectorize_s']:.1f} s, fit {row['fit_s']:.1f} s ({len(GRID)} C values)"
            )
    save_results(results, args.out)


if __name__ == "__main__":
    main()
