"""Labelled multichannel sequences from a user's files: UEA/UCR ``.ts`` files and folders of CSVs.

Both give :class:`LabelledSeries`: one ``(T_i, C)`` float array per case (time down, channels
across, the sequence core's layout), its class name, and a name to report it by. Lengths may
differ between cases; the channel count C may not (a one-line error names the first case that
differs).

``.ts`` (the format of the UEA & UCR time-series classification archive, read by aeon and sktime)::

    # comments
    @problemName BasicMotions
    @timeStamps false          (true is refused: rnnkit reads values, not (time, value) pairs)
    @missing false
    @univariate false
    @dimensions 6
    @equalLength true
    @seriesLength 100
    @classLabel true Standing Running Walking Badminton
    @data
    v,v,...,v:v,v,...,v:...:LABEL      one case a line; channels separated by ':', values by ','

A missing value is ``?`` (or ``NaN``). ``missing`` decides what happens to it: ``"keep"`` leaves
NaN (as aeon's loader does), ``"interpolate"`` fills it linearly from its channel's neighbours in
time (the nearest value at either end), ``"refuse"`` raises an error naming the case and channel.
A channel with no value at all is refused whatever ``missing`` says.

CSV folder (:func:`read_csv_folder`): ``FOLDER/LABEL/NAME.csv``, one sub-folder per class named
after it, one file per case; in a file one row per time step, one column per channel, commas
between, and an optional header row of channel names (a first row that is not all numbers).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .locate import DataError

MISSING = ("keep", "interpolate", "refuse")


@dataclass
class LabelledSeries:
    features: list[np.ndarray]  # each (T_i, C) float64
    labels: list[str | None]  # the class name of each case (None: the file gives none)
    names: list[str]  # "FILE:LINE" or the CSV's path inside its folder
    classes: list[str] = field(default_factory=list)  # the class names in their declared order

    @property
    def channels(self) -> int:
        return self.features[0].shape[1]

    def label_ids(self, classes: list[str] | None = None) -> np.ndarray:
        """(N,) int64 class indices into ``classes`` (default: this data's); a label not among them
        is an error naming the case."""
        classes = list(classes if classes is not None else self.classes)
        index = {name: i for i, name in enumerate(classes)}
        ids = []
        for name, label in zip(self.names, self.labels):
            if label not in index:
                raise DataError(f"{name}: class {label!r} is not one of the classes {', '.join(classes)}")
            ids.append(index[label])
        return np.asarray(ids, dtype=np.int64)


def read_ts(path: str | Path, missing: str = "interpolate") -> LabelledSeries:
    """The cases of a ``.ts`` file (see the module's docstring), in file order."""
    path = Path(path)
    _check_missing(missing)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read {path}: {error}") from None
    header: dict[str, str] = {}
    features, labels, names = [], [], []
    in_data = False
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path.name}:{number}"
        if not in_data:
            if not line.startswith("@"):
                raise DataError(f"{where}: expected a @keyword header line or @data, got {line[:40]!r}")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
                _check_header(header, path)
            else:
                header[key] = value.strip()
            continue
        labelled = header.get("classlabel", "false").split()[0].lower() == "true"
        fields = line.split(":")
        label = fields.pop().strip() if labelled else None
        x = _parse_case(fields, where)
        features.append(_fill(x, missing, where))
        labels.append(label)
        names.append(where)
    if not in_data:
        raise DataError(f"{path} has no @data line: is it a .ts file of the UEA/UCR archive?")
    if not features:
        raise DataError(f"{path} holds no cases after @data")
    _check_channels(features, names)
    declared = header.get("classlabel", "false").split()[1:]
    classes = declared or sorted({label for label in labels if label is not None})
    return LabelledSeries(features, labels, names, classes)


def read_csv_folder(folder: str | Path, missing: str = "interpolate") -> LabelledSeries:
    """The cases of ``FOLDER/LABEL/*.csv`` (see the module's docstring), classes in sorted order,
    files sorted within each."""
    folder = Path(folder)
    _check_missing(missing)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; give a folder of LABEL/NAME.csv files")
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and any(d.glob("*.csv")))
    if not classes:
        raise DataError(
            f"{folder} holds no LABEL/*.csv files: put each class's CSVs in a folder named after it"
        )
    features, labels, names = [], [], []
    for label in classes:
        for file in sorted((folder / label).glob("*.csv")):
            name = f"{label}/{file.name}"
            features.append(read_csv_file(file, name, missing))
            labels.append(label)
            names.append(name)
    _check_channels(features, names)
    return LabelledSeries(features, labels, names, classes)


def read_csv_file(file: str | Path, name: str | None = None, missing: str = "interpolate") -> np.ndarray:
    """One CSV case: (T, C) float64, rows the time steps, columns the channels (an optional header
    row of names skipped); ``name`` names it in errors (default: the file's path)."""
    name = name or str(file)
    with open(file, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if rows and not all(_is_number(cell) for cell in rows[0]):
        rows = rows[1:]  # a header of channel names
    if not rows:
        raise DataError(f"{name} holds no rows of numbers")
    width = len(rows[0])
    values = np.empty((len(rows), width))  # (T, C)
    for t, row in enumerate(rows):
        if len(row) != width:
            raise DataError(f"{name}: row {t + 1} has {len(row)} columns, the first has {width}")
        for c, cell in enumerate(row):
            values[t, c] = _number(cell, f"{name}: row {t + 1}, column {c + 1}")
    return _fill(values, missing, name)


def _parse_case(fields: list[str], where: str) -> np.ndarray:
    if not fields or not fields[0].strip():
        raise DataError(f"{where}: a case needs at least one channel of values before its label")
    channels = []
    for c, text in enumerate(fields, 1):
        text = text.strip()
        if text.startswith("("):
            raise DataError(
                f"{where}: (time, value) pairs are not read; give plain values (@timeStamps false)"
            )
        channels.append([_number(v, f"{where}: channel {c}") for v in text.split(",")])
    lengths = {len(ch) for ch in channels}
    if len(lengths) > 1:
        raise DataError(
            f"{where}: the channels of one case have different lengths "
            f"({', '.join(map(str, sorted(lengths)))}); "
            "every channel of a case needs a value at every time step (use ? for a missing one)"
        )
    return np.asarray(channels, dtype=np.float64).T  # (C, T) -> (T, C)


def _number(text: str, where: str) -> float:
    text = text.strip()
    if text in ("?", "") or text.lower() == "nan":
        return float("nan")
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{where}: {text[:20]!r} is not a number (? marks a missing value)") from None


def _is_number(text: str) -> bool:
    text = text.strip()
    if text in ("?", "") or text.lower() == "nan":
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fill(x: np.ndarray, missing: str, where: str) -> np.ndarray:
    """``x`` (T, C) with its NaNs kept, interpolated in time, or refused (see the module)."""
    holes = np.isnan(x)
    if not holes.any():
        return x
    empty = np.flatnonzero(holes.all(axis=0))
    if len(empty):
        raise DataError(f"{where}: channel {empty[0] + 1} has no value at all; remove it or the case")
    if missing == "keep":
        return x
    if missing == "refuse":
        t, c = np.argwhere(holes)[0]
        raise DataError(
            f"{where}: channel {c + 1} misses its value at step {t + 1}; fill it, or read with missing "
            "values interpolated"
        )
    filled = x.copy()
    steps = np.arange(len(x))
    for c in np.flatnonzero(holes.any(axis=0)):
        known = ~holes[:, c]
        filled[:, c] = np.interp(steps, steps[known], x[known, c])  # ends: the nearest known value
    return filled


def _check_channels(features: list[np.ndarray], names: list[str]) -> None:
    C = features[0].shape[1]
    for x, name in zip(features, names):
        if x.shape[1] != C:
            raise DataError(
                f"{name} has {x.shape[1]} channels, {names[0]} has {C}: every case needs the same channels"
            )


def _check_header(header: dict[str, str], path: Path) -> None:
    if header.get("timestamps", "false").lower() == "true":
        raise DataError(f"{path}: @timeStamps true is not read; give plain values (@timeStamps false)")


def _check_missing(missing: str) -> None:
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {', '.join(MISSING)}, got {missing!r}")


__all__ = ["MISSING", "LabelledSeries", "read_csv_file", "read_csv_folder", "read_ts"]
