"""The body-part hierarchy of Du, Wang, Wang, "Hierarchical recurrent neural network for skeleton
based action recognition" (CVPR 2015): each of five body parts read by its own bidirectional
recurrent layer, their states fused into larger parts level by level up to the whole body.

For a clip's features x_t (the columns of :func:`.skeleton.features`), ``levels=2`` (one fusion)::

    h_t^p = BiRNN_p(x_{1..n}[columns of part p])_t      p = trunk, right arm, left arm, right leg,
                                                         left leg; (2 Hp) each, Hp = ``parts``
    g_t   = BiRNN_body(dropout([h_t^1 ; ... ; h_t^5]))_t  (2 H), H = model.hidden_size
    y_t   = W_o dropout(g_t) + b_o                        (C) a frame's logits, as the frame head's

``levels=4``, Du et al.'s HBRNN-L (three fusions; tanh BiRNNs below, a BiLSTM at the top)::

    a_t^p = tanhBiRNN_p(x[columns of part p])_t          (2 Hp)  five parts, as above
    b_t^l = tanhBiRNN_l([a_t^l ; a_t^trunk])_t           (2 Hp)  l = each limb with the trunk (four)
    u_t   = tanhBiRNN_upper([b_t^right arm ; b_t^left arm])_t    (2 Hp)  the upper body
    w_t   = tanhBiRNN_lower([b_t^right leg ; b_t^left leg])_t    (2 Hp)  the lower body
    g_t   = BiLSTM_body(dropout([u_t ; w_t]))_t          (2 H)  (model.cell; lstm in the presets)
    y_t   = W_o dropout(g_t) + b_o                       (C)

where tanhBiRNN is rnnkit's :class:`~rnnkit.nn.RNN` (h_t = tanh(W_hx x_t + W_hh h_{t-1} + b)) in
both directions: as in the paper, only the last recurrent layer has LSTM units. With two levels the
parts use ``model.cell`` (the LSTM). Every recurrent layer has Hp units a direction below the
body; the paper's own widths per layer were not checked here.

A part's columns are its joints' positions, their velocities (with ``velocity``), the bones
that end at its joints (with ``bones``; each bone of data.BONES ends at one part's joint), the
directions of motion of those of its joints that the skeleton's ``path`` names (with
``direction``) and the angles at its joints (with ``angles``). Every layer is read with the clip
lengths like every rnnkit layer, so a clip's answers are the same alone or padded in a batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...models.sequence import CELLS, SequenceModelConfig
from ...nn import RNN
from .data import BONES, NUM_JOINTS
from .skeleton import ANGLES, PATHS, SkeletonConfig

PARTS = {  # joint indices in data.JOINTS
    "trunk": (19, 2, 3, 6),  # head, neck, spine, hip centre
    "right arm": (0, 7, 9, 11),  # shoulder, elbow, wrist, hand
    "left arm": (1, 8, 10, 12),
    "right leg": (4, 13, 15, 17),  # hip, knee, ankle, foot
    "left leg": (5, 14, 16, 18),
}
LEVELS = (2, 4)  # the hierarchy's recurrent levels: one fusion, or Du et al.'s three
LIMBS = ("right arm", "left arm", "right leg", "left leg")  # level 2: each with the trunk; in this
HALVES = (("right arm", "left arm"), ("right leg", "left leg"))  # order, level 3's upper and lower body


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
    dropout, num_classes); ``part_hidden`` is Hp, ``levels`` 2 or 4 (the module doc)."""

    def __init__(
        self, config: SequenceModelConfig, columns: list[list[int]], part_hidden: int, levels: int = 2
    ) -> None:
        super().__init__()
        self.config, self.levels = config, levels
        width = sorted(c for part in columns for c in part)
        if width != list(range(config.input_size)):
            raise ValueError(
                f"the parts' columns must cover the {config.input_size} features once each, got {len(width)}"
            )
        if levels not in LEVELS:
            raise ValueError(
                f"levels must be one of {LEVELS} (2: one fusion, 4: Du et al.'s), got {levels!r}"
            )
        if levels == 4 and len(columns) != len(PARTS):
            raise ValueError(f"levels=4 fuses the {len(PARTS)} parts of PARTS, got {len(columns)} parts")
        cell, Hp = CELLS[config.cell], part_hidden
        for p, part in enumerate(columns):
            self.register_buffer(f"columns_{p}", torch.tensor(part), persistent=False)
        if levels == 2:
            self.parts = nn.ModuleList(cell(len(part), Hp, bidirectional=True) for part in columns)
            self.body = cell(2 * Hp * len(columns), config.hidden_size, bidirectional=True)
        else:
            self.parts = nn.ModuleList(RNN(len(part), Hp, bidirectional=True) for part in columns)
            self.limbs = nn.ModuleList(RNN(4 * Hp, Hp, bidirectional=True) for _ in LIMBS)
            self.halves = nn.ModuleList(RNN(4 * Hp, Hp, bidirectional=True) for _ in HALVES)
            self.body = cell(4 * Hp, config.hidden_size, bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(2 * config.hidden_size, config.num_classes)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.config.input_size:
            raise ValueError(
                f"PartModel expects x of shape (B, T, {self.config.input_size}), got {tuple(x.shape)}"
            )
        if self.levels == 2:
            h = torch.cat(self.read_parts(x, lengths), dim=-1)  # 5 x (B, T, 2 Hp) -> (B, T, 10 Hp)
        else:
            h = torch.cat(self.upper_lower(x, lengths), dim=-1)  # 2 x (B, T, 2 Hp) -> (B, T, 4 Hp)
        g, _ = self.body(self.dropout(h), lengths)  # (B, T, 2H)
        return self.output(self.dropout(g))  # (B, T, C)

    def read_parts(self, x: Tensor, lengths: Tensor | None) -> list[Tensor]:
        """Level 1: each part's states, (B, T, 2 Hp), in the order of the columns (of PARTS)."""
        return [rnn(x[..., getattr(self, f"columns_{p}")], lengths)[0] for p, rnn in enumerate(self.parts)]

    def upper_lower(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        """Levels 1-3 of ``levels=4``: the upper and the lower body's states, (B, T, 2 Hp) each."""
        a = dict(zip(PARTS, self.read_parts(x, lengths)))  # part -> (B, T, 2 Hp)
        b = {  # each limb with the trunk: (B, T, 4 Hp) -> (B, T, 2 Hp)
            limb: rnn(torch.cat([a[limb], a["trunk"]], dim=-1), lengths)[0]
            for limb, rnn in zip(LIMBS, self.limbs)
        }
        upper, lower = (
            rnn(torch.cat([b[first], b[second]], dim=-1), lengths)[0]  # (B, T, 4 Hp) -> (B, T, 2 Hp)
            for (first, second), rnn in zip(HALVES, self.halves)
        )
        return upper, lower


__all__ = ["HALVES", "LEVELS", "LIMBS", "PARTS", "PartModel", "part_columns"]
