"""The DNA page of ``rnnkit serve`` (issue 27): the API over real HTTP answers as the task's own
predictor and attribution do, refuses what is no DNA with the position, and the page in headless
Chromium shows the class, the probabilities and the bases coloured by their importance (skipped as
in test_serve_browser when Chromium or Playwright is missing)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from test_dna import data, trained, window  # noqa: F401 (module fixtures: a tiny trained run)
from test_serve_browser import CHROMIUM, FLAGS, MISSING

from rnnkit.serve import Limits, create_app, load_models, running
from rnnkit.serve.dna import MAX_EXPLAINED, bases
from rnnkit.tasks import dna
from rnnkit.tasks.dna import explain

httpx = pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def site(trained):  # noqa: F811
    limits = Limits(max_wait_ms=30)
    app = create_app(load_models([f"splice={trained}"], limits), limits)
    with running(app) as url:
        yield url, trained


def test_the_api_answers_as_the_predictor_and_the_attribution(site):
    url, run = site
    rng = random.Random(21)
    sequences = [window(rng, "EI"), window(rng, "IE"), window(rng, "N")[:50]]
    models = dna.Predictor.from_run(run).models
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/api/models").json()[0]["task"] == "dna"
        assert "Which bases decided it" in client.get("/m/splice").text
        for sequence in sequences:
            answer = client.post("/api/splice/predict", json={"text": sequence}).json()
            own = explain.saturation_mutagenesis(models, [("s", sequence)])[0]
            assert answer["label"] == own.label and answer["sequence"] == sequence
            np.testing.assert_allclose(list(answer["probabilities"].values()), own.probabilities, atol=1e-6)
            np.testing.assert_allclose(answer["importance"], own.importance, atol=1e-5)
            assert answer["decisive"] == explain.decisive(own.importance).tolist()
            assert (answer["warning"] is None) == (len(sequence) == dna.WINDOW)
        plain = client.post("/api/splice/predict", json={"text": sequences[0], "explain": False}).json()
        assert plain["importance"] is None and plain["label"] == "EI"


def test_a_pasted_fasta_record_is_read_and_bad_bases_are_refused_with_their_position(site):
    url, _ = site
    sequence = window(random.Random(22), "IE")
    assert bases(f">x some gene\n{sequence[:30]}\n  {sequence[30:]}\n") == sequence
    with httpx.Client(base_url=url, timeout=30) as client:
        pasted = client.post("/api/splice/predict", json={"text": f">x\n{sequence[:30]}\n{sequence[30:]}"})
        assert pasted.status_code == 200 and pasted.json()["sequence"] == sequence
        bad = client.post("/api/splice/predict", json={"text": "ACGTU"})
        assert bad.status_code == 422 and "'U' at position 5" in bad.json()["detail"]
        long = client.post("/api/splice/predict", json={"text": "A" * (MAX_EXPLAINED + 1)})
        assert long.status_code == 422 and "explain: false" in long.json()["detail"]
        ok = client.post("/api/splice/predict", json={"text": "A" * (MAX_EXPLAINED + 1), "explain": False})
        assert ok.status_code == 200


@pytest.mark.skipif(MISSING is not None, reason=f"browser tests skipped: {MISSING}")
def test_the_page_shows_the_class_probabilities_and_coloured_bases(site, tmp_path):
    from playwright.sync_api import sync_playwright

    url, run = site
    sequence = window(random.Random(23), "EI")
    own = explain.saturation_mutagenesis(dna.Predictor.from_run(run).models, [("s", sequence)])[0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 420, "height": 900})
        page.goto(f"{url}/m/splice")
        page.fill("#text", sequence)
        page.click("#submit")
        page.wait_for_selector("#result:not([hidden])")
        assert page.text_content("#label") == own.label == "EI"
        shown = {
            r.get_attribute("data-class"): float(r.query_selector(".p").text_content())
            for r in page.query_selector_all("#probs tr")
        }
        assert shown == pytest.approx(dict(zip(dna.CLASSES, own.probabilities)), abs=5e-4)
        spans = page.query_selector_all("#bases .b")
        assert "".join(s.text_content() for s in spans) == sequence
        weights = [float(s.get_attribute("data-importance")) for s in spans]
        np.testing.assert_allclose(weights, own.importance, atol=1e-4)
        bold = [i for i, s in enumerate(spans) if "decisive" in s.get_attribute("class")]
        assert bold == np.flatnonzero(explain.decisive(own.importance)).tolist()
        colours = {s.evaluate("e => getComputedStyle(e).backgroundColor") for s in spans}
        assert len(colours) > 1
        page.fill("#text", "ACGTX")
        page.click("#submit")
        page.wait_for_selector("#error:not([hidden])")
        assert "'X' at position 5" in page.text_content("#error")
        page.screenshot(path=str(tmp_path / "dna.png"), full_page=True)
        browser.close()
