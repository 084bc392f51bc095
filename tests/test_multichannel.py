"""The .ts and CSV-folder readers: parity with aeon's loader on its bundled BasicMotions and on files
aeon's writer makes (unequal lengths, missing values), and the one-line refusals."""

from pathlib import Path

import numpy as np
import pytest

from rnnkit.data import DataError
from rnnkit.data.multichannel import read_csv_folder, read_ts

aeon_datasets = pytest.importorskip("aeon.datasets")


def basic_motions(split: str) -> Path:
    return Path(aeon_datasets.__file__).parent / "data" / "BasicMotions" / f"BasicMotions_{split}.ts"


@pytest.mark.parametrize("split", ["TRAIN", "TEST"])
def test_basic_motions_reads_as_aeon_does(split):
    X, y = aeon_datasets.load_from_ts_file(str(basic_motions(split)))  # (40, 6, 100)
    data = read_ts(basic_motions(split))
    assert len(data.features) == len(X) == 40
    np.testing.assert_array_equal(np.stack(data.features).transpose(0, 2, 1), X)  # (N, T, C) -> (N, C, T)
    assert [label.lower() for label in data.labels] == list(y)  # aeon lowercases the file's labels
    assert data.classes == ["Standing", "Running", "Walking", "Badminton"]  # as @classLabel declares them
    assert data.channels == 6


def test_unequal_lengths_and_missing_values_read_as_aeon_does(tmp_path):
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(3, n)).round(4) for n in (5, 9, 7)]  # aeon's layout: (C, T_i)
    X[1][2, 3] = np.nan  # aeon writes NaN
    y = np.array(["a", "b", "a"])
    aeon_datasets.save_to_ts_file(X, y, label_type="classification", path=str(tmp_path), problem_name="toy")
    path = tmp_path / "toy.ts"
    text = path.read_text().replace("NaN", "?")  # the archive's own mark for a missing value
    path.write_text(text)
    theirs, their_y = aeon_datasets.load_from_ts_file(str(path))
    kept = read_ts(path, missing="keep")
    assert [x.shape for x in kept.features] == [(5, 3), (9, 3), (7, 3)]
    for mine, their in zip(kept.features, theirs):
        np.testing.assert_array_equal(mine.T, their)  # NaN == NaN here
    assert kept.labels == list(their_y)
    filled = read_ts(path)  # interpolate: the mean of the neighbours in time
    assert filled.features[1][3, 2] == pytest.approx((X[1][2, 2] + X[1][2, 4]) / 2)
    np.testing.assert_array_equal(np.delete(filled.features[1], 3, 0), np.delete(kept.features[1], 3, 0))
    with pytest.raises(DataError, match=r"toy.ts:\d+: channel 3 misses its value at step 4"):
        read_ts(path, missing="refuse")


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


HEADER = "@problemName x\n@timeStamps false\n@classLabel true a b\n@data\n"


def test_ts_refusals_are_one_line(tmp_path):
    cases = {
        "1,2,3:4,5,6:a\n1,2,3:a\n": r"bad.ts:6 has 1 channels, bad.ts:5 has 2",  # unequal channel counts
        "1,2,3:4,5:a\n": r"different lengths \(2, 3\)",
        "1,2,x:4,5,6:a\n": r"channel 1: 'x' is not a number",
        "?,?,?:4,5,6:a\n": "channel 1 has no value at all",
    }
    for body, message in cases.items():
        with pytest.raises(DataError, match=message) as error:
            read_ts(write(tmp_path / "bad.ts", HEADER + body))
        assert "\n" not in str(error.value)
    with pytest.raises(DataError, match="@timeStamps true is not read"):
        read_ts(write(tmp_path / "t.ts", HEADER.replace("false", "true") + "(0,1),(1,2):a\n"))
    with pytest.raises(DataError, match="no @data line"):
        read_ts(write(tmp_path / "n.ts", "@problemName x\n"))


def test_csv_folder_reads_classes_and_headers(tmp_path):
    rng = np.random.default_rng(1)
    written = {}
    for label, n in (("walk", 2), ("run", 1)):
        (tmp_path / label).mkdir()
        for k in range(n):
            x = rng.normal(size=(4 + k, 3)).round(3)  # (T, C)
            header = "ax,ay,az\n" if k == 0 else ""
            body = "\n".join(",".join(str(v) for v in row) for row in x)
            (tmp_path / label / f"{k}.csv").write_text(header + body + "\n")
            written[f"{label}/{k}.csv"] = x
    data = read_csv_folder(tmp_path)
    assert data.classes == ["run", "walk"]
    assert data.names == ["run/0.csv", "walk/0.csv", "walk/1.csv"]
    for name, x in zip(data.names, data.features):
        np.testing.assert_array_equal(x, written[name])
    np.testing.assert_array_equal(data.label_ids(), [0, 1, 1])
    (tmp_path / "run" / "bad.csv").write_text("1,2\n3,4\n")
    with pytest.raises(DataError, match="run/bad.csv has 2 channels, run/0.csv has 3"):
        read_csv_folder(tmp_path)
