"""The speech page's model (issue 29): a speech run answers an uploaded file or a recording from
the browser's microphone with its transcript, each emitted symbol's times and the alignment picture.

The page sends the audio file's bytes in base64 (``audio``) with its name (``text``): an uploaded
file as it is (WAV, FLAC, Ogg Vorbis/Opus; the server decodes it with soundfile), a recording as
16-bit PCM WAV at the model's rate, encoded in the page (no codec on the server). A body over the
server's limit is a 413 (256 KB by default: about 6 s of 16 kHz WAV, 12 s at 8 kHz, longer for an
Opus file); audio that is not base64, cannot be decoded, is silent or empty, or is longer than
:data:`MAX_SECONDS`, is a 422 that says which.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import InputError
from .adapter import Adapter

MAX_SECONDS = 30.0


class SpeechRequest(BaseModel):
    text: str = Field(description="the file's name (a recording: recording.wav)", min_length=1)
    audio: str = Field(
        description="the audio file's bytes, base64 (WAV, FLAC, Ogg Vorbis/Opus)", min_length=1
    )
    beam: int | None = Field(
        None, ge=1, le=32, description="prefix beam width (1: greedy); default: the run's"
    )
    align: bool = Field(True, description="also draw the alignment picture (a PNG, base64)")


class Symbol(BaseModel):
    symbol: str
    start: float = Field(description="seconds: the first greedy frame that emitted it")
    end: float


class SpeechAnswer(BaseModel):
    transcript: str
    seconds: float = Field(description="the audio's duration")
    symbols: list[Symbol] = Field(description="each emitted symbol of the greedy path and its frames' times")
    probabilities: list[float] | None = Field(None, description="digits runs: P(0) .. P(9)")
    alignment_png: str | None = Field(
        None, description="base64 PNG: the spectrogram, the emitting frames under it"
    )


def decode_audio(request: SpeechRequest) -> bytes:
    try:
        return base64.b64decode(request.audio, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{request.text}: audio must be the file's bytes in base64") from None


class SpeechModel(Adapter, task="speech", page="speech.html", request=SpeechRequest, answer=SpeechAnswer):
    def load(self, run_dir: Path) -> None:
        from ..tasks.speech import predict

        self.predict = predict
        self.predictor = predict.Predictor.from_run(run_dir)

    def describe(self) -> dict[str, Any]:
        config = self.predictor.config
        return {
            "speech_task": config.task,
            "sample_rate": config.features.sample_rate,
            "max_seconds": MAX_SECONDS,
            "beam": config.beam,
        }

    def check(self, request: SpeechRequest) -> None:
        # an InputError (a 422) when the run, or any member of an ensemble, cannot read it
        self.predictor.read(decode_audio(request), request.text)

    def answer(self, requests: list[SpeechRequest]) -> list[SpeechAnswer]:
        config = self.predictor.config
        out: list[SpeechAnswer] = []
        for request in requests:  # each its own beam; the model is cheap next to decoding
            found = self.predictor([(request.text, decode_audio(request))], request.beam, keep=request.align)[
                0
            ]
            picture = None
            if request.align and config.task != "digits":
                buffer = io.BytesIO()
                self.predict.plot_alignment(found, config, buffer)
                picture = base64.b64encode(buffer.getvalue()).decode("ascii")
            out.append(
                SpeechAnswer(
                    transcript=found["transcript"],
                    seconds=found["seconds"],
                    symbols=[Symbol(**s) for s in found.get("symbols", [])],
                    probabilities=found.get("probabilities"),
                    alignment_png=picture,
                )
            )
        return out


__all__ = ["MAX_SECONDS", "SpeechAnswer", "SpeechModel", "SpeechRequest", "decode_audio"]
