"""Decoding for models that write one token at a time: greedy and batched beam search."""

from .search import Hypothesis, beam_search, greedy_search, length_penalty, select

__all__ = ["Hypothesis", "beam_search", "greedy_search", "length_penalty", "select"]
