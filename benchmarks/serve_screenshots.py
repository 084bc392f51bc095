"""The screenshots of docs/serve.md: each served page, filled in and answered, in headless Chromium.

    python benchmarks/serve_screenshots.py seed=runs/seed-e3 ner=runs/tag-fast-2t fr-en=runs/translate-fast

Each ``NAME=RUN`` is served as ``rnnkit serve`` would (same app, same loading); the page of each
gets its task's sample input, and ``docs/img/serve_NAME.png`` is written, at a phone's width
(``--width``, default 420) or a laptop's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

from rnnkit.serve import Limits, create_app, load_models, running

CHROMIUM = "/usr/bin/chromium"
# as in tests/test_serve_browser.py: no sandbox as root, no calls home from an offline machine
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ROOT = Path(__file__).resolve().parent.parent
INPUTS = {
    "sentiment": ("#text", "The movie was cool. The animation and the graphics were out of this world. "
                  "The plot was thin and the ending a little rushed, but I would recommend this movie."),
    "tagging": ("#text", "Yesterday, Harry Potter met Hermione Granger in London before flying to the U.S. "
                "with British Airways."),
    "translation": ("#text", "Voulez-vous chanter avec moi ?"),
    "language-model": ("#prime", "ROMEO:"),
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=RUN")
    parser.add_argument("--width", type=int, default=420)
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    args = parser.parse_args()
    models = load_models(args.runs, Limits())
    with running(create_app(models)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        for name, model in models.items():
            page = browser.new_page(viewport={"width": args.width, "height": 800}, device_scale_factor=2)
            page.goto(f"{url}/m/{name}")
            selector, text = INPUTS[model.task]
            page.fill(selector, text)
            page.click("#submit")
            done = "#output[data-done='1']" if model.task == "language-model" else "#result:not([hidden])"
            page.wait_for_selector(done, timeout=120_000)
            path = Path(args.out) / f"serve_{name}.png"
            page.screenshot(path=str(path), full_page=True)
            print(f"{path}: {model.task}")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
