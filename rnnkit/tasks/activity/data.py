"""MSR Action3D skeletons: the reader, the action subsets of Li et al. 2010 and the cross-subject split.

A file ``aNN_sSS_eEE_skeleton3D.txt`` holds one clip of action NN (1-20) by subject SS (1-10),
repetition EE: per frame 20 lines, one joint each, ``x y z confidence`` (metres, y up, z the depth
from the camera). The joints, in file order (:data:`JOINTS`): shoulders, neck, spine, hips, hip
centre, elbows, wrists, hands, knees, ankles, feet, head.

What the reader does not train on, it reports by name (:attr:`SkeletonData.skipped`):
a file whose every joint is at (0, 0, 0) (``a13_s09_e02``: the tracker found no body), a file that
is not 20 joints x 4 numbers per frame. Frames whose every joint is zero (the tracker lost the body
for a moment, mostly while bending: 19 files) are dropped and counted
(:attr:`SkeletonData.dropped_frames`); a clip left with fewer than :data:`MIN_FRAMES` is skipped.

Subsets (Li, Zhang, Liu, "Action recognition based on a bag of 3D points", CVPR workshops 2010,
Table 1): three groups of 8 actions, AS1 and AS2 of similar movements, AS3 of complex ones.
Protocol (cross-subject): subjects 1, 3, 5, 7, 9 train, 2, 4, 6, 8, 10 test; the clips that choose
the best epoch come out of the training subjects (:func:`cross_subject`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...data.locate import DataError
from ...train.cv import Split, Splits

ACTIONS = (
    "high arm wave",
    "horizontal arm wave",
    "hammer",
    "hand catch",
    "forward punch",
    "high throw",
    "draw x",
    "draw tick",
    "draw circle",
    "hand clap",
    "two hand wave",
    "side boxing",
    "bend",
    "forward kick",
    "side kick",
    "jogging",
    "tennis swing",
    "tennis serve",
    "golf swing",
    "pick up & throw",
)
SUBSETS = {  # action numbers (1-based), Li et al. 2010, Table 1
    "AS1": (2, 3, 5, 6, 10, 13, 18, 20),
    "AS2": (1, 4, 7, 8, 9, 11, 12, 14),
    "AS3": (6, 14, 15, 16, 17, 18, 19, 20),
    "all": tuple(range(1, 21)),
}
JOINTS = (
    "right shoulder",
    "left shoulder",
    "neck",
    "spine",
    "right hip",
    "left hip",
    "hip centre",
    "right elbow",
    "left elbow",
    "right wrist",
    "left wrist",
    "right hand",
    "left hand",
    "right knee",
    "left knee",
    "right ankle",
    "left ankle",
    "right foot",
    "left foot",
    "head",
)
BONES = (  # pairs of joint indices drawn as the stick figure
    (19, 2), (2, 0), (2, 1), (2, 3), (3, 6), (6, 4), (6, 5), (0, 7), (7, 9), (9, 11),
    (1, 8), (8, 10), (10, 12), (4, 13), (13, 15), (15, 17), (5, 14), (14, 16), (16, 18),
)  # fmt: skip
NUM_JOINTS = 20
MIN_FRAMES = 5
TRAIN_SUBJECTS = (1, 3, 5, 7, 9)
NAME = re.compile(r"a(\d\d)_s(\d\d)_e(\d\d)_skeleton3D\.txt$")


@dataclass
class SkeletonData:
    skeletons: list[np.ndarray]  # each (T_i, 20, 3): x, y, z of every joint per frame
    actions: np.ndarray  # (N,) int64, the action number 1..20
    subjects: np.ndarray  # (N,) int64, 1..10
    names: list[str]  # the file names
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why) not read
    dropped_frames: dict[str, int] = field(default_factory=dict)  # file -> all-zero frames dropped
    source: str = ""  # a hash of the names and sizes of the files read, for the recorded split


def read_skeleton(path: str | Path) -> np.ndarray:
    """One skeleton file: (T, 20, 4) float64, x y z confidence per joint; a file that is not 20
    lines of 4 numbers per frame is a one-line :class:`DataError` naming it."""
    path = Path(path)
    try:
        values = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as error:
        raise DataError(f"{path.name}: not a skeleton file of numbers ({error})") from None
    if values.shape[1] != 4 or len(values) % NUM_JOINTS or not len(values):
        raise DataError(
            f"{path.name}: expected 20 lines of 'x y z confidence' per frame, got {len(values)} lines "
            f"of {values.shape[1]} numbers"
        )
    return values.reshape(-1, NUM_JOINTS, 4)  # (T*20, 4) -> (T, 20, 4)


def clean(skeleton: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """``skeleton`` (T, 20, 4) -> its (T', 20, 3) coordinates without the all-zero frames, and how
    many were dropped; a clip with no body, or fewer than MIN_FRAMES frames left, is a DataError."""
    xyz = skeleton[..., :3]
    zero = ~np.abs(xyz).any(axis=(1, 2))  # (T,)
    if zero.all():
        raise DataError(f"{name}: every joint of every frame is at (0, 0, 0): no body was tracked")
    kept = xyz[~zero]
    if len(kept) < MIN_FRAMES:
        raise DataError(f"{name}: {len(kept)} frame(s) with a body, fewer than {MIN_FRAMES}")
    return kept, int(zero.sum())


def read_msr(folder: str | Path, subset: str = "all") -> SkeletonData:
    """The clips of ``subset``'s actions in ``folder`` (sorted by name), the bad files reported."""
    folder = Path(folder)
    if subset not in SUBSETS:
        raise DataError(f"subset must be one of {', '.join(SUBSETS)}, got {subset!r}")
    files = sorted(f for f in folder.glob("*_skeleton3D.txt") if NAME.search(f.name))
    if not files:
        raise DataError(
            f"{folder} holds no aNN_sSS_eEE_skeleton3D.txt files; give the MSR Action3D skeleton folder"
        )
    wanted = set(SUBSETS[subset])
    data = SkeletonData([], [], [], [])
    digest = hashlib.sha256()
    for file in files:
        action, subject, _ = (int(g) for g in NAME.search(file.name).groups())
        if action not in wanted:
            continue
        digest.update(f"{file.name}:{file.stat().st_size};".encode())
        try:
            xyz, dropped = clean(read_skeleton(file), file.name)
        except DataError as error:
            data.skipped.append((file.name, str(error).removeprefix(f"{file.name}: ")))
            continue
        if dropped:
            data.dropped_frames[file.name] = dropped
        data.skeletons.append(xyz)
        data.actions.append(action)
        data.subjects.append(subject)
        data.names.append(file.name)
    data.actions = np.asarray(data.actions, dtype=np.int64)
    data.subjects = np.asarray(data.subjects, dtype=np.int64)
    data.source = "sha256:" + digest.hexdigest()
    return data


def cross_subject(
    subjects: np.ndarray,
    labels: np.ndarray,
    validation_subjects: tuple[int, ...] | None = (9,),
    source: str = "",
) -> Splits:
    """Train on subjects 1, 3, 5, 7, 9 less ``validation_subjects`` (they choose the best epoch),
    test on 2, 4, 6, 8, 10; recorded like any split (kind ``cross-subject``). With no validation
    subjects, a stratified tenth of the training clips validates instead; with None, no clip."""
    subjects = np.asarray(subjects)
    if validation_subjects is None:
        train = np.flatnonzero(np.isin(subjects, TRAIN_SUBJECTS))
        split = Split(train, train[:0], np.flatnonzero(~np.isin(subjects, TRAIN_SUBJECTS)))
        return Splits("cross-subject", 0, len(subjects), source, [split])
    bad = [s for s in validation_subjects if s not in TRAIN_SUBJECTS]
    if bad:
        raise DataError(f"validation subjects must be training subjects {TRAIN_SUBJECTS}, got {bad}")
    everything = np.arange(len(subjects))
    test = everything[~np.isin(subjects, TRAIN_SUBJECTS)]
    validation = everything[np.isin(subjects, validation_subjects)]
    train = everything[np.isin(subjects, TRAIN_SUBJECTS) & ~np.isin(subjects, validation_subjects)]
    missing = [s for s in validation_subjects if s not in subjects]
    if missing:
        raise DataError(
            f"validation subject(s) {missing} have no clips here; name a training subject that has"
        )
    if not validation_subjects:
        from sklearn.model_selection import train_test_split

        train, validation = train_test_split(train, test_size=0.1, stratify=labels[train], random_state=0)
    split = Split(np.sort(train), np.sort(validation), np.sort(test))
    return Splits("cross-subject", 0, len(subjects), source, [split])


__all__ = [
    "ACTIONS",
    "BONES",
    "JOINTS",
    "MIN_FRAMES",
    "NUM_JOINTS",
    "SUBSETS",
    "TRAIN_SUBJECTS",
    "SkeletonData",
    "clean",
    "cross_subject",
    "read_msr",
    "read_skeleton",
]
