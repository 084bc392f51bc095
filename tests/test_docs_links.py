"""Every relative link in README.md and docs/*.md names a file that exists and, after '#', a heading
that the file has (GitHub's anchors: lowercased, punctuation dropped, spaces as '-')."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    found, fenced = set(), False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def links() -> list[tuple[Path, str]]:
    out = []
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if not re.match(r"[a-z]+:", target):  # http:, https:, mailto: are not checked here
                out.append((page, target))
    return out


@pytest.mark.parametrize(("page", "target"), links(), ids=lambda x: x.name if isinstance(x, Path) else x)
def test_a_relative_link_names_an_existing_file_and_heading(page, target):
    path, _, anchor = target.partition("#")
    file = (page.parent / path).resolve() if path else page
    assert file.exists(), f"{page.name} links to {path}, which does not exist"
    if anchor and file.suffix == ".md":
        assert anchor in anchors(file), f"{page.name} links to {target}: {file.name} has no such heading"


def test_no_page_names_a_file_that_is_gone():
    """Files named in backquotes as rnnkit/... or benchmarks/... paths exist."""
    missing = []
    for page in PAGES:
        for name in re.findall(r"`((?:rnnkit|benchmarks|examples|tests)/[\w/.-]+\.py)`", page.read_text()):
            if not (ROOT / name).exists():
                missing.append(f"{page.name}: {name}")
    assert not missing, missing
