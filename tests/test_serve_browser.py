"""The served pages in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright's Python API. A review is typed and submitted, and the probability and the shading are
read from the page; the language model's text is watched as it streams in; the tagger's entities
and the translation's heatmap are read back. Screenshots go to the test's temporary folder.

Outside CI these tests skip when Chromium or Playwright is missing (install them with
``apt-get install -y chromium`` and ``pip install playwright``); ``.ci/run`` sets
``RNNKIT_REQUIRE_BROWSER=1``, which turns such a skip into a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest

from rnnkit.serve import Limits, create_app, load_models, running
from rnnkit.tasks import sentiment, tag

CHROMIUM = os.environ.get("RNNKIT_CHROMIUM", "/usr/bin/chromium")
# the flags a root, offline, screenless machine needs (no sandbox as root; no calls home)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
]
FLAGS += ["--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright)"
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set RNNKIT_CHROMIUM)"
    return None


MISSING = _missing()
if MISSING and os.environ.get("RNNKIT_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"RNNKIT_REQUIRE_BROWSER=1 but the browser tests cannot run: {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"browser tests skipped: {MISSING}")


@pytest.fixture(scope="module")
def site(imdb_tarball, tmp_path_factory):
    from serving import make_runs

    runs = make_runs(tmp_path_factory.mktemp("site"), imdb_tarball)
    limits = Limits()
    app = create_app(load_models([str(p) for p in runs.values()], limits), limits)
    with running(app) as url:
        yield url, runs


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 420, "height": 900})  # a phone's width
    yield page
    page.close()


def submit(page, url: str, model: str, text: str, **choices: str) -> None:
    """Open the model's page, type ``text``, pick ``choices`` (a select's id: its value), send the
    form and wait for the answer to show."""
    page.goto(f"{url}/m/{model}")
    page.fill("#text", text)
    for name, value in choices.items():
        page.select_option(f"#{name}", value)
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")


def test_a_typed_review_gets_its_probability_and_shading(site, page, tmp_path):
    url, runs = site
    review = "A wonderful film with great acting, although the ending was awful."
    submit(page, url, "review", review)
    shown = float(page.text_content("#probability"))
    expected = sentiment.Predictor.from_run(runs["review"])([review])[0]
    assert shown == pytest.approx(expected, abs=5e-4)  # the page shows three decimals
    assert page.text_content("#label") == ("positive" if expected >= 0.5 else "negative")
    words = page.query_selector_all("#shaded .w")
    assert [w.text_content() for w in words] == review.split()
    weights = [float(w.get_attribute("data-weight")) for w in words]
    assert any(abs(x) > 0 for x in weights)
    backgrounds = {w.evaluate("e => getComputedStyle(e).backgroundColor") for w in words}
    assert len(backgrounds) > 1  # shaded by weight, not one colour
    assert page.text_content("#shaded") == review  # the review's own text, spaces included
    page.screenshot(path=str(tmp_path / "sentiment.png"), full_page=True)
    assert (tmp_path / "sentiment.png").stat().st_size > 1000


def test_an_error_is_shown_on_the_page(site, page):
    url, _ = site
    page.goto(f"{url}/m/review")
    page.fill("#text", "    ")
    page.evaluate("document.getElementById('text').required = false")
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    assert "whitespace" in page.text_content("#error")


def test_generated_text_streams_into_the_page(site, page):
    url, _ = site
    page.goto(f"{url}/m/shakespeare")
    page.fill("#prime", "ROMEO:")
    page.fill("#length", "300")
    page.click("#submit")
    page.wait_for_selector("#output[data-done='1']", timeout=30_000)
    text = page.text_content("#output")
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 300


def test_entities_are_highlighted(site, page):
    url, runs = site
    sentence = "Yesterday, Harry Potter met Hermione Granger."
    submit(page, url, "ner", sentence)
    tokens = tag.tokenize(sentence)
    found = tag.entities(tokens, tag.Tagger.from_run(runs["ner"])([tokens])[0])
    rows = page.query_selector_all("#entities tbody tr")
    assert [r.query_selector("td").text_content() for r in rows] == [e["text"] for e in found]
    assert len(page.query_selector_all("#sentence mark.ent")) == len(found)


def test_translation_and_its_heatmap(site, page):
    url, _ = site
    submit(page, url, "fr-en", "trois un .", beam="1")
    assert page.text_content("#translation") is not None
    columns = page.query_selector_all("#heat th.col")
    assert [c.text_content().strip() for c in columns] == ["trois", "un", "."]
    assert len(page.query_selector_all("#heat td")) % 3 == 0 and page.query_selector_all("#heat td")
