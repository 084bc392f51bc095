"""Voice perturbations of training recordings: speed, vocal-tract length, noise (all seeded).

Six speakers are too few voices to generalise to a seventh; the classic lever is to make more
voices out of the ones there are. For a waveform x (N,) and a generator ``rng``:

    speed:  x'(t) = x(alpha t), alpha ~ U[1 - speed, 1 + speed]: resampled by alpha
            (``scipy.signal.resample_poly``, up/down in hundredths), so the recording lasts N/alpha
            samples and every frequency (pitch and formants) is scaled by alpha (Ko et al. 2015)
    VTLP:   the spectrum's frequencies f -> w(f) under the mel filters, beta ~ U[1 - warp, 1 + warp]:
            w(f) = beta f for f <= f_b = 0.8 f_top min(beta, 1) / beta, and above f_b the straight
            line from (f_b, beta f_b) to (f_top, f_top), so the band edge stays put (Jaitly and
            Hinton 2013): formants move, the tempo does not
    noise:  white noise at an SNR ~ U[snr_db, snr_db + 20] dB of the recording's power

:func:`perturb` draws in that order, from one generator, so a seed gives the same voice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

from ..errors import ConfigError


@dataclass
class AugmentConfig:
    """Perturbed copies of each training recording (``variants`` = 0: off)."""

    variants: int = 0  # perturbed copies made of each training recording (beside the original)
    speed: float = 0.0  # alpha ~ U[1 - speed, 1 + speed]; 0: none
    warp: float = 0.0  # VTLP beta ~ U[1 - warp, 1 + warp]; 0: none
    snr_db: float = 0.0  # noise at U[snr_db, snr_db + 20] dB SNR; 0: none

    def __post_init__(self) -> None:
        if self.variants < 0:
            raise ConfigError(f"variants must be >= 0 (0 for none), got {self.variants}")
        if not (0 <= self.speed < 0.5 and 0 <= self.warp < 0.5):
            raise ConfigError(f"speed and warp must be in [0, 0.5), got {self.speed} and {self.warp}")
        if self.snr_db < 0:
            raise ConfigError(f"snr_db must be >= 0 (0 for no noise), got {self.snr_db}")

    @property
    def active(self) -> bool:
        return self.variants > 0 and (self.speed > 0 or self.warp > 0 or self.snr_db > 0)


def change_speed(x: np.ndarray, alpha: float) -> np.ndarray:
    """``x`` played ``alpha`` times as fast: N/alpha samples, every frequency times alpha."""
    down = round(100 * alpha)
    if down == 100:
        return np.asarray(x, dtype=np.float32)
    return resample_poly(np.asarray(x, dtype=np.float64), 100, down).astype(np.float32)


def warp_frequencies(f: np.ndarray, beta: float, top: float) -> np.ndarray:
    """VTLP's piecewise-linear map of frequencies ``f`` (Hz) up to ``top``, fixing 0 and ``top``."""
    f = np.asarray(f, dtype=np.float64)
    knee = 0.8 * top * min(beta, 1.0) / beta
    above = beta * knee + (f - knee) * (top - beta * knee) / (top - knee)
    return np.where(f <= knee, beta * f, above)


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` plus white noise ``snr_db`` dB below its mean power."""
    power = float(np.mean(np.asarray(x, dtype=np.float64) ** 2))
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), size=len(x))
    return (x + noise).astype(np.float32)


def perturb(x: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A perturbed copy of ``x`` and the VTLP factor beta its features are to be warped by (1.0:
    none); see the module for the draws."""
    if config.speed:
        x = change_speed(x, float(rng.uniform(1 - config.speed, 1 + config.speed)))
    beta = float(rng.uniform(1 - config.warp, 1 + config.warp)) if config.warp else 1.0
    if config.snr_db:
        x = add_noise(x, float(rng.uniform(config.snr_db, config.snr_db + 20)), rng)
    return np.asarray(x, dtype=np.float32), beta


__all__ = ["AugmentConfig", "add_noise", "change_speed", "perturb", "warp_frequencies"]
