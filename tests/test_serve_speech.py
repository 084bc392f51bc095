"""The speech page and its API: a digit-strings run trained on made-up tones answers an uploaded
file as the predictor does, refuses bad audio with a 422 and a large body with a 413, and in
headless Chromium the record button captures a fake microphone (a WAV file), encodes it to WAV in
the page, and shows the right transcript and the alignment picture."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
import soundfile as sf
from test_serve_browser import CHROMIUM, FLAGS, MISSING
from test_speech import fake_fsdd

from rnnkit.audio import resample
from rnnkit.serve import Limits, create_app, load_models, running
from rnnkit.tasks.speech import data as corpora
from rnnkit.tasks.speech import task as speech
from rnnkit.tasks.speech.predict import Predictor
from rnnkit.train import TrainConfig


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    data = fake_fsdd(root)
    config = speech.preset("strings")
    model = config.model.__class__(hidden_size=32, num_layers=1, head="ctc")
    config = speech.SpeechConfig(
        task="strings", features=config.features, train_strings=400, test_strings=20, model=model,
        train=TrainConfig(epochs=25, batch_size=8, lr=1e-2, monitor="val_loss"),
    )  # fmt: skip
    speech.train(config, data, root / "run")
    corpus = corpora.read_fsdd(data)
    strings = corpora.make_strings(corpus, corpus.dataset_split()[1], 8, seed=11)
    limits = Limits()
    app = create_app(load_models([f"digits={root / 'run'}"], limits), limits)
    with running(app) as url:
        yield url, root, strings


def post(url: str, body: dict | bytes) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/api/digits/predict", data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def flac(wave: np.ndarray, rate: int = 8000) -> str:
    buffer = io.BytesIO()
    sf.write(buffer, wave, rate, format="FLAC")
    return base64.b64encode(buffer.getvalue()).decode()


def test_an_uploaded_file_is_answered_as_the_predictor_answers_it(served):
    url, root, strings = served
    predictor = Predictor.from_run(root / "run")
    for wave in strings.waves[:3]:
        status, answer = post(url, {"text": "s.flac", "audio": flac(wave), "beam": 1})
        assert status == 200
        sf.write(root / "s.flac", wave, 8000)
        expected = predictor([("s.flac", root / "s.flac")], 1)[0]
        assert answer["transcript"] == expected["transcript"]
        assert [s["symbol"] for s in answer["symbols"]] == [s["symbol"] for s in expected["symbols"]]
        assert base64.b64decode(answer["alignment_png"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_audio_is_a_422_naming_why_and_a_large_body_a_413(served):
    url, _, _ = served
    status, answer = post(url, {"text": "x.wav", "audio": "not base64!"})
    assert status == 422 and "base64" in answer["detail"]
    status, answer = post(url, {"text": "x.wav", "audio": base64.b64encode(b"hello, not audio").decode()})
    assert status == 422 and "not a readable audio file" in answer["detail"]
    status, answer = post(url, {"text": "quiet.flac", "audio": flac(np.zeros(4000, np.float32))})
    assert status == 422 and "silent" in answer["detail"]
    long = np.sin(np.arange(31 * 1000) * 0.3).astype(np.float32)  # 31 s at 1 kHz: a small file
    status, answer = post(url, {"text": "long.flac", "audio": flac(long, 1000)})
    assert status == 422 and "longer than the limit of 30 s" in answer["detail"]
    status, _ = post(url, b'{"text": "big.wav", "audio": "' + b"A" * 300_000 + b'"}')
    assert status == 413


@pytest.mark.skipif(MISSING is not None, reason=f"browser tests skipped: {MISSING}")
def test_the_record_button_transcribes_a_fake_microphone(served, tmp_path):
    from playwright.sync_api import sync_playwright

    url, root, strings = served
    predictor = Predictor.from_run(root / "run")
    speech_file = tmp_path / "mic.wav"  # a string, then a second of its own noise floor, as a mic hears
    for wave, digits in zip(strings.waves, strings.digits):  # the first the small model gets right
        tail = np.random.default_rng(0).normal(0, np.std(wave[:200]), size=8000).astype(np.float32)
        sf.write(speech_file, np.concatenate([wave, tail]), 8000, subtype="PCM_16")
        expected = " ".join(map(str, digits))
        if predictor([("mic", speech_file)], 1)[0]["transcript"] == expected:
            break
    else:
        pytest.fail("the test's model got none of the strings right")
    native = resample(np.concatenate([wave, tail]), 8000, 48000)  # the fake device's own rate
    sf.write(speech_file, native, 48000, subtype="PCM_16")
    mic = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={speech_file}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS + mic)
        page = browser.new_page()
        sent = []
        page.on("request", lambda r: sent.append(r.post_data) if r.method == "POST" else None)
        page.goto(f"{url}/m/digits")
        page.wait_for_function("document.getElementById('about').textContent.length > 0")
        page.fill("#beam", "1")
        page.click("#record")
        page.wait_for_timeout(int(1000 * (len(wave) / 8000 + 0.6)))  # stop before the file ends
        page.click("#record")
        page.wait_for_selector("#result:not([hidden])", timeout=15_000)
        shown = page.inner_text("#transcript")
        image = page.get_attribute("#alignment", "src")
        page.screenshot(path=str(tmp_path / "speech.png"), full_page=True)
        browser.close()
    recorded = root / "recorded.wav"  # what the page encoded and sent
    recorded.write_bytes(base64.b64decode(json.loads(sent[-1])["audio"]))
    audio, rate = sf.read(recorded)
    assert rate == 8000 and len(wave) / rate < len(audio) / rate < len(wave) / rate + 1.0
    assert tones(audio, rate) == list(digits)  # the microphone's string, in order, in the page's WAV
    assert shown == predictor([("recorded.wav", recorded)], 1)[0]["transcript"]  # the model's answer
    assert image.startswith("data:image/png;base64,")
    # The made-up model is fragile (tones, seconds of training): it reads the microphone's file right
    # (checked when the string was chosen), but a few ms of timing that the page's capture shifts
    # can flip one of its digits, so the page's transcript is compared with the model's answer to
    # the recording it sent, and the recording with the string.


def tones(audio: np.ndarray, rate: int) -> list[int]:
    """The digits of a made-up string read off its spectrum: one per run of loud 100 ms frames,
    the tone of digit d near 250 + 300 d Hz."""
    found, previous = [], None
    for k in range(0, len(audio) - rate // 10, rate // 10):
        segment = audio[k : k + rate // 10]
        if np.std(segment) < 0.05:
            previous = None
            continue
        spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
        digit = round(float(np.fft.rfftfreq(len(segment), 1 / rate)[spectrum.argmax()] - 250) / 300)
        if digit != previous:
            found.append(digit)
        previous = digit
    return found
