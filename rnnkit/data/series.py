"""A numeric series from one column of a user's CSV, with a clear error for every bad cell.

The first row is the header; the first column, when it is not the value column, is kept as the
dates (``infer_season`` reads monthly ``YYYY-MM`` and daily ``YYYY-MM-DD`` dates).
"""

from __future__ import annotations

import csv
import datetime
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError


@dataclass
class Series:
    values: np.ndarray  # (N,) float64, in the column's units
    column: str
    dates: list[str] | None  # the first column's text, when that is not the value column


def read_series(path: str | Path, column: str) -> Series:
    """One numeric column of a CSV with a header row; every bad cell is an error naming its line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no CSV file at {path}; check the path given to --csv")
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            rows = [(reader.line_num, row) for row in reader]  # (line number in the file, cells)
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not UTF-8 text ({error.reason}); save it as UTF-8 CSV") from None
    if not rows:
        raise InputError(f"{path} is empty; a forecast needs a header row and one value per line")
    header = [name.strip() for name in rows[0][1]]
    if column not in header:
        names = ", ".join(repr(name) for name in header)
        raise InputError(f"{path} has no column {column!r}; its columns are {names}; pass one with --column")
    index = header.index(column)
    while rows and not any(cell.strip() for cell in rows[-1][1]):
        rows.pop()  # trailing blank lines
    values, dates = [], []
    for line, row in rows[1:]:
        cell = row[index].strip() if index < len(row) else ""
        where = f"{path}, line {line}: column {column!r}"
        if not cell:
            raise InputError(f"{where} is empty; fill in the value (a forecast needs one per time step)")
        try:
            value = float(cell)
        except ValueError:
            raise InputError(f"{where} holds {cell!r}, not a number; fix or remove that line") from None
        if not math.isfinite(value):
            raise InputError(f"{where} is {cell!r}; fill the gap (e.g. interpolate) or remove that line")
        values.append(value)
        dates.append(row[0].strip() if row else "")
    if not values:
        raise InputError(f"{path} has a header but no rows of data")
    return Series(np.asarray(values, dtype=np.float64), column, dates if index != 0 else None)


def infer_season(dates: list[str] | None) -> int | None:
    """12 for monthly ``YYYY-MM`` dates, 365 for daily ``YYYY-MM-DD`` ones, else None."""
    if not dates or len(dates) < 2:
        return None
    if all(re.fullmatch(r"\d{4}-\d{2}", d) for d in dates[:2]):
        return 12
    try:
        first, second = (datetime.date.fromisoformat(d) for d in dates[:2])
    except ValueError:
        return None
    return 365 if (second - first).days == 1 else None
