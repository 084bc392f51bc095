"""Translation pairs: reading the Tatoeba zip, cleaning, and a split that keeps paraphrases apart."""

import zipfile

import pytest

from rnnkit.data import DataError
from rnnkit.data.translation import Pair, normalize, read_pairs, split_by_source


def write_zip(folder, lines, name="fra"):
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / f"{name}-eng.zip", "w") as archive:
        archive.writestr(f"{name}.txt", "\n".join(lines) + "\n")
        archive.writestr("_about.txt", "attribution")
    return folder


def test_read_cleans_dedupes_and_sets_the_direction(tmp_path):
    # "é" composed and decomposed (NFC makes them one), extra spaces, a duplicate, an empty side
    folder = write_zip(
        tmp_path,
        [
            "Go.\tVa !",
            "Go.\t  Va   ! ",
            "Coffee.\tCafe\u0301.",
            "Coffee.\tCafé.",
            "Empty.\t",
            "Hi.\tSalut.",
        ],
    )
    fra_eng = read_pairs(folder, "fra-eng")
    assert fra_eng == [Pair("Va !", "Go."), Pair("Café.", "Coffee."), Pair("Salut.", "Hi.")]
    assert read_pairs(folder, "eng-fra")[0] == Pair("Go.", "Va !")
    assert normalize(" a \t b\u00a0 c ") == "a b c"


def test_korean_file_has_an_attribution_column(tmp_path):
    write_zip(tmp_path / "tatoeba", ["Go.\t가.\tCC-BY 2.0 (France)"], name="kor")
    assert read_pairs(tmp_path, "kor-eng") == [Pair("가.", "Go.")]


def test_bad_pairs_and_files_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="unknown language pair 'fra-deu'"):
        read_pairs(tmp_path, "fra-deu")
    with pytest.raises(DataError, match="no fra-eng.zip"):
        read_pairs(tmp_path, "fra-eng")
    write_zip(tmp_path, ["no tab here"])
    with pytest.raises(DataError, match=r"line 1: expected english<TAB>fra"):
        read_pairs(tmp_path, "fra-eng")


def test_split_keeps_every_source_sentence_in_one_split():
    pairs = []
    for i in range(300):
        for k in range(1 + i % 3):  # up to three translations of one source
            pairs.append(Pair(f"Phrase {i}.", f"Sentence {i} version {k}"))
        pairs.append(Pair(f"Phrase {i}!", f"Exclaimed {i}"))  # the same source, other punctuation
    splits = split_by_source(pairs, test=100, validation=50, seed=3)
    assert len(splits.test) >= 100 and len(splits.validation) >= 50
    assert sorted(splits.train + splits.validation + splits.test, key=repr) == sorted(pairs, key=repr)
    sources = [
        {p.source.rstrip(".!") for p in split} for split in (splits.train, splits.validation, splits.test)
    ]
    assert not (sources[0] & sources[1]) and not (sources[0] & sources[2]) and not (sources[1] & sources[2])
    again = split_by_source(pairs, test=100, validation=50, seed=3)
    assert again.test == splits.test and again.train == splits.train
    assert split_by_source(pairs, test=100, validation=50, seed=4).test != splits.test
    with pytest.raises(DataError, match="cannot make"):
        split_by_source(pairs[:10], test=10, validation=5)
