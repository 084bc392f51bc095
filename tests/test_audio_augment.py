"""Voice perturbations (rnnkit.audio.augment): speed scales every frequency and the duration, VTLP
moves a tone's mel band without touching the tempo, noise sits at its SNR, and a seed gives the
same voice."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.audio import AugmentConfig, FeatureConfig, log_mel, perturb
from rnnkit.audio.augment import add_noise, change_speed, warp_frequencies
from rnnkit.audio.features import hz_to_mel, mel_filterbank
from rnnkit.errors import ConfigError


def sine(freq: float, rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("alpha", [0.9, 1.15])
def test_speed_scales_frequency_by_alpha_and_duration_by_its_inverse(alpha):
    y = change_speed(sine(500.0, 8000, 1.0), alpha)
    assert abs(len(y) - 8000 / alpha) <= 1
    # the DFT's bins are 1/duration = alpha Hz apart
    assert abs(peak_frequency(y, 8000) - 500.0 * alpha) <= alpha
    assert change_speed(sine(500.0, 8000, 1.0), 1.0).shape == (8000,)


def test_vtlp_warp_is_beta_f_below_its_knee_and_fixes_both_ends():
    top = 4000.0
    f = np.linspace(0, top, 401)
    for beta in (0.9, 1.0, 1.1):
        w = warp_frequencies(f, beta, top)
        knee = 0.8 * top * min(beta, 1) / beta
        np.testing.assert_allclose(w[f <= knee], beta * f[f <= knee])
        assert w[0] == 0 and w[-1] == pytest.approx(top)
        assert (np.diff(w) > 0).all()  # monotone: no band is read twice


def test_vtlp_moves_a_tones_mel_band_by_beta_and_keeps_the_frames():
    config = FeatureConfig(sample_rate=8000, n_mels=40, fmax=4000.0)
    x = sine(1000.0, 8000, 0.5)
    bank = mel_filterbank(config.window_samples, 8000, 40, config.fmin, 4000.0)
    centers = np.array([(row * np.arange(len(row))).sum() / row.sum() for row in bank]) * 8000 / 200
    for beta in (0.9, 1.1):
        plain, warped = log_mel(x, config).mean(0), log_mel(x, config, warp=beta).mean(0)
        assert log_mel(x, config, warp=beta).shape == log_mel(x, config).shape
        # the warped spectrum reads bin f at beta f: the tone now lights the band near 1000 beta Hz
        expected = np.abs(hz_to_mel(centers) - hz_to_mel(1000.0 * beta)).argmin()
        assert abs(int(warped.argmax()) - int(expected)) <= 1
        assert warped.argmax() != plain.argmax()


def test_noise_is_at_its_snr_and_perturb_is_seeded():
    x = sine(300.0, 8000, 1.0)
    noisy = add_noise(x, 20.0, np.random.default_rng(0))
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((noisy - x).astype(np.float64) ** 2))
    assert snr == pytest.approx(20.0, abs=0.3)
    config = AugmentConfig(variants=2, speed=0.15, warp=0.1, snr_db=20.0)
    a, beta_a = perturb(x, config, np.random.default_rng([3, 1]))
    b, beta_b = perturb(x, config, np.random.default_rng([3, 1]))
    c, beta_c = perturb(x, config, np.random.default_rng([3, 2]))
    np.testing.assert_array_equal(a, b)
    assert beta_a == beta_b and 0.9 <= beta_a <= 1.1
    assert beta_c != beta_a and (len(c) != len(a) or not np.array_equal(a, c))
    assert 8000 / 1.15 - 1 <= len(a) <= 8000 / 0.85 + 1
    assert not AugmentConfig().active and config.active
    with pytest.raises(ConfigError, match="speed and warp must be in"):
        AugmentConfig(variants=1, speed=0.6)
