"""The training sequences of the speech tasks, remade each epoch: perturbed voices, then masks.

With voice variants (:func:`voice_variants`, made once per run from
:class:`~rnnkit.audio.AugmentConfig`), each recording's features for an epoch are one of its
1 + ``variants`` versions (the original or a perturbed copy), drawn with a generator seeded by
(seed, epoch, item, 1); then each batch's features get SpecAugment masks (seeded by (seed, epoch,
item)). A resumed epoch therefore draws what the first try did. Validation and test sequences are
plain :class:`~rnnkit.data.sequences.FeatureSequences`: neither perturbation nor masks reach them.
"""

from __future__ import annotations

import numpy as np
import torch

from ...audio import AugmentConfig, FeatureConfig, MaskConfig, features, perturb, spec_augment
from ...data.sequences import FeatureSequences


def voice_variants(
    waves: list[np.ndarray], positions: np.ndarray, feats: FeatureConfig, augment: AugmentConfig, seed: int
) -> list[list[np.ndarray]]:
    """For each wave, ``augment.variants`` perturbed copies as features; copy k of the recording
    at corpus position p is drawn from a generator seeded by (seed, p, k), whatever the split."""
    out = []
    for wave, p in zip(waves, np.asarray(positions).tolist()):
        copies = []
        for k in range(augment.variants):
            perturbed, beta = perturb(wave, augment, np.random.default_rng([seed, p, k]))
            copies.append(features(perturbed, feats, warp=beta))
        out.append(copies)
    return out


class MaskedSequences(FeatureSequences):
    """Training sequences whose voice variant is drawn per epoch (setting ``epoch``) and which
    :func:`~rnnkit.audio.spec_augment` masks as they are batched (see the module)."""

    def configure(
        self,
        masks: MaskConfig,
        n_mels: int,
        seed: int,
        variants: list[list[np.ndarray]] | None = None,
    ) -> MaskedSequences:
        self.masks, self.n_mels, self.seed = masks, n_mels, seed
        self.originals, self.variants = list(self.features), variants or []
        self.epoch = 0
        return self

    @property
    def epoch(self) -> int:
        return self._epoch

    @epoch.setter
    def epoch(self, epoch: int) -> None:
        """Start ``epoch``: each item's features become the version drawn for it."""
        self._epoch = epoch
        if not self.variants:
            return
        chosen = []
        for i, (original, copies) in enumerate(zip(self.originals, self.variants)):
            k = int(np.random.default_rng([self.seed, epoch, i, 1]).integers(len(copies) + 1))
            chosen.append(original if k == 0 else copies[k - 1])
        self.features = chosen
        self.lengths = np.array([len(x) for x in chosen], dtype=np.int64)

    def collate(self, indices: np.ndarray):
        batch = super().collate(indices)
        if self.masks.active:
            for row, i in enumerate(np.asarray(indices).tolist()):
                rng = np.random.default_rng([self.seed, self.epoch, i])
                n = int(self.lengths[i])
                masked = spec_augment(self.features[i], self.n_mels, self.masks, rng)
                batch.features[row, :n] = torch.from_numpy(masked)
        return batch


def training_sequences(
    dataset: FeatureSequences,
    masks: MaskConfig,
    n_mels: int,
    seed: int,
    variants: list[list[np.ndarray]] | None = None,
) -> MaskedSequences:
    """``dataset`` as the training sequences of this module."""
    masked = object.__new__(MaskedSequences)
    masked.__dict__.update(dataset.__dict__)
    return masked.configure(masks, n_mels, seed, variants)


__all__ = ["MaskedSequences", "training_sequences", "voice_variants"]
