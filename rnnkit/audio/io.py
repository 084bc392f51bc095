"""Reading audio for the speech models: any file ``soundfile`` reads, at the model's rate, mono.

``read_audio(source, rate)`` returns a float32 waveform ``(N,)`` in [-1, 1] at ``rate`` Hz:

- WAV, FLAC, Ogg Vorbis and Ogg Opus (libsndfile >= 1.0.29), any sample rate, any channel count;
- several channels -> their mean (mono);
- another rate -> ``scipy.signal.resample_poly(x, up, down)`` with ``up / down = rate / source
  rate`` in lowest terms (a polyphase FIR low-pass, Kaiser window), which keeps every frequency
  below both Nyquist limits where it was (tests/test_audio.py);
- what cannot be used raises :class:`~rnnkit.errors.InputError`, one line that names the file:
  not audio or damaged (libsndfile cannot read it), empty (no samples), silent (peak below
  :data:`SILENCE`, -80 dBFS), or longer than ``max_seconds`` (30 s by default; checked from the
  header before decoding).

``source`` is a path or the bytes of a file (an upload); ``name`` names it in errors.
"""

from __future__ import annotations

import io
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from ..errors import InputError

SILENCE = 1e-4  # peak amplitude below which a recording is silence (-80 dBFS)
MAX_SECONDS = 30.0


def read_audio(
    source: str | Path | bytes,
    rate: int,
    max_seconds: float = MAX_SECONDS,
    name: str | None = None,
) -> np.ndarray:
    """The waveform of ``source`` at ``rate`` Hz, mono float32 ``(N,)``; see the module's docstring."""
    name = name if name is not None else str(source if not isinstance(source, bytes) else "<bytes>")
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise InputError(f"{name}: no such file")
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        info = sf.info(handle)
        if info.frames > 0 and info.duration > max_seconds:
            raise InputError(
                f"{name}: {info.duration:.1f} s of audio is longer than the limit of {max_seconds:g} s; "
                "cut it into shorter files"
            )
        if isinstance(handle, io.BytesIO):
            handle.seek(0)
        x, source_rate = sf.read(handle, dtype="float32", always_2d=True)  # (N, channels)
    except (sf.LibsndfileError, RuntimeError, TypeError, EOFError) as error:
        reason = getattr(error, "error_string", "") or str(error).splitlines()[0] or type(error).__name__
        raise InputError(
            f"{name}: not a readable audio file ({reason}); give WAV, FLAC or Ogg (Vorbis/Opus)"
        ) from None
    if x.shape[0] == 0:
        raise InputError(f"{name}: the file holds no audio samples (empty)")
    if x.shape[0] / source_rate > max_seconds:  # a header that understated the length
        raise InputError(
            f"{name}: {x.shape[0] / source_rate:.1f} s of audio is longer than the limit of "
            f"{max_seconds:g} s; cut it into shorter files"
        )
    x = x.mean(axis=1)  # (N,): mono
    if not np.isfinite(x).all():
        raise InputError(f"{name}: the audio holds NaN or infinite samples (a damaged file)")
    if np.abs(x).max() < SILENCE:
        raise InputError(f"{name}: the recording is silent (peak below -80 dBFS)")
    return resample(x, source_rate, rate)


def resample(x: np.ndarray, source_rate: int, rate: int) -> np.ndarray:
    """``x`` (N,) at ``source_rate`` -> at ``rate``, by polyphase filtering (float32)."""
    if source_rate == rate:
        return np.ascontiguousarray(x, dtype=np.float32)
    common = gcd(int(source_rate), int(rate))
    up, down = int(rate) // common, int(source_rate) // common
    return resample_poly(x, up, down).astype(np.float32)


__all__ = ["MAX_SECONDS", "SILENCE", "read_audio", "resample"]
