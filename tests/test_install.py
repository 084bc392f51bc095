"""``pip install .`` as a user runs it: the wheel built from this checkout, installed into a fresh
virtualenv, and its ``rnnkit`` command run from outside the checkout.

``make`` installs rnnkit in editable mode, which reads the checkout's files, so the rest of the
suite cannot see what a wheel leaves out: the serve pages (``rnnkit/serve/static/``) are package
data, not modules, and ship only because pyproject.toml lists them. Here nothing comes from the
checkout:

- the wheel is built from a copy of the files setuptools reads (pyproject.toml, README.md, the
  ``rnnkit`` package) in a temporary folder, so no ``build/`` or ``*.egg-info`` lands in the
  repository; ``--no-build-isolation`` uses this environment's setuptools instead of downloading one;
- it is installed with ``--no-deps --no-index`` into a new venv, by that venv's own pip;
- every command runs in a temporary folder with no ``PYTHONPATH``, and the test checks that
  ``rnnkit`` is imported from the new venv.

The dependencies (torch, numpy, tokenizers, FastAPI, ...) are not installed again: the CPU torch
wheel is hundreds of MB, the machine may be offline, and letting pip resolve ``torch>=2.1`` would
fetch a multi-GB CUDA build. Instead a ``.pth`` file in the new venv's site-packages names this
environment's site-packages, which Python then appends to ``sys.path`` after the new venv's own:
the dependencies import from here, rnnkit from the wheel. A directory named in a ``.pth`` file is
not scanned for ``.pth`` files of its own, so the editable install's import hook (a ``.pth`` file
here) stays off. The ``.pth`` file is written after pip installs the wheel, so that pip sees an
environment without rnnkit and never touches this one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from rnnkit.config import apply_overrides
from rnnkit.tasks import sentiment

REPO = Path(__file__).resolve().parents[1]
STATIC = REPO / "rnnkit" / "serve" / "static"
# tests/test_cli.py's TINY_SENTIMENT as overrides: it separates the synthetic reviews by a wide margin.
TINY = [
    *("tokenizer=word", "vocab_size=300", "model.embed_dim=8", "model.hidden_sizes=8"),
    *("model.dense_size=8", "model.pooling=max", "train.monitor=val_loss", "train.batch_size=16"),
    *("train.lr=0.03", "train.epochs=8"),
]
REVIEWS = {"A wonderful superb brilliant film.": "positive", "An awful boring terrible film.": "negative"}
# run by the installed python: where rnnkit comes from, and a page and a stylesheet served by it
SERVE_PAGES = """
import json, sys
import httpx
import rnnkit
from rnnkit.serve import Limits, create_app, load_models, running
with running(create_app(load_models([sys.argv[1]], Limits()))) as url:
    page = httpx.get(url + "/m/review", timeout=30)
    style = httpx.get(url + "/static/style.css", timeout=30)
print(json.dumps({"rnnkit": rnnkit.__file__, "page": [page.status_code, page.text],
                  "style": style.status_code}))
"""


def _setuptools_builds_offline() -> bool:
    """setuptools >= 70.1 writes wheels itself; older ones need the ``wheel`` package as well."""
    try:
        import setuptools
    except ImportError:
        return False
    version = tuple(int(part) for part in re.findall(r"\d+", setuptools.__version__)[:2])
    return version >= (70, 1)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if not _setuptools_builds_offline():
        pytest.skip("needs setuptools >= 70.1 in this environment (make's .venv has it, through torch)")
    source = tmp_path_factory.mktemp("source")
    shutil.copytree(REPO / "rnnkit", source / "rnnkit", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    _check(subprocess.run([*pip, "-q", "-w", str(out), "."], cwd=source, capture_output=True, text=True))
    (built,) = out.glob("rnnkit-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed and this environment's packages visible (see above)."""
    root = tmp_path_factory.mktemp("venv")
    _check(subprocess.run([sys.executable, "-m", "venv", str(root)], capture_output=True, text=True))
    pip = [str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    _check(subprocess.run([*pip, str(wheel)], cwd=root, capture_output=True, text=True))
    done = _run(root, "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    ours = dict.fromkeys(sysconfig.get_path(kind) for kind in ("purelib", "platlib"))
    (Path(done.stdout.strip()) / "rnnkit_test_dependencies.pth").write_text("\n".join(ours) + "\n")
    return root


@pytest.fixture(scope="module")
def run_dir(imdb_tarball, tmp_path_factory) -> Path:
    """A tiny sentiment run, trained by the checkout: the installed copy must read it."""
    run_dir = tmp_path_factory.mktemp("runs") / "review"
    sentiment.train(apply_overrides(sentiment.preset("seed"), TINY), imdb_tarball, run_dir)
    return run_dir


def _check(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"{done.args}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def _run(venv: Path, program: str, *args: str) -> subprocess.CompletedProcess:
    """``venv/bin/program args`` in the venv's own folder (outside the repository), no PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    command = [str(venv / "bin" / program), *args]
    return _check(subprocess.run(command, cwd=venv, env=env, capture_output=True, text=True))


def test_the_wheel_holds_the_serve_pages(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(name).name for name in names if name.startswith("rnnkit/serve/static/")}
    assert {path.name for path in STATIC.iterdir() if path.is_file()} <= shipped
    assert {"index.html", "sentiment.html", "common.js", "style.css"} <= shipped
    entry_points = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    assert entry_points, "the wheel declares no console script (pyproject.toml's [project.scripts])"
    assert "rnnkit = rnnkit.cli:main" in zipfile.ZipFile(wheel).read(entry_points[0]).decode()


def test_the_installed_command_answers_help(venv):
    where = _run(venv, "python", "-c", "import rnnkit; print(rnnkit.__file__)").stdout.strip()
    assert Path(where).is_relative_to(venv)  # the wheel's copy, not the checkout's
    assert "sentiment" in _run(venv, "rnnkit", "--help").stdout
    assert "--port" in _run(venv, "rnnkit", "serve", "--help").stdout


def test_the_installed_command_predicts_as_the_checkout(venv, run_dir):
    out = _run(venv, "rnnkit", "sentiment", "predict", str(run_dir), *REVIEWS).stdout
    rows = [re.fullmatch(r"(\d\.\d{3})  (positive|negative)  (.+)", line) for line in out.splitlines()]
    assert all(rows), out
    expected = sentiment.Predictor.from_run(run_dir)(list(REVIEWS))
    for row, text, probability in zip(rows, REVIEWS, expected, strict=True):
        assert row[3] == text and 0 <= float(row[1]) <= 1
        assert row[1] == f"{probability:.3f}"  # the same number as the checkout's predictor
        assert row[2] == REVIEWS[text] == ("positive" if float(row[1]) > 0.5 else "negative")


def test_the_installed_server_serves_its_pages(venv, run_dir):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    answer = json.loads(_run(venv, "python", "-c", SERVE_PAGES, str(run_dir)).stdout)
    assert Path(answer["rnnkit"]).is_relative_to(venv)  # the wheel's copy, not the checkout's
    status, page = answer["page"]
    assert status == 200 and "Classify" in page and "viewport" in page
    assert answer["style"] == 200
