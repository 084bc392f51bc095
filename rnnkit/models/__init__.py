"""Models assembled from rnnkit layers, shared by the tasks."""

from .classifier import ClassifierConfig, SequenceClassifier

__all__ = ["ClassifierConfig", "SequenceClassifier"]
