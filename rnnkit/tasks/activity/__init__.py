"""Activity recognition from body skeletons (MSR Action3D) and any multichannel sequences (issue 28):
the reader, subsets and split (:mod:`.data`), the skeleton adapter (:mod:`.skeleton`), the run
(:mod:`.task`), the logistic baseline and late fusion (:mod:`.logistic`), 1-NN DTW's answer for the
three-way fusion (:mod:`.dtw`), evaluation, the baseline and prediction (:mod:`.predict`), the GIF
(:mod:`.animate`)."""

from .animate import animate
from .data import ACTIONS, JOINTS, SUBSETS, SkeletonData, cross_subject, read_msr, read_skeleton
from .dtw import DTW_FILE, DTWReference, dtw_distances, dtw_probs, fuse3
from .logistic import LOGISTIC_FILE, Logistic
from .predict import Predictor, answer_clips, baseline, evaluate, logistic_probs, statistics
from .skeleton import AugmentConfig, SkeletonConfig, augment, features, normalise
from .task import (
    ADAPTER_FILE,
    PRESETS,
    RUNS,
    SPLITS_FILE,
    ActivityConfig,
    Inputs,
    clip_probs,
    predict_frames,
    preset,
    step,
    train,
)

__all__ = [
    "ACTIONS",
    "ADAPTER_FILE",
    "DTW_FILE",
    "JOINTS",
    "LOGISTIC_FILE",
    "PRESETS",
    "RUNS",
    "SPLITS_FILE",
    "SUBSETS",
    "ActivityConfig",
    "AugmentConfig",
    "DTWReference",
    "Inputs",
    "Logistic",
    "Predictor",
    "SkeletonConfig",
    "SkeletonData",
    "animate",
    "answer_clips",
    "augment",
    "baseline",
    "clip_probs",
    "cross_subject",
    "dtw_distances",
    "dtw_probs",
    "evaluate",
    "features",
    "fuse3",
    "logistic_probs",
    "normalise",
    "predict_frames",
    "preset",
    "read_msr",
    "read_skeleton",
    "statistics",
    "step",
    "train",
]
