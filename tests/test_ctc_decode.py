"""CTC decoding and loss: prefix beam search against the sum over every alignment, greedy against
the collapsed argmax path, the core's CTC step on a mixed-length batch against each utterance
alone, and the character n-gram's probabilities."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
import torch

from rnnkit.data.sequences import FeatureSequences
from rnnkit.decode.ctc import BLANK, greedy, prefix_beam_search
from rnnkit.decode.ngram import END, CharNgram
from rnnkit.models import sequence as core


def collapse(path) -> tuple[int, ...]:
    return tuple(s for s, _ in itertools.groupby(path) if s != BLANK)


def brute_force(log_probs: np.ndarray) -> dict[tuple[int, ...], float]:
    """P(y) for every transcript y: the sum over all V^T alignments."""
    T, V = log_probs.shape
    probs = np.exp(log_probs)
    total: dict[tuple[int, ...], float] = defaultdict(float)
    for path in itertools.product(range(V), repeat=T):
        total[collapse(path)] += float(np.prod(probs[np.arange(T), path]))
    return total


def random_log_probs(T: int, V: int, seed: int) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(scale=2.0, size=(T, V))
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def test_blank_is_the_cores():
    assert BLANK == core.BLANK


@pytest.mark.parametrize("seed", range(3))
def test_prefix_beam_search_with_a_wide_beam_equals_the_sum_over_every_alignment(seed):
    log_probs = random_log_probs(T=6, V=3, seed=seed)  # blank + 2 symbols, 729 alignments
    exact = brute_force(log_probs)
    assert sum(exact.values()) == pytest.approx(1.0)
    beams = prefix_beam_search(log_probs, beam=10_000, min_prob=0)
    assert {b.prefix for b in beams} == set(exact)
    for b in beams:
        assert b.log_prob == pytest.approx(math.log(exact[b.prefix]), abs=1e-9)
        assert b.score == b.log_prob
    assert beams[0].prefix == max(exact, key=exact.get)  # the most likely transcript


def test_a_narrow_beam_finds_a_likelier_transcript_than_greedy():
    log_probs = np.log(np.array([[0.5, 0.3, 0.2], [0.5, 0.2, 0.3]]))
    exact = brute_force(log_probs)
    assert greedy(log_probs)[0] == []  # the argmax path is all blank (P = 0.25) ...
    assert prefix_beam_search(log_probs, beam=4, min_prob=0)[0].prefix == max(exact, key=exact.get)
    assert max(exact.values()) > exact[()]  # ... but some transcript is likelier than ""


@pytest.mark.parametrize("seed", range(5))
def test_greedy_is_the_argmax_path_collapsed_with_its_runs(seed):
    log_probs = random_log_probs(T=30, V=4, seed=seed)
    path = log_probs.argmax(axis=1)
    symbols, emissions = greedy(log_probs)
    assert tuple(symbols) == collapse(path)
    for e in emissions:
        assert (path[e.start : e.end] == e.symbol).all()
        assert e.start == 0 or path[e.start - 1] != e.symbol
        assert e.end == len(path) or path[e.end] != e.symbol


def test_ctc_loss_equals_minus_log_of_the_sum_over_alignments():
    torch.manual_seed(0)
    config = core.SequenceModelConfig(input_size=3, hidden_size=4, head="ctc", num_classes=2)
    model = core.SequenceModel(config).double()
    x = np.random.default_rng(0).normal(size=(5, 3))
    data = FeatureSequences([x], targets=[np.array([1, 2])], dtype=np.float64)
    loss, _, count = core.make_step(config)(model, data.collate(np.array([0])))
    with torch.no_grad():
        log_probs = torch.log_softmax(model(torch.from_numpy(x)[None]), -1)[0].numpy()
    assert count == 1
    assert loss.item() == pytest.approx(-math.log(brute_force(log_probs)[(1, 2)]), rel=1e-9)


def test_ctc_loss_of_a_mixed_length_batch_equals_each_utterance_alone():
    torch.manual_seed(1)
    config = core.SequenceModelConfig(input_size=4, hidden_size=5, num_layers=2, head="ctc", num_classes=3)
    model = core.SequenceModel(config).double()
    rng = np.random.default_rng(1)
    lengths, target_lengths = [9, 4, 7], [3, 1, 2]
    features = [rng.normal(size=(n, 4)) for n in lengths]
    targets = [rng.integers(1, 4, size=s) for s in target_lengths]
    data = FeatureSequences(features, targets=targets, dtype=np.float64)
    step = core.make_step(config)
    loss, _, count = step(model, data.collate(np.arange(3)))  # padded to T = 9
    loss.backward()
    together = [p.grad.clone() for p in model.parameters()]
    alone_loss, alone = 0.0, [torch.zeros_like(p) for p in model.parameters()]
    for i in range(3):
        model.zero_grad()
        one, _, _ = step(model, data.collate(np.array([i])))
        (one / 3).backward()
        alone_loss += one.item() / 3
        alone = [a + p.grad for a, p in zip(alone, model.parameters())]
    assert count == 3
    assert loss.item() == pytest.approx(alone_loss, rel=1e-10)
    for a, b in zip(together, alone):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_char_ngram_probabilities_sum_to_one_and_prefer_the_training_text(tmp_path):
    sentences = [[1, 2, 3, 1, 2], [1, 2, 2], [3, 3, 1, 2]]
    lm = CharNgram(order=3, num_symbols=4).fit(sentences)
    for context in [(), (1,), (1, 2), (4, 4), (2, 3, 1)]:
        total = sum(math.exp(lm.log_prob(w, context)) for w in [END, 1, 2, 3, 4])
        assert total == pytest.approx(1.0, abs=1e-12)
    assert lm.log_prob(2, (1,)) > lm.log_prob(4, (1,))  # 2 always followed 1; 4 never appeared
    assert lm.sentence_log_prob([1, 2, 3]) > lm.sentence_log_prob([4, 3, 4])
    lm.save(tmp_path / "lm.json")
    again = CharNgram.load(tmp_path / "lm.json")
    assert again.sentence_log_prob([3, 1, 2, 2]) == lm.sentence_log_prob([3, 1, 2, 2])
    unigram = CharNgram(order=1, num_symbols=4).fit(sentences)
    assert sum(math.exp(unigram.log_prob(w, (1, 2))) for w in range(5)) == pytest.approx(1.0)


def test_beam_search_with_a_language_model_ranks_by_the_combined_score():
    lm = CharNgram(order=2, num_symbols=2).fit([[2, 2]] * 20)
    log_probs = np.log(np.array([[0.2, 0.45, 0.35], [0.9, 0.05, 0.05]]))
    plain = prefix_beam_search(log_probs, beam=10, min_prob=0)
    assert plain[0].prefix == (1,)
    with_lm = prefix_beam_search(log_probs, beam=10, lm=lm, alpha=1.0, min_prob=0)
    assert with_lm[0].prefix == (2,)  # the LM has only seen 2s
    for b in with_lm:
        expected = b.log_prob + lm.sentence_log_prob(b.prefix)
        assert b.score == pytest.approx(expected, abs=1e-12)
