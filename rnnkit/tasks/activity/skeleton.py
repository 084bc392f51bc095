"""The skeleton adapter: joints per frame -> the ``(T, E)`` features the sequence core reads.

For a clip ``P`` of shape (T, J, 3) (J joints, x y z with y up)::

    centre   P_t <- P_t - P_t[hip]           every frame about its own hip centre ("frame"), or all
                                              frames about the first frame's ("first"), or none
    path     P   <- P(s_k), s_k = k L / (N - 1), k = 0 .. N-1   only with arc_length = N: the clip
                                              resampled at N points evenly spaced along its path,
                                              s(t) = sum_{u < t} sum_{j in path} |P_(u+1)[j] - P_u[j]|
                                              the length the hands (or all joints) have travelled
                                              by frame t, L = s(T), linear between frames
    scale    P   <- P / s,  s = mean_t |P_t[neck] - P_t[hip]|   the torso length: tall and short
                                              subjects, near and far from the camera, alike
    rotate   P_t <- R_y(-a) P_t,  a = atan2(-d_z, d_x),  d = mean_t (P_t[left hip] - P_t[right hip])
                                              the hips' line turned onto the x axis: every subject
                                              faces the camera square (a canonical view)
    features x_t = [P_t flattened (3J) ; P_t - P_(t-1) (3J) if velocity (0 at t = 1) ;
                    P_t[child] - P_t[parent] for each bone of data.BONES (3 * 19) if bones ;
                    v / sqrt(|v|^2 + eps^2), v = P_t[j] - P_(t-1)[j], for each joint j of
                    `path` (3 * 2 for the hands, 3J for all joints) if direction: the direction
                    of motion, of length ~1 once a joint moves faster than eps (direction_eps
                    torso lengths a frame), ~0 while it stays still ;
                    cos of the angle between the two bones at each joint where one bone of
                    data.BONES ends and another begins (18) if angles]

Resampling by path length (``arc_length``) makes the clip independent of the speed at which the
path is travelled: a copy of the clip with frames repeated (a pause) or inserted between frames by
linear interpolation (a slower performance) gives the same N frames, and so does any copy whose
path is the same. It comes after the centring (a translation of every frame, or of none, that the
path's length does not see) and before the scale and rotation (taken from the resampled clip, so
they too are the same for such a copy). A clip whose path joints never move is resampled evenly in
time. The clip's frames are then the N points of its path, and so are its per-frame labels.

R_y(a) rotates about the vertical axis: ``[[cos a, 0, sin a], [0, 1, 0], [-sin a, 0, cos a]]``.

Train-time augmentation (:func:`augment`, seeded, never at evaluation): a rotation about the
vertical axis by an angle uniform in ±``rotate_deg``, a scaling uniform in 1 ± ``scale``, and a
time stretch: the clip resampled (linear interpolation between frames) to ``round(r T)`` frames,
r uniform in 1 ± ``stretch``; with probability ``mirror``, the mirror image (x <- -x and every left
joint swapped with its right one: a left-handed performance of the action); and Gaussian noise of
standard deviation ``noise`` (torso lengths) added to every coordinate. It acts on the normalised
joints, before the features are made (the mirror needs them rotated: x is the hips' line).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config import check_choice
from ...errors import ConfigError
from .data import BONES, JOINTS

HIP, NECK, RIGHT_HIP, LEFT_HIP = 6, 2, 4, 5  # joint indices in data.JOINTS
HANDS = (JOINTS.index("right hand"), JOINTS.index("left hand"))
PATHS = {"hands": HANDS, "joints": tuple(range(len(JOINTS)))}  # whose path length arc_length spaces
# the joints where one bone ends and the next begins: (bone in, bone out), indices into BONES
ANGLES = [(a, b) for a, (_, end) in enumerate(BONES) for b, (start, _) in enumerate(BONES) if end == start]
# each joint's mirror image: right <-> left, the joints of the body's middle stay
MIRROR = [JOINTS.index(n.replace("right", "@").replace("left", "right").replace("@", "left")) for n in JOINTS]
CENTRES = ("frame", "first", "none")


@dataclass
class SkeletonConfig:
    centre: str = "frame"  # "frame" | "first" | "none"
    scale: bool = True  # divide by the mean torso length
    rotate: bool = True  # turn the hips' line onto the x axis
    velocity: bool = False  # append each joint's displacement since the previous frame
    bones: bool = False  # append each bone's vector, child joint minus parent joint (data.BONES)
    # 0: the clip's own frames; N >= 2: the clip resampled at N points evenly spaced along the
    # length of the path that the `path` joints travel (the path's shape, not its speed)
    arc_length: int = 0
    path: str = "hands"  # "hands" | "joints": whose path arc_length and direction follow
    direction: bool = False  # append the direction of motion of each `path` joint (unit when moving)
    # eps of the direction, torso lengths a frame: a joint moving slower is shrunk towards 0 (half
    # the joints move less than 0.03 a frame, a tenth less than 0.007: the tracker's jitter)
    direction_eps: float = 0.05
    angles: bool = False  # append the cosine of the angle between the two bones at each joint

    def __post_init__(self) -> None:
        check_choice(self, "centre", CENTRES)
        check_choice(self, "path", PATHS)
        if self.direction_eps <= 0:
            raise ConfigError(f"direction_eps must be > 0 (torso lengths a frame), got {self.direction_eps}")
        if self.arc_length == 1 or self.arc_length < 0:
            raise ConfigError(
                f"arc_length must be 0 (the clip's own frames) or >= 2 points, got {self.arc_length}"
            )


@dataclass
class AugmentConfig:
    rotate_deg: float = 0.0  # rotation about the vertical axis, uniform in ±rotate_deg
    scale: float = 0.0  # scaling, uniform in 1 ± scale
    stretch: float = 0.0  # time stretch, uniform in 1 ± stretch
    mirror: float = 0.0  # the probability of the mirror image (left and right swapped)
    noise: float = 0.0  # Gaussian noise on every coordinate, this standard deviation (torso lengths)

    def __post_init__(self) -> None:
        if self.rotate_deg < 0 or not 0 <= self.scale < 1 or not 0 <= self.stretch < 1:
            raise ConfigError(
                "augment.rotate_deg must be >= 0 and augment.scale, augment.stretch in [0, 1), got "
                f"{self.rotate_deg}, {self.scale}, {self.stretch}"
            )
        if not 0 <= self.mirror <= 1 or self.noise < 0:
            raise ConfigError(
                f"augment.mirror must be in [0, 1] and augment.noise >= 0, got {self.mirror}, {self.noise}"
            )

    @property
    def on(self) -> bool:
        return bool(self.rotate_deg or self.scale or self.stretch or self.mirror or self.noise)


def rotation_y(angle: float) -> np.ndarray:
    """R_y(angle), (3, 3): a rotation about the vertical (y) axis."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def normalise(joints: np.ndarray, config: SkeletonConfig) -> np.ndarray:
    """(T, J, 3) -> (T, J, 3): centred, scaled and rotated as ``config`` says (see the module)."""
    P = np.asarray(joints, dtype=np.float64)
    if config.centre == "frame":
        P = P - P[:, HIP : HIP + 1]  # (T, J, 3) - (T, 1, 3)
    elif config.centre == "first":
        P = P - P[:1, HIP : HIP + 1]  # (T, J, 3) - (1, 1, 3)
    if config.arc_length:
        P = along_path(P, config.arc_length, PATHS[config.path])  # (N, J, 3)
    if config.scale:
        torso = np.linalg.norm(P[:, NECK] - P[:, HIP], axis=-1).mean()
        P = P / max(torso, 1e-6)
    if config.rotate:
        d = (P[:, LEFT_HIP] - P[:, RIGHT_HIP]).mean(axis=0)  # (3,)
        angle = np.arctan2(-d[2], d[0])  # R_y(angle) takes (1, 0, 0) to (cos, 0, -sin) = d's heading
        P = P @ rotation_y(angle)  # row vectors: p R = (R^T p^T)^T = R_y(-angle) p
    return P


def along_path(P: np.ndarray, length: int, joints: tuple[int, ...]) -> np.ndarray:
    """(T, J, 3) -> (length, J, 3): every joint at ``length`` points evenly spaced in s, the summed
    length of the paths of ``joints`` (linear between frames); evenly in time if they never move."""
    step = np.linalg.norm(np.diff(P[:, list(joints)], axis=0), axis=-1).sum(axis=1)  # (T-1,)
    s = np.concatenate([[0.0], np.cumsum(step)])  # (T,) the length travelled by each frame
    if len(P) < 2 or s[-1] <= 1e-9:
        return resample(P, length)
    where = np.linspace(0.0, s[-1], length)  # (length,)
    # the segment s[k] <= where < s[k + 1]; side="right" passes over segments of no length (pauses)
    k = np.minimum(np.searchsorted(s, where, side="right") - 1, len(P) - 2)  # (length,)
    span = s[k + 1] - s[k]
    w = np.divide(where - s[k], span, out=np.ones_like(span), where=span > 0)[:, None, None]  # (length, 1, 1)
    return (1 - w) * P[k] + w * P[k + 1]


def features(P: np.ndarray, config: SkeletonConfig) -> np.ndarray:
    """(T, J, 3) normalised joints -> (T, E) float32: E = 3J, + 3J with velocities, + 3 * 19 with
    bones, + 3 Jp with directions of motion (Jp: 2 hands or all J joints), + 18 with angles."""
    T = len(P)
    x = P.reshape(T, -1)  # (T, 3J)
    parts = [x]
    if config.velocity:
        parts.append(np.diff(x, axis=0, prepend=x[:1]))  # (T, 3J), zero at t = 1
    if config.bones or config.angles:
        parent, child = np.array(BONES).T  # (19,) each
        bone = P[:, child] - P[:, parent]  # (T, 19, 3)
    if config.bones:
        parts.append(bone.reshape(T, -1))  # (T, 57)
    if config.direction:
        path = P[:, list(PATHS[config.path])]  # (T, Jp, 3)
        v = np.diff(path, axis=0, prepend=path[:1])  # (T, Jp, 3), zero at t = 1
        speed = np.sqrt((v**2).sum(axis=-1, keepdims=True) + config.direction_eps**2)  # (T, Jp, 1)
        parts.append((v / speed).reshape(T, -1))  # (T, 3 Jp)
    if config.angles:
        into, out = np.array(ANGLES).T  # (18,) each
        a, b = -bone[:, into], bone[:, out]  # (T, 18, 3): both bones pointing away from the joint
        norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)  # (T, 18)
        parts.append((a * b).sum(axis=-1) / np.maximum(norms, 1e-9))  # (T, 18)
    return np.concatenate(parts, axis=1).astype(np.float32)  # (T, E)


def feature_size(config: SkeletonConfig, num_joints: int = 20) -> int:
    return (
        3 * num_joints * (1 + config.velocity)
        + 3 * (len(HANDS) if config.path == "hands" else num_joints) * config.direction
        + 3 * len(BONES) * config.bones
        + len(ANGLES) * config.angles
    )


def augment(P: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """(T, J, 3) -> (T', J, 3): a random rotation about the vertical axis, scaling and time stretch."""
    if config.rotate_deg:
        P = P @ rotation_y(np.deg2rad(rng.uniform(-config.rotate_deg, config.rotate_deg)))
    if config.scale:
        P = P * rng.uniform(1 - config.scale, 1 + config.scale)
    if config.stretch:
        T = len(P)
        new = max(2, round(T * rng.uniform(1 - config.stretch, 1 + config.stretch)))
        P = resample(P, new)
    if config.mirror and rng.random() < config.mirror:
        P = P[:, MIRROR] * np.array([-1.0, 1.0, 1.0])  # (T, J, 3): left <-> right, x <- -x
    if config.noise:
        P = P + rng.normal(0.0, config.noise, size=P.shape)
    return P


def resample(P: np.ndarray, length: int) -> np.ndarray:
    """(T, ...) -> (length, ...): linear interpolation between frames, the first and last kept."""
    T = len(P)
    where = np.linspace(0, T - 1, length)  # (length,) positions in the old frames
    before = np.floor(where).astype(int)
    after = np.minimum(before + 1, T - 1)
    w = (where - before).reshape(-1, *([1] * (P.ndim - 1)))
    return (1 - w) * P[before] + w * P[after]


__all__ = [
    "AugmentConfig",
    "SkeletonConfig",
    "along_path",
    "augment",
    "feature_size",
    "features",
    "normalise",
    "resample",
    "rotation_y",
]
