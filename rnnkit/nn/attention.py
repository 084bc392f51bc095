"""Attention over a padded sequence of encoder outputs: Luong's dot and general scores and Bahdanau's
additive score, masked so that padded source positions get exactly zero weight.

For a decoder state (the *query*) ``q`` and encoder outputs (the *values*) ``v_1 .. v_S``::

    score_s = q . v_s                          dot       (Luong et al., 2015; needs Q == V)
    score_s = q . (W_a v_s)                    general   (Luong et al., 2015)
    score_s = w . tanh(W_k v_s + W_q q)        additive  (Bahdanau et al., 2015)
    a_s     = softmax_s(score_s) over the real positions s <= S_b, 0 on padding
    c       = sum_s a_s v_s                    the context vector

Shapes: B batch, T query steps, S source positions, Q query size, V value size, A attention size.
The part of the score that depends only on the values (``W_a v_s``, ``W_k v_s``) is computed once per
source by :meth:`Attention.keys` and reused at every decoding step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

SCORES = ("dot", "general", "additive")


class Attention(nn.Module):
    """``score`` in ``("dot", "general", "additive")``; ``attention_size`` is A of the additive score."""

    def __init__(self, query_size: int, value_size: int, score: str = "general", attention_size: int = 0):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        if score == "dot" and query_size != value_size:
            raise ValueError(
                f"the dot score needs query_size == value_size, got {query_size} and {value_size}; "
                "use score='general' (a learned W_a between them)"
            )
        self.score = score
        if score == "general":
            self.w_a = nn.Linear(value_size, query_size, bias=False)
        elif score == "additive":
            size = attention_size or query_size
            self.w_k = nn.Linear(value_size, size, bias=False)
            self.w_q = nn.Linear(query_size, size)
            self.w = nn.Linear(size, 1, bias=False)

    def keys(self, values: Tensor) -> Tensor:
        """The values' part of the score, once per source: (B, S, V) -> (B, S, Q) or (B, S, A)."""
        if self.score == "dot":
            return values
        if self.score == "general":
            return self.w_a(values)
        return self.w_k(values)

    def forward(self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``query`` (B, T, Q) or (B, Q), ``keys`` from :meth:`keys`, ``values`` (B, S, V), ``mask``
        (B, S) True at real positions -> the context (B, T, V) or (B, V) and the weights (B, T, S)
        or (B, S), zero on padding and summing to 1 over each row."""
        single = query.dim() == 2
        if single:
            query = query[:, None]  # (B, 1, Q)
        if self.score == "additive":
            # (B, T, 1, A) + (B, 1, S, A) -> (B, T, S, A) -> (B, T, S)
            scores = self.w(torch.tanh(self.w_q(query)[:, :, None] + keys[:, None])).squeeze(-1)
        else:
            scores = torch.bmm(query, keys.transpose(1, 2))  # (B, T, Q) x (B, Q, S) -> (B, T, S)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, T, S); exp(-inf) is exactly 0
        context = torch.bmm(weights, values)  # (B, T, S) x (B, S, V) -> (B, T, V)
        if single:
            return context[:, 0], weights[:, 0]
        return context, weights

    def extra_repr(self) -> str:
        return f"score={self.score!r}"


__all__ = ["SCORES", "Attention"]
