"""Datasets, tokenizers and batching shared by the tasks."""

from .batching import Batch, SequenceDataset, bucket_indices
from .locate import DataError

__all__ = ["Batch", "DataError", "SequenceDataset", "bucket_indices"]
