"""The one inference loop (rnnkit.data.batching.in_order): sorted, budgeted batches whose answers come
back in the inputs' order, with progress, whatever the cut."""

import numpy as np
import pytest

from rnnkit.data.batching import in_order, planned_batches


def test_answers_come_back_in_input_order_from_sorted_budgeted_batches():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=101)
    seen, reports = [], []

    def run(indices):
        seen.append(indices.copy())
        return [f"answer {i}" for i in indices]

    out = in_order(
        lengths, run, batch_size=16, token_budget=200, progress=lambda d, t: reports.append((d, t))
    )
    assert out == [f"answer {i}" for i in range(101)]
    assert sorted(np.concatenate(seen).tolist()) == list(range(101))  # each input once
    for indices in seen:
        assert len(indices) <= 16
        assert len(indices) == 1 or len(indices) * lengths[indices].max() <= 200
    firsts = [lengths[b].max() for b in seen]
    assert firsts == sorted(firsts)  # shortest batches first: sorted by length
    assert reports[-1] == (101, 101) and [d for d, _ in reports] == sorted(d for d, _ in reports)


def test_given_batches_replace_the_cut_and_must_cover_every_input():
    lengths = np.array([5, 1, 3, 2])
    plan = planned_batches(lengths, [1.0, 1.2], call_seconds=0.5)
    assert in_order(lengths, lambda idx: (lengths[idx] * 10).tolist(), 2, batches=plan) == [50, 10, 30, 20]
    with pytest.raises(ValueError, match="covered 3 distinct inputs of 4"):  # one twice, one never
        in_order(lengths, lambda idx: list(idx), 2, batches=[np.array([0, 1]), np.array([1, 2])])
    with pytest.raises(ValueError, match="covered 2 distinct inputs of 4"):
        in_order(lengths, lambda idx: list(idx), 2, batches=[np.array([0, 1])])
    with pytest.raises(ValueError, match="gave 1 answers for a batch of 2"):
        in_order(lengths, lambda idx: [0], 2)
    assert in_order([], lambda idx: list(idx), 4) == []
