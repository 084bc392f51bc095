"""Audio for the speech models: reading any soundfile format at the model's rate (:mod:`.io`),
log-mel features, normalisation, frame stacking and SpecAugment masks (:mod:`.features`), and
seeded voice perturbations for training (:mod:`.augment`)."""

from .augment import AugmentConfig, perturb
from .features import (
    FeatureConfig,
    MaskConfig,
    features,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_to_hz,
    normalize,
    spec_augment,
    stack_frames,
)
from .io import MAX_SECONDS, SILENCE, read_audio, resample

__all__ = [
    "MAX_SECONDS",
    "SILENCE",
    "AugmentConfig",
    "FeatureConfig",
    "MaskConfig",
    "features",
    "hz_to_mel",
    "log_mel",
    "mel_filterbank",
    "mel_to_hz",
    "normalize",
    "perturb",
    "read_audio",
    "resample",
    "spec_augment",
    "stack_frames",
]
