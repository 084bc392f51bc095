"""Greedy and beam search for any model that emits one token at a time, many sentences at once.

The model is seen through one function, ``step(tokens, state, memory) -> (log_probs, state,
attention)``: ``tokens`` (N,) the previous token of each row, ``log_probs`` (N, V) of the next,
``attention`` (N, S) or None. ``state`` and ``memory`` are tensors or (nested) tuples/lists of
tensors with the row on dim 0: ``state`` changes every step (a decoder's hidden state), ``memory``
does not (the encoder outputs, their attention keys, the source mask). Rows of finished sentences
are dropped as the search goes, so a batch costs what its unfinished sentences cost.

Both searches report a :class:`Hypothesis` with two numbers, defined once for both:

- ``log_prob = sum_t log p(y_t | y_<t, x)`` over the n tokens emitted, the end token included
  when it was written (a sentence cut at its maximum length has none);
- ``score = log_prob / lp(n)``, with GNMT's length penalty ``lp(n) = ((5 + n) / 6) ** alpha``
  (``alpha=0``: ``score == log_prob``). Beam search ranks finished hypotheses by it.

Beam search (K beams per sentence) keeps the K best unfinished hypotheses by summed log-probability.
At each step it takes the 2K best extensions of a sentence's beams: an end token among the first K
finishes a hypothesis; the first K other extensions are the next beams. A sentence is done once it
holds K finished hypotheses (early finish), or at its maximum length, where its unfinished beams are
finished as they stand. With K = 1 this is exactly greedy search: the same tokens, ``log_prob`` and
``score`` (for the same ``alpha``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

StepFn = Callable[[Tensor, Any, Any], tuple[Tensor, Any, Tensor | None]]


@dataclass
class Hypothesis:
    """A decoded sentence. ``n`` below is the number of tokens emitted: ``len(tokens)``, plus 1 for
    the end token when the sentence ended with one (not when it was cut at its maximum length)."""

    tokens: list[int]  # without the end token
    score: float  # log_prob / lp(n), lp(n) = ((5 + n) / 6) ** alpha: what beam search ranks by
    log_prob: float  # sum of the n log-probabilities, end token included when written
    attention: Tensor | None = field(
        default=None, repr=False
    )  # (steps, S): each step's weights, end included


def select(tree: Any, index: Tensor) -> Any:
    """Rows ``index`` of every tensor in ``tree`` (tensors, tuples, lists; None passes)."""
    if tree is None:
        return None
    if isinstance(tree, Tensor):
        return tree.index_select(0, index)
    if isinstance(tree, (tuple, list)):
        return type(tree)(select(t, index) for t in tree)
    raise TypeError(f"cannot select rows of a {type(tree).__name__}; use tensors and tuples of tensors")


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's ``lp(n) = ((5 + n) / 6) ** alpha`` for ``n = length`` emitted tokens (Wu et al., 2016)."""
    return ((5.0 + length) / 6.0) ** alpha


def _check(max_lengths: Tensor, beam: int = 1) -> list[int]:
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    limits = [int(n) for n in max_lengths.tolist()]
    if any(n < 1 for n in limits):
        raise ValueError(f"max_lengths must be >= 1 token, got {min(limits)}")
    return limits


@torch.no_grad()
def greedy_search(
    step: StepFn,
    state: Any,
    memory: Any,
    *,
    bos: int,
    eos: int,
    max_lengths: Tensor,
    alpha: float = 0.6,
    attention: bool = False,
) -> list[Hypothesis]:
    """The most likely token at each step, for B sentences at once (state and memory have B rows).
    ``max_lengths`` (B,): tokens a sentence may emit, its end token included. ``score`` is
    ``log_prob / lp(n)`` with length penalty ``alpha``, as :func:`beam_search` scores (K = 1 gives
    this search's tokens and numbers)."""
    limits = _check(max_lengths)
    B = len(limits)
    device = _device(state, memory)
    rows = torch.arange(B)  # the sentence of each live row
    tokens = torch.full((B,), bos, dtype=torch.long, device=device)
    history: list[list[int]] = [[] for _ in range(B)]
    weights: list[list[Tensor]] = [[] for _ in range(B)]
    sums = [0.0] * B
    out: list[Hypothesis | None] = [None] * B
    t = 0
    while len(rows):
        log_probs, state, attn = step(tokens, state, memory)  # (N, V)
        best, tokens = log_probs.max(dim=-1)  # (N,)
        t += 1
        keep = []
        for n, (b, token, value) in enumerate(zip(rows.tolist(), tokens.tolist(), best.tolist())):
            sums[b] += value
            if attention and attn is not None:
                weights[b].append(attn[n].float().cpu())
            if token == eos or t >= limits[b]:
                if token != eos:
                    history[b].append(token)
                out[b] = Hypothesis(
                    history[b],
                    sums[b] / length_penalty(t, alpha),  # t tokens emitted, the end token included
                    sums[b],
                    torch.stack(weights[b]) if weights[b] else None,
                )
            else:
                history[b].append(token)
                keep.append(n)
        if len(keep) < len(rows):
            index = torch.tensor(keep, dtype=torch.long)
            rows, tokens = rows[index], tokens[index.to(device)]
            state, memory = select(state, index.to(device)), select(memory, index.to(device))
    return out  # type: ignore[return-value]


@torch.no_grad()
def beam_search(
    step: StepFn,
    state: Any,
    memory: Any,
    *,
    beam: int,
    bos: int,
    eos: int,
    max_lengths: Tensor,
    alpha: float = 0.6,
    attention: bool = False,
) -> list[Hypothesis]:
    """The best of K beams for B sentences at once (state and memory have B rows, one per sentence;
    they are repeated K times here), by ``score`` (``log_prob / lp(n)``, length penalty ``alpha``).
    ``max_lengths`` (B,) as in :func:`greedy_search`."""
    limits = _check(max_lengths, beam)
    B, K = len(limits), beam
    device = _device(state, memory)
    expand = torch.arange(B, device=device).repeat_interleave(K)  # (B*K,)
    state, memory = select(state, expand), select(memory, expand)
    sentences = torch.arange(B)  # the sentence of each live group of K rows
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0  # one live beam at first: the others would repeat it
    tokens = torch.full((B * K,), bos, dtype=torch.long, device=device)
    history = torch.zeros((B * K, 0), dtype=torch.long, device=device)  # (N, t)
    weights: Tensor | None = None  # (N, t, S)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    t = 0
    while len(sentences):
        G = len(sentences)
        log_probs, state, attn = step(tokens, state, memory)  # (G*K, V)
        V = log_probs.shape[-1]
        t += 1
        if attention and attn is not None:
            weights = attn[:, None] if weights is None else torch.cat([weights, attn[:, None]], dim=1)
        candidates = (scores[:, :, None] + log_probs.float().view(G, K, V)).view(G, K * V)
        values, flat = candidates.topk(2 * K, dim=1)  # (G, 2K), best first
        origin, words = flat // V, flat % V  # the beam extended, the token
        is_eos = words == eos
        lp = length_penalty(t, alpha)
        done = []
        for g, b in enumerate(sentences.tolist()):
            ends = is_eos[g, :K].nonzero().flatten().tolist()
            for r in ends:
                if values[g, r] == float("-inf"):
                    continue
                finished[b].append(_hypothesis(history, weights, g * K + int(origin[g, r]), values[g, r], lp))
            if t >= limits[b] and len(finished[b]) < K:
                for r in (~is_eos[g]).nonzero().flatten()[: K - len(finished[b])].tolist():
                    if values[g, r] == float("-inf"):
                        continue
                    row = g * K + int(origin[g, r])
                    hypothesis = _hypothesis(history, weights, row, values[g, r], lp)
                    hypothesis.tokens.append(int(words[g, r]))
                    finished[b].append(hypothesis)
            done.append(len(finished[b]) >= K or t >= limits[b])
        # the first K extensions that are not an end token (there are at least K among 2K)
        rank = torch.cumsum((~is_eos).long(), dim=1) - 1  # (G, 2K)
        chosen = (~is_eos) & (rank < K)
        pick = chosen.long().argsort(dim=1, descending=True, stable=True)[:, :K]  # (G, K), in score order
        scores = values.gather(1, pick)  # (G, K)
        rows = (torch.arange(G, device=device)[:, None] * K + origin.gather(1, pick)).flatten()  # (G*K,)
        tokens = words.gather(1, pick).flatten()
        history = torch.cat([history[rows], tokens[:, None]], dim=1)
        state = select(state, rows)
        if weights is not None:
            weights = weights[rows]
        live = [g for g, d in enumerate(done) if not d]
        if len(live) < G:
            groups = torch.tensor(live, dtype=torch.long, device=device)
            index = (groups[:, None] * K + torch.arange(K, device=device)).flatten()
            sentences, scores = sentences[groups.cpu()], scores[groups]
            tokens, history = tokens[index], history[index]
            state, memory = select(state, index), select(memory, index)
            if weights is not None:
                weights = weights[index]
    return [max(hyps, key=lambda h: h.score) for hyps in finished]


def _hypothesis(history: Tensor, weights: Tensor | None, row: int, value: Tensor, lp: float) -> Hypothesis:
    log_prob = float(value)
    return Hypothesis(
        history[row].tolist(),
        log_prob / lp,
        log_prob,
        weights[row].float().cpu() if weights is not None else None,
    )


def _device(state: Any, memory: Any) -> torch.device:
    for tree in (state, memory):
        while isinstance(tree, (tuple, list)) and tree:
            tree = tree[0]
        if isinstance(tree, Tensor):
            return tree.device
    return torch.device("cpu")


__all__ = ["Hypothesis", "beam_search", "greedy_search", "length_penalty", "select"]
