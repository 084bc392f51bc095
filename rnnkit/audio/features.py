"""Log-mel features for the speech models, per-utterance normalisation, and SpecAugment masking.

For a waveform x (N,) at ``sample_rate`` Hz, with W = window samples, S = hop samples::

    frame t:   x_t[n] = x[t S + n] w[n],  n = 0..W-1,  w the periodic Hann window  (t = 0..T-1,
               T = 1 + floor((N - W) / S); a recording shorter than W is zero-padded to W)
    spectrum:  P_t[k] = |sum_n x_t[n] exp(-2 pi i k n / W)|^2,  k = 0..W/2        (torch.stft)
    mel:       m_t[j] = sum_k M[j, k] P_t[k],  j = 1..n_mels
    log:       l_t[j] = log(m_t[j] + 1e-10)
    cepstra:   (``cepstra`` = C > 0) l_t <- the first C coefficients of the orthonormal DCT-II of
               l_t over j: MFCCs, the spectral envelope without the pitch's harmonics
    normalise: z_t[j] = (l_t[j] - mean_t l[j]) / (std_t l[j] + 1e-5)   (per utterance and band)
    stack:     step u = [z_{uK} ; ... ; z_{uK+K-1}]  (K = ``stack`` frames a step, the last step
               padded by repeating the final frame): T -> ceil(T/K) steps of K*n_mels features

The filterbank M is HTK's (``librosa.filters.mel(htk=True, norm=None)``): the mel scale
mel(f) = 2595 log10(1 + f/700); n_mels + 2 points equally spaced in mel from ``fmin`` to ``fmax``,
back in Hz f_0 < ... < f_(n_mels+1); filter j a triangle over the bin frequencies
f(k) = k sample_rate / W rising from 0 at f_(j-1) to 1 at f_j and back to 0 at f_(j+1), not
area-normalised. tests/test_audio.py checks ``log_mel`` against these formulas in plain NumPy (an
explicit DFT sum).

:func:`spec_augment` (Park et al. 2019, without time warping): ``freq_masks`` bands of up to
``freq_width`` mel channels and ``time_masks`` spans of up to ``time_width`` steps set to 0 (the
utterance's mean after normalisation), drawn from a NumPy generator, so a seeded run masks the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.fft import dct

from ..config import check_at_least_one
from ..errors import ConfigError
from .augment import warp_frequencies


@dataclass
class FeatureConfig:
    sample_rate: int = 16000  # the model's rate: every file is resampled to it
    window: float = 0.025  # seconds a frame (W = window * sample_rate samples, the DFT's length)
    hop: float = 0.010  # seconds between frames
    n_mels: int = 40
    fmin: float = 20.0  # Hz, the lowest filter's left edge
    fmax: float = 0.0  # Hz, the highest filter's right edge; 0 for sample_rate / 2
    stack: int = 1  # K frames stacked into one step (the model's frame rate is hop * K)
    cepstra: int = 0  # C > 0: the first C DCT coefficients of the log-mels (MFCCs) instead of them
    max_seconds: float = 30.0  # longer recordings are refused

    def __post_init__(self) -> None:
        check_at_least_one(self, "sample_rate", "n_mels", "stack")
        if not 0 < self.hop <= self.window:
            raise ConfigError(f"hop must be in (0, window={self.window}] seconds, got {self.hop}")
        if not 0 <= self.cepstra <= self.n_mels:
            raise ConfigError(
                f"cepstra must be in [0, n_mels={self.n_mels}] (0 for log-mels), got {self.cepstra}"
            )
        top = self.fmax or self.sample_rate / 2
        if not 0 <= self.fmin < top <= self.sample_rate / 2:
            raise ConfigError(
                f"need 0 <= fmin < fmax <= sample_rate/2 = {self.sample_rate / 2:g} Hz, "
                f"got fmin={self.fmin}, fmax={self.fmax}"
            )

    @property
    def window_samples(self) -> int:
        return round(self.window * self.sample_rate)

    @property
    def hop_samples(self) -> int:
        return round(self.hop * self.sample_rate)

    @property
    def bands(self) -> int:
        """The features of one frame: the log-mels, or their first ``cepstra`` DCT coefficients."""
        return self.cepstra or self.n_mels

    @property
    def size(self) -> int:
        """E: the features of one model step."""
        return self.bands * self.stack

    @property
    def step_seconds(self) -> float:
        return self.hop * self.stack


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    n_fft: int, sample_rate: int, n_mels: int, fmin: float, fmax: float, warp: float = 1.0
) -> np.ndarray:
    """HTK triangles ``M`` (n_mels, n_fft // 2 + 1) over the DFT bins' frequencies; ``warp``: the
    bins read at VTLP's warped frequencies (:func:`rnnkit.audio.augment.warp_frequencies`)."""
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))  # (n_mels + 2,)
    bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft  # (F,) Hz
    if warp != 1.0:
        bins = warp_frequencies(bins, warp, sample_rate / 2)
    left, center, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (n_mels, 1) each
    rising = (bins[None] - left) / (center - left)  # (n_mels, F)
    falling = (right - bins[None]) / (right - center)
    return np.maximum(0.0, np.minimum(rising, falling))


_FILTERS: dict[tuple, torch.Tensor] = {}


def _filters(config: FeatureConfig, warp: float = 1.0) -> torch.Tensor:
    key = (config.window_samples, config.sample_rate, config.n_mels, config.fmin, config.fmax)
    fmax = config.fmax or config.sample_rate / 2
    if warp != 1.0:  # a drawn factor: not worth keeping
        bank = mel_filterbank(
            config.window_samples, config.sample_rate, config.n_mels, config.fmin, fmax, warp
        )
        return torch.from_numpy(bank)
    if key not in _FILTERS:
        bank = mel_filterbank(config.window_samples, config.sample_rate, config.n_mels, config.fmin, fmax)
        _FILTERS[key] = torch.from_numpy(bank)
    return _FILTERS[key]


def log_mel(x: np.ndarray, config: FeatureConfig, warp: float = 1.0) -> np.ndarray:
    """Log-mel energies ``(T, n_mels)`` (float64) of a waveform ``x`` (N,), unnormalised; ``warp``:
    VTLP's factor (1.0: none)."""
    W, S = config.window_samples, config.hop_samples
    signal = torch.as_tensor(np.asarray(x, dtype=np.float64))
    if len(signal) < W:
        signal = torch.nn.functional.pad(signal, (0, W - len(signal)))
    window = torch.hann_window(W, periodic=True, dtype=torch.float64)
    spectrum = torch.stft(signal, W, S, W, window, center=False, return_complex=True)  # (F, T)
    power = spectrum.real**2 + spectrum.imag**2  # (F, T)
    mel = _filters(config, warp) @ power  # (n_mels, T)
    return torch.log(mel + 1e-10).T.numpy()  # (T, n_mels)


def normalize(features: np.ndarray) -> np.ndarray:
    """Each band to mean 0 and standard deviation 1 over the utterance's frames (T, F)."""
    mean = features.mean(axis=0, keepdims=True)  # (1, F)
    std = features.std(axis=0, keepdims=True)
    return (features - mean) / (std + 1e-5)


def stack_frames(features: np.ndarray, k: int) -> np.ndarray:
    """(T, F) -> (ceil(T/k), k*F): k consecutive frames a step, the last frame repeated to fill."""
    if k == 1:
        return features
    T, F = features.shape
    steps = -(-T // k)
    padded = np.concatenate([features, np.repeat(features[-1:], steps * k - T, axis=0)])  # (steps*k, F)
    return padded.reshape(steps, k * F)  # (T', k*F)


def features(x: np.ndarray, config: FeatureConfig, warp: float = 1.0) -> np.ndarray:
    """The model's input for a waveform at ``config.sample_rate``: ``(T', n_mels * stack)`` float32;
    ``warp``: VTLP's factor (1.0: none)."""
    frames = log_mel(x, config, warp)  # (T, n_mels)
    if config.cepstra:
        frames = dct(frames, type=2, norm="ortho", axis=1)[:, : config.cepstra]  # (T, C)
    return stack_frames(normalize(frames), config.stack).astype(np.float32)


@dataclass
class MaskConfig:
    """SpecAugment masks applied to training features (0 masks: off)."""

    freq_masks: int = 0
    freq_width: int = 8  # mel bands, at most, per mask
    time_masks: int = 0
    time_width: int = 10  # model steps, at most, per mask (and at most a fifth of the utterance)

    def __post_init__(self) -> None:
        if min(self.freq_masks, self.time_masks) < 0 or min(self.freq_width, self.time_width) < 1:
            raise ConfigError(
                f"masks must be >= 0 and widths >= 1, got {self.freq_masks}x{self.freq_width} "
                f"frequency and {self.time_masks}x{self.time_width} time"
            )

    @property
    def active(self) -> bool:
        return self.freq_masks > 0 or self.time_masks > 0


def spec_augment(
    features: np.ndarray, n_mels: int, masks: MaskConfig, rng: np.random.Generator
) -> np.ndarray:
    """A masked copy of ``features`` (T, K*n_mels): a frequency mask zeroes the same bands in each
    of the K stacked frames; a time mask zeroes whole steps."""
    out = features.copy()
    T = len(out)
    view = out.reshape(T, -1, n_mels)  # (T, K, n_mels)
    for _ in range(masks.freq_masks):
        width = int(rng.integers(0, masks.freq_width + 1))
        start = int(rng.integers(0, n_mels - width + 1))
        view[:, :, start : start + width] = 0.0
    for _ in range(masks.time_masks):
        width = int(rng.integers(0, min(masks.time_width, T // 5) + 1))
        start = int(rng.integers(0, T - width + 1))
        out[start : start + width] = 0.0
    return out
