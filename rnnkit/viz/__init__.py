"""Looking inside trained models: per-character activations as HTML and PNG, unit rankings."""

from .activations import FEATURES, activation_html, activation_png, hidden_states, rank_units

__all__ = ["FEATURES", "activation_html", "activation_png", "hidden_states", "rank_units"]
