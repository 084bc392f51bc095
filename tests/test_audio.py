"""Audio in: reading every format at any rate, the log-mel features against their formulas in
NumPy, and a one-line error for each kind of unusable file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from rnnkit.audio import (
    FeatureConfig,
    MaskConfig,
    features,
    log_mel,
    read_audio,
    resample,
    spec_augment,
    stack_frames,
)
from rnnkit.errors import ConfigError, InputError


def sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("source_rate, rate", [(44100, 16000), (8000, 16000), (22050, 8000)])
def test_resampling_keeps_a_sines_frequency(source_rate, rate):
    y = resample(sine(440.0, source_rate, 1.0), source_rate, rate)
    assert abs(len(y) - rate) <= 1
    assert abs(peak_frequency(y, rate) - 440.0) <= 1.0  # the DFT's bins are 1 Hz apart for 1 s
    assert np.abs(y[rate // 10 : -rate // 10]).max() == pytest.approx(0.5, abs=0.01)


def brute_force_log_mel(x: np.ndarray, rate: int, W: int, S: int, n_mels: int, fmin: float, fmax: float):
    """The features' formulas written out: frames, periodic Hann, a DFT as an explicit sum, HTK
    triangles evaluated one filter and one bin at a time."""
    T = 1 + (len(x) - W) // S
    n = np.arange(W)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * n / W)
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    points = [700 * (10 ** (m / 2595) - 1) for m in np.linspace(mel(fmin), mel(fmax), n_mels + 2)]
    out = np.zeros((T, n_mels))
    for t in range(T):
        frame = x[t * S : t * S + W] * w
        for j in range(n_mels):
            total = 0.0
            for k in range(W // 2 + 1):
                f = k * rate / W
                lo, mid, hi = points[j], points[j + 1], points[j + 2]
                weight = (
                    (f - lo) / (mid - lo)
                    if lo <= f <= mid
                    else (hi - f) / (hi - mid)
                    if mid < f <= hi
                    else 0.0
                )
                if weight > 0:
                    X = np.sum(frame * np.exp(-2j * np.pi * k * n / W))
                    total += weight * abs(X) ** 2
            out[t, j] = np.log(total + 1e-10)
    return out


def test_log_mel_equals_its_formulas_in_numpy():
    rng = np.random.default_rng(0)
    rate = 8000
    x = rng.normal(size=400) * 0.1 + sine(300, rate, 0.05)
    config = FeatureConfig(sample_rate=rate, window=0.008, hop=0.004, n_mels=6, fmin=50.0, fmax=3800.0)
    expected = brute_force_log_mel(x, rate, 64, 32, 6, 50.0, 3800.0)
    got = log_mel(x, config)
    assert got.shape == expected.shape == (1 + (400 - 64) // 32, 6)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_features_are_normalised_per_band_and_stacked():
    rate = 16000
    x = sine(500, rate, 0.5) + 0.01 * np.random.default_rng(1).normal(size=8000).astype(np.float32)
    config = FeatureConfig(sample_rate=rate, n_mels=20, stack=3)
    plain = features(x, FeatureConfig(sample_rate=rate, n_mels=20))  # (T, 20)
    np.testing.assert_allclose(plain.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(plain.std(axis=0), 1, atol=5e-3)  # std / (std + 1e-5)
    stacked = features(x, config)
    T = len(plain)
    assert stacked.shape == (-(-T // 3), 60)
    np.testing.assert_array_equal(stacked[1, 20:40], plain[4])
    np.testing.assert_array_equal(stacked[-1, -20:], plain[-1])  # padded by repeating the last frame
    np.testing.assert_array_equal(stack_frames(plain, 1), plain)


def test_spec_augment_masks_bands_in_every_stacked_frame_and_is_seeded():
    x = np.random.default_rng(2).normal(size=(50, 3 * 10)).astype(np.float32) + 5
    masks = MaskConfig(freq_masks=1, freq_width=4, time_masks=1, time_width=5)
    a = spec_augment(x, 10, masks, np.random.default_rng(7))
    b = spec_augment(x, 10, masks, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    zero_bands = [j for j in range(10) if (a.reshape(50, 3, 10)[:, :, j] == 0).all()]
    zero_steps = [t for t in range(50) if (a[t] == 0).all()]
    assert len(zero_bands) <= 4 and len(zero_steps) <= 5
    kept = np.ones_like(a, dtype=bool)
    kept.reshape(50, 3, 10)[:, :, zero_bands] = False
    kept[zero_steps] = False
    np.testing.assert_array_equal(a[kept], x[kept])  # nothing else changed
    many = [spec_augment(x, 10, masks, np.random.default_rng(s)) for s in range(20)]
    assert any((m == 0).any() for m in many)


@pytest.mark.parametrize(
    "fmt, subtype, ext",
    [("FLAC", "PCM_16", "flac"), ("OGG", "OPUS", "opus"), ("OGG", "VORBIS", "ogg"), ("WAV", "FLOAT", "wav")],
)
def test_round_trip_of_each_format_keeps_the_signal(tmp_path, fmt, subtype, ext):
    rate = 48000 if subtype == "OPUS" else 16000
    x = sine(440, rate, 0.5)
    path = tmp_path / f"a.{ext}"
    sf.write(path, np.stack([x, x], axis=1), rate, format=fmt, subtype=subtype)  # stereo
    y = read_audio(path, 16000)
    assert abs(len(y) - 8000) <= 400  # Opus adds a little padding
    assert abs(peak_frequency(y, 16000) - 440) <= 2.0
    if subtype in ("PCM_16", "FLOAT"):
        np.testing.assert_allclose(y, x, atol=1e-4)  # lossless
    assert read_audio(path.read_bytes(), 16000, name="upload").shape == y.shape


def test_stereo_becomes_the_mean_of_its_channels(tmp_path):
    left, right = sine(300, 8000, 0.2), sine(700, 8000, 0.2, 0.25)
    sf.write(tmp_path / "s.wav", np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    np.testing.assert_allclose(read_audio(tmp_path / "s.wav", 8000), (left + right) / 2, atol=1e-7)


def bad_files(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros((0,), np.float32), 8000)
    sf.write(tmp_path / "silent.wav", np.zeros(8000, np.float32), 8000)
    sf.write(tmp_path / "long.flac", sine(100, 1000, 31.0), 1000)
    good = tmp_path / "good.wav"
    sf.write(good, sine(440, 8000, 0.3), 8000)
    (tmp_path / "corrupt.wav").write_bytes(good.read_bytes()[:20] + b"\x00garbage" * 4)
    (tmp_path / "notes.wav").write_text("this is not audio at all\n" * 10)
    return {
        "empty.wav": "empty",
        "silent.wav": "silent",
        "long.flac": "longer than the limit of 30 s",
        "corrupt.wav": "not a readable audio file",
        "notes.wav": "not a readable audio file",
        "missing.wav": "no such file",
    }


def test_each_unusable_file_is_a_one_line_error_naming_it(tmp_path):
    for name, reason in bad_files(tmp_path).items():
        with pytest.raises(InputError) as caught:
            read_audio(tmp_path / name, 8000)
        message = str(caught.value)
        assert "\n" not in message and name in message and reason in message, message
    assert len(read_audio(tmp_path / "good.wav", 8000)) == 2400


def test_cepstra_are_the_orthonormal_dct_of_the_log_mels_then_normalised():
    config = FeatureConfig(sample_rate=8000, n_mels=24, fmax=4000.0, cepstra=10)
    x = np.random.default_rng(4).normal(size=3000) * np.hanning(3000)
    logs = log_mel(x, config)  # (T, 24)
    j, k = np.arange(24), np.arange(10)[:, None]
    basis = np.sqrt(2 / 24) * np.cos(np.pi * k * (2 * j + 1) / 48)  # (10, 24) DCT-II rows
    basis[0] /= np.sqrt(2)
    cepstra = logs @ basis.T  # (T, 10)
    expected = (cepstra - cepstra.mean(0)) / (cepstra.std(0) + 1e-5)
    np.testing.assert_allclose(features(x, config), expected, atol=1e-5)
    assert config.size == 10 and config.bands == 10
    with pytest.raises(ConfigError, match="cepstra must be in"):
        FeatureConfig(n_mels=24, cepstra=30)
