"""Translation pairs: reading the Tatoeba zip, cleaning, and a split that keeps paraphrases apart."""

import zipfile

import pytest

from rnnkit.data import DataError
from rnnkit.data.translation import (
    Pair,
    components,
    match_key,
    normalize,
    read_pairs,
    references,
    shared_keys,
    split_by_component,
)


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


def test_match_key_ignores_case_accents_quotes_commas_and_spacing():
    assert match_key("Je sais qu\u2019il l\u2019a fait, non ?") == match_key("je sais qu'il l'a fait non")
    assert match_key("  Café\u0301  ") == match_key("CAFE") == "cafe"
    assert match_key("\u00abGo\u00bb!") == match_key('"go".') == "go"
    assert match_key("가자.") == "가자"
    assert match_key("Go.") != match_key("Go on.")
    assert match_key("?!") == "?!" != match_key("...") == "..."  # no words: the spelling, never ""
    assert (
        match_key("I\u2019m sure you can\u2019t.")
        == match_key("I am sure you can not")
        == match_key("i am sure you cannot")
    )
    assert match_key("They'd've won't") == "they would have will not"


def paraphrases(groups: int) -> list[Pair]:
    """French sources and English targets where paraphrases meet only through a shared sentence
    on the *other* side, with spelling variants that match_key ignores."""
    pairs = []
    for i in range(groups):
        pairs += [
            Pair(f"Je sais que tu es {i}.", f"I know you are {i}."),
            Pair(f"Je sais que vous êtes {i}.", f"I know you are {i}."),  # same target
            Pair(f"Je sais que vous etes {i} !", f"I know that you are {i}."),  # source up to accents
            Pair(f"Je sais que tu l\u2019es {i}.", f"i know you are {i}"),  # target up to case/punct.
        ][: 1 + i % 4]
    return pairs


def test_split_keeps_paraphrases_on_either_side_in_one_split():
    pairs = paraphrases(300)
    splits = split_by_component(pairs, test=100, validation=50, seed=3)
    assert len(splits.test) >= 100 and len(splits.validation) >= 50
    assert sorted(splits.train + splits.validation + splits.test, key=repr) == sorted(pairs, key=repr)
    for a, b in (
        (splits.train, splits.test),
        (splits.train, splits.validation),
        (splits.validation, splits.test),
    ):
        assert shared_keys(a, b) == {"source": set(), "target": set()}
    # the old split, by source sentence alone, leaked: a test target trained on through a paraphrase
    tests = [Pair("Je sais que tu es 1.", "I know you are 1.")]
    assert shared_keys([Pair("Je sais que vous êtes 1.", "I know you are 1.")], tests)["target"]
    again = split_by_component(pairs, test=100, validation=50, seed=3)
    assert again.test == splits.test and again.train == splits.train
    assert split_by_component(pairs, test=100, validation=50, seed=4).test != splits.test
    with pytest.raises(DataError, match="cannot make"):
        split_by_component(pairs[:10], test=10, validation=5)
    with pytest.raises(DataError, match="leave no training set"):
        split_by_component(paraphrases(4)[-4:], test=1, validation=1)  # one group of four pairs


def test_components_join_pairs_through_either_side():
    pairs = [Pair("a", "x"), Pair("b", "x"), Pair("B!", "y"), Pair("c", "z")]
    assert components(pairs) == [[0, 1, 2], [3]]


def test_references_gather_every_target_of_a_source():
    pairs = [Pair("Va !", "Go."), Pair("va", "Go away."), Pair("Salut.", "Hi."), Pair("Va !", "Go.")]
    assert references(pairs) == (["Va !", "Salut."], [["Go.", "Go away."], ["Hi."]])


@pytest.mark.parametrize("preset", ["fast", "kor"])
def test_real_splits_share_no_key_on_either_side(preset):
    """The presets' splits of the real Tatoeba data: no source or target of a test or validation
    pair is, up to match_key, in training (nor test in validation)."""
    from rnnkit.tasks import translate

    folder = tatoeba_folder()
    config = translate.preset(preset)
    splits = translate.load_splits(config, folder)
    assert len(splits.test) >= config.test_pairs and len(splits.validation) >= config.validation_pairs
    for a, b in (
        (splits.train, splits.test),
        (splits.train, splits.validation),
        (splits.validation, splits.test),
    ):
        assert shared_keys(a, b) == {"source": set(), "target": set()}


def tatoeba_folder():
    import os
    from pathlib import Path

    for root in (os.environ.get("RNNKIT_DATA"), Path(__file__).parents[2] / "shared" / "data"):
        if root and any((Path(root) / "tatoeba").glob("*-eng.zip")):
            return Path(root) / "tatoeba"
    pytest.skip("the Tatoeba zips are not here (set RNNKIT_DATA)")
