"""The body-part hierarchy of Du, Wang, Wang, "Hierarchical recurrent neural network for skeleton
based action recognition" (CVPR 2015), in two levels: each of five body parts read by its own
bidirectional recurrent layer, their states read together by one more over the whole body.

For a clip's features x_t (the columns of :func:`.skeleton.features`)::

    h_t^p = BiRNN_p(x_{1..n}[columns of part p])_t      p = trunk, right arm, left arm, right leg,
                                                         left leg; (2 Hp) each, Hp = ``parts``
    g_t   = BiRNN_body(dropout([h_t^1 ; ... ; h_t^5]))_t  (2 H), H = model.hidden_size
    y_t   = W_o dropout(g_t) + b_o                        (C) a frame's logits, as the frame head's

A part's columns are its joints' positions, their velocities (with ``velocity``), the bones
that end at its joints (with ``bones``; each bone of data.BONES ends at one part's joint), the
directions of motion of those of its joints that the skeleton's ``path`` names (with
``direction``) and the angles at its joints (with ``angles``). Du et al. fuse the parts in three
steps (arms with the trunk, legs with the trunk, upper with lower body); one fusion is the step
kept here. Read with the clip lengths like every rnnkit layer, so a clip's answers are the same
alone or padded in a batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...models.sequence import CELLS, SequenceModelConfig
from .data import BONES, NUM_JOINTS
from .skeleton import ANGLES, PATHS, SkeletonConfig

PARTS = {  # joint indices in data.JOINTS
    "trunk": (19, 2, 3, 6),  # head, neck, spine, hip centre
    "right arm": (0, 7, 9, 11),  # shoulder, elbow, wrist, hand
    "left arm": (1, 8, 10, 12),
    "right leg": (4, 13, 15, 17),  # hip, knee, ankle, foot
    "left leg": (5, 14, 16, 18),
}


def part_columns(skeleton: SkeletonConfig) -> list[list[int]]:
    """For each part of :data:`PARTS`, the columns of its features in ``features(P, skeleton)``."""
    columns = []
    for joints in PARTS.values():
        xyz = [3 * j + k for j in joints for k in range(3)]  # positions: columns 0 .. 3J-1
        part = list(xyz)
        offset = 3 * NUM_JOINTS
        if skeleton.velocity:
            part += [offset + c for c in xyz]
            offset += 3 * NUM_JOINTS
        if skeleton.bones:
            part += [
                offset + 3 * b + k for b, (_, end) in enumerate(BONES) if end in joints for k in range(3)
            ]
            offset += 3 * len(BONES)
        if skeleton.direction:  # the directions of the `path` joints of this part
            path = PATHS[skeleton.path]
            part += [offset + 3 * i + k for i, j in enumerate(path) if j in joints for k in range(3)]
            offset += 3 * len(path)
        if skeleton.angles:
            part += [offset + a for a, (into, _) in enumerate(ANGLES) if BONES[into][1] in joints]
        columns.append(part)
    return columns


class PartModel(nn.Module):
    """``model(x, lengths)``: x (B, T, E) -> (B, T, C) logits per frame, like the frame head of
    :class:`~rnnkit.models.sequence.SequenceModel` (``config`` is its config: cell, hidden_size,
    dropout, num_classes); ``part_hidden`` is Hp."""

    def __init__(self, config: SequenceModelConfig, columns: list[list[int]], part_hidden: int) -> None:
        super().__init__()
        self.config = config
        width = sorted(c for part in columns for c in part)
        if width != list(range(config.input_size)):
            raise ValueError(
                f"the parts' columns must cover the {config.input_size} features once each, got {len(width)}"
            )
        cell = CELLS[config.cell]
        for p, part in enumerate(columns):
            self.register_buffer(f"columns_{p}", torch.tensor(part), persistent=False)
        self.parts = nn.ModuleList(cell(len(part), part_hidden, bidirectional=True) for part in columns)
        self.body = cell(2 * part_hidden * len(columns), config.hidden_size, bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(2 * config.hidden_size, config.num_classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.config.input_size:
            raise ValueError(
                f"PartModel expects x of shape (B, T, {self.config.input_size}), got {tuple(x.shape)}"
            )
        h = [rnn(x[..., getattr(self, f"columns_{p}")], lengths)[0] for p, rnn in enumerate(self.parts)]
        h = torch.cat(h, dim=-1)  # 5 x (B, T, 2 Hp) -> (B, T, 10 Hp)
        g, _ = self.body(self.dropout(h), lengths)  # (B, T, 2H)
        return self.output(self.dropout(g))  # (B, T, C)


__all__ = ["PARTS", "PartModel", "part_columns"]
