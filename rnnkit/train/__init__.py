"""The shared training loop, checkpoints, run directories, progress bar and curves."""

from .checkpoint import CheckpointError
from .progress import CountBar, ProgressBar, tell
from .rundir import RUN_FILE, RunKind
from .trainer import Meter, TrainConfig, Trainer, TrainingError, cosine, resolve_device, seed_everything

__all__ = [
    "RUN_FILE",
    "CheckpointError",
    "CountBar",
    "Meter",
    "ProgressBar",
    "RunKind",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "cosine",
    "resolve_device",
    "seed_everything",
    "tell",
]
