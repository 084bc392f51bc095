"""The shared training loop, checkpoints, progress bar and curves."""

from .checkpoint import CheckpointError
from .progress import CountBar, ProgressBar
from .trainer import Meter, TrainConfig, Trainer, TrainingError, resolve_device, seed_everything

__all__ = [
    "CheckpointError",
    "CountBar",
    "Meter",
    "ProgressBar",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "resolve_device",
    "seed_everything",
]
