"""The activity page's model (issue 28): a skeleton run answers an uploaded clip with its action,
the probabilities, the label of every frame, and the normalised joints the page draws moving.

The page reads the skeleton file in the browser (MSR Action3D's layout: 20 lines of ``x y z
confidence`` per frame) and sends the coordinates, ``joints``: x, y, z of joint 1..20 of frame 1,
then of frame 2, ... (the confidences dropped), so that a clip of a few hundred frames fits the
request limits. ``text`` carries the clip's name. Frames whose every joint is zero (the tracker
lost the body) are dropped as in training; a clip with no body is a 422 that says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ..data.locate import DataError
from ..data.sequences import FeatureSequences
from ..errors import InputError
from .adapter import Adapter

JOINT_VALUES = 60  # 20 joints x (x, y, z) per frame


class ActivityRequest(BaseModel):
    text: str = Field(description="the clip's name (the uploaded file's)", min_length=1)
    joints: list[float] = Field(
        description="x, y, z of the 20 joints of frame 1, then frame 2, ... (60 numbers per frame), "
        "as in an MSR Action3D skeleton file without its confidences",
        min_length=JOINT_VALUES,
    )


class ActivityAnswer(BaseModel):
    label: str = Field(description="the clip's action: the largest mean of the frames' probabilities")
    probabilities: dict[str, float]
    frame_labels: list[str] = Field(description="each frame's most probable action (lost frames dropped)")
    frame_confidence: list[float] = Field(description="each frame's probability of its label")
    joints: list[list[list[float]]] = Field(
        description="the normalised joints (T, 20, 3) the model read: hip-centred, in torso lengths, "
        "turned to face the camera; for drawing"
    )
    dropped_frames: int = Field(description="frames with no body (every joint at 0), not read")


class ActivityModel(
    Adapter, task="activity", page="activity.html", request=ActivityRequest, answer=ActivityAnswer
):
    def load(self, run_dir: Path) -> None:
        from ..tasks import activity
        from ..tasks.activity import predict

        self.activity = activity
        self.predictor = predict.Predictor.from_run(run_dir)
        if self.predictor.adapter.input != "skeleton":
            raise InputError(
                f"{run_dir} reads multichannel sequences; the activity page serves skeleton runs"
            )

    def describe(self) -> dict[str, Any]:
        return {"classes": self.predictor.adapter.classes}

    def _joints(self, request: ActivityRequest) -> tuple[np.ndarray, int]:
        values = np.asarray(request.joints, dtype=np.float64)
        if len(values) % JOINT_VALUES:
            raise InputError(
                f"joints holds {len(values)} numbers, not a whole number of frames of {JOINT_VALUES} "
                "(20 joints x 3): is the file 20 lines of 'x y z confidence' per frame?"
            )
        raw = np.concatenate(
            [values.reshape(-1, 20, 3), np.ones((len(values) // JOINT_VALUES, 20, 1))], axis=2
        )
        try:
            return self.activity.data.clean(raw, request.text)  # (T', 20, 3), frames dropped
        except DataError as error:
            raise InputError(str(error)) from None

    def check(self, request: ActivityRequest) -> None:
        self._joints(request)

    def answer(self, requests: list[ActivityRequest]) -> list[ActivityAnswer]:
        activity, predictor = self.activity, self.predictor
        config = predictor.config.skeleton
        cleaned = [self._joints(r) for r in requests]
        normalised = [activity.normalise(joints, config) for joints, _ in cleaned]
        clips = FeatureSequences([activity.features(P, config) for P in normalised])
        classes = predictor.adapter.classes
        answers = []
        for (clip, frames), P, (_, dropped) in zip(predictor.answer_clips(clips), normalised, cleaned):
            best = frames.argmax(axis=1)  # (T,)
            answers.append(
                ActivityAnswer(
                    label=classes[int(clip.argmax())],
                    probabilities={c: float(p) for c, p in zip(classes, clip)},
                    frame_labels=[classes[int(k)] for k in best],
                    frame_confidence=[float(frames[t, k]) for t, k in enumerate(best)],
                    joints=np.round(P, 4).tolist(),
                    dropped_frames=dropped,
                )
            )
        return answers


__all__ = ["ActivityAnswer", "ActivityModel", "ActivityRequest"]
