"""Finding a dataset file the way a user's download is found, and downloading it when allowed.

Order: an explicit path (``--data``), then ``$RNNKIT_DATA`` (a folder holding the file, or the file),
then the cache folder ``~/.cache/rnnkit`` (``$RNNKIT_CACHE`` overrides it). A file missing from all
three is downloaded into the cache with a progress bar and checked; offline, the error says where
to put it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import IO

from ..errors import RnnkitError


class DataError(RnnkitError, RuntimeError):
    """A dataset that is missing, damaged or not in the expected layout (one-line message)."""


def cache_dir() -> Path:
    return Path(os.environ.get("RNNKIT_CACHE", Path.home() / ".cache" / "rnnkit"))


def candidates(filename: str, data: str | os.PathLike | None) -> list[Path]:
    """Where ``filename`` is looked for, in order."""
    roots = [Path(data)] if data is not None else []
    if data is None and os.environ.get("RNNKIT_DATA"):
        roots.append(Path(os.environ["RNNKIT_DATA"]))
    if data is None:
        roots.append(cache_dir())
    found = []
    for root in roots:
        found += [root] if root.is_file() or root.suffix else [root / filename, root]
    return found


def download(url: str, target: Path, md5: str | None, progress: IO[str] | None = sys.stderr) -> Path:
    """Download ``url`` to ``target`` atomically, showing progress and checking ``md5``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.md5()
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as tmp:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                while chunk := response.read(1 << 20):
                    tmp.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        share = f"{done / total:6.1%}" if total else ""
                        progress.write(f"\rdownloading {target.name}: {done / 2**20:7.1f} MiB {share}")
            if progress is not None:
                progress.write("\n")
            if md5 is not None and digest.hexdigest() != md5:
                raise DataError(f"downloaded {url} but its MD5 is {digest.hexdigest()}, expected {md5}")
        except BaseException:
            Path(tmp.name).unlink(missing_ok=True)
            raise
    os.replace(tmp.name, target)
    return target
