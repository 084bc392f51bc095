"""The activity page of ``rnnkit serve`` (issue 28): the API answers as the task's predictor does
(the clip's action, its probabilities, every frame's label and the joints drawn), refuses a clip
with no body or a broken file in one line, and in headless Chromium an uploaded skeleton file moves
on the page with each frame's label under it (skipped as in test_serve_browser when Chromium or
Playwright is missing)."""

from __future__ import annotations

import numpy as np
import pytest
from test_activity import msr  # noqa: F401 (module fixture: a folder of made-up skeleton files)
from test_serve_browser import CHROMIUM, FLAGS, MISSING

from rnnkit.cli import main
from rnnkit.serve import Limits, create_app, load_models, running
from rnnkit.tasks import activity

httpx = pytest.importorskip("httpx")
CLIP = "a02_s01_e04_skeleton3D.txt"  # 20 frames, 3 of them lost (all zero)


@pytest.fixture(scope="module")
def site(msr, tmp_path_factory):  # noqa: F811
    run = tmp_path_factory.mktemp("activity") / "run"
    small = ["--set", "model.hidden_size=8", "--set", "model.projection=8", "--set", "validation_subject=3"]
    small += ["--set", "fusion=0.4"]  # the page answers with the run's logistic too, as predict does
    assert main(["activity", "train", "--data", str(msr), "--out", str(run), "--epochs", "1", *small]) == 0
    limits = Limits(max_wait_ms=30)
    app = create_app(load_models([f"moves={run}"], limits), limits)
    with running(app) as url:
        yield url, run, msr


def joints_of(path) -> list[float]:
    return np.loadtxt(path)[:, :3].ravel().tolist()  # (T*20, 4) -> x, y, z of each joint


def test_the_api_answers_as_the_predictor(site):
    url, run, folder = site
    own = activity.Predictor.from_run(run)([folder / CLIP])[0]
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/api/models").json()[0]["task"] == "activity"
        answer = client.post(
            "/api/moves/predict", json={"text": CLIP, "joints": joints_of(folder / CLIP)}
        ).json()
    assert answer["label"] == own["class"] and answer["frame_labels"] == own["frame_labels"]
    np.testing.assert_allclose(
        list(answer["probabilities"].values()), list(own["probabilities"].values()), atol=1e-6
    )
    predictor = activity.Predictor.from_run(run)
    alone = activity.Predictor(predictor.models, predictor.adapter, predictor.config)([folder / CLIP])[0]
    assert not np.allclose(list(answer["probabilities"].values()), list(alone["probabilities"].values()))
    assert answer["dropped_frames"] == 3 and len(answer["joints"]) == own["frames"] == 17
    np.testing.assert_allclose(answer["joints"], own["joints"], atol=1e-4)


def test_a_clip_with_no_body_or_a_broken_file_is_refused_in_one_line(site):
    url = site[0]
    with httpx.Client(base_url=url, timeout=30) as client:
        empty = client.post("/api/moves/predict", json={"text": "z", "joints": [0.0] * 600})
        assert empty.status_code == 422 and "no body was tracked" in empty.json()["detail"]
        broken = client.post("/api/moves/predict", json={"text": "b", "joints": [1.0] * 61})
        assert broken.status_code == 422 and "not a whole number of frames" in broken.json()["detail"]


@pytest.mark.skipif(MISSING is not None, reason=f"browser tests skipped: {MISSING}")
def test_the_page_plays_the_uploaded_clip_with_each_frames_label(site, tmp_path):
    from playwright.sync_api import sync_playwright

    url, run, folder = site
    own = activity.Predictor.from_run(run)([folder / CLIP])[0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 420, "height": 1000})
        page.goto(f"{url}/m/moves")
        page.set_input_files("#file", str(folder / CLIP))
        page.click("#submit")
        page.wait_for_selector("#result:not([hidden])")
        assert page.text_content("#label") == own["class"]
        assert "3 frame(s) without a body" in page.text_content("#dropped")
        seen = {}
        for _ in range(40):  # the figure moves: frames advance, each captioned with its own label
            t, caption = page.evaluate(
                "() => { const c = document.getElementById('caption'); "
                "return [Number(c.dataset.frame), c.textContent]; }"
            )  # one read
            seen[t] = caption
            page.wait_for_timeout(25)
        assert len(seen) > 3
        for t, caption in seen.items():
            assert caption.startswith(f"frame {t + 1}/17: {own['frame_labels'][t]} (")
        pixels = page.evaluate(
            "() => { const c = document.getElementById('stage'); const d = c.getContext('2d')"
            ".getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4)"
            " n += d[i] > 0; return n; }"
        )
        assert pixels > 500  # a figure is drawn
        page.screenshot(path=str(tmp_path / "activity.png"), full_page=True)
        page.set_input_files("#file", str(folder / "a03_s04_e04_skeleton3D.txt"))
        page.click("#submit")
        page.wait_for_selector("#error:not([hidden])")
        assert "no body was tracked" in page.text_content("#error")
        browser.close()
