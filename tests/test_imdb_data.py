import itertools
import tarfile

import numpy as np
import pytest

from rnnkit.data import DataError, SequenceDataset, bucket_indices, imdb
from rnnkit.data.tokenizer import Tokenizer


def test_reads_the_tarball_without_unpacking(imdb_tarball):
    data = imdb.load(imdb_tarball, unsup=True)
    assert (len(data.train), len(data.validation), len(data.test)) == (72, 8, 80)
    assert len(data.unsup) == 5
    assert sum(data.test.labels) == 40
    assert all("<br" not in text for text in data.train.texts)
    ratings = np.array(data.train.ratings)
    labels = np.array(data.train.labels)
    assert np.all(ratings[labels == 1] >= 7) and np.all(ratings[labels == 0] <= 4)


def test_reads_the_extracted_folder_identically(imdb_tarball, tmp_path):
    with tarfile.open(imdb_tarball) as archive:
        archive.extractall(tmp_path, filter="data")
    from_folder = imdb.load(tmp_path)
    from_tar = imdb.load(imdb_tarball)
    assert from_folder.train.texts == from_tar.train.texts
    assert from_folder.validation.labels == from_tar.validation.labels


def test_validation_split_is_fixed_and_disjoint(imdb_tarball):
    a, b = imdb.load(imdb_tarball), imdb.load(imdb_tarball)
    assert a.validation.texts == b.validation.texts
    assert len(a.validation) == 8
    assert not set(map(id, a.validation.texts)) & set(map(id, a.train.texts))
    assert a.validation.texts[0] not in a.train.texts


def test_environment_variable_is_used(imdb_tarball, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(imdb_tarball.parent))
    assert imdb.resolve() == imdb_tarball


def test_missing_data_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.delenv("RNNKIT_DATA", raising=False)
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"put aclImdb_v1.tar.gz in .*cache or pass --data"):
        imdb.load(allow_download=False)
    with pytest.raises(DataError, match="no IMDB data at"):
        imdb.load(tmp_path / "nowhere")


def test_wrong_layout_and_damaged_archive(tmp_path):
    other = tmp_path / "other.tar.gz"
    with tarfile.open(other, "w:gz") as archive:
        archive.add(__file__, arcname="something/else.txt")
    with pytest.raises(DataError, match="not the IMDB layout"):
        imdb.load(other)
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(b"\x1f\x8b" + b"garbage" * 100)
    with pytest.raises(DataError, match="not a readable tar.gz"):
        imdb.load(damaged)


def test_subword_tokenizer_round_trips_exactly(imdb_tarball, tmp_path):
    data = imdb.load(imdb_tarball)
    tokenizer = Tokenizer.train(data.train.texts, "subword", 400)
    assert tokenizer.vocab_size <= 400
    for text in ("Hello TensorFlow.", "  Ünïcødé — and 😀, tabs\tand\nnewlines ", data.test.texts[0]):
        assert tokenizer.decode(tokenizer.encode(text)) == text
    assert 0 not in tokenizer.encode("Hello TensorFlow.")  # 0 is padding
    path = tmp_path / "tok.json"
    tokenizer.save(path)
    loaded = Tokenizer.load(path)
    assert loaded.kind == "subword" and loaded.encode("great film") == tokenizer.encode("great film")


def test_word_tokenizer(imdb_tarball):
    tokenizer = Tokenizer.train(imdb.load(imdb_tarball).train.texts, "word", 400)
    ids = tokenizer.encode("Great movie, zyzzyva!")
    assert tokenizer.decode(ids) == "great movie , <unk> !" or "<unk>" not in tokenizer.decode(ids)
    assert tokenizer.tokens("Great movie")[0] == "great"


def test_bucketing_covers_every_index_once_and_groups_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 500, size=1000)
    batches = bucket_indices(lengths, 32, shuffle=True, seed=3, pool=10)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    padded = sum(len(b) * lengths[b].max() for b in batches)
    random_padded = sum(len(b) * lengths[b].max() for b in np.array_split(rng.permutation(1000), 32))
    assert padded < 0.75 * random_padded  # bucketing removes most of the padding
    again = bucket_indices(lengths, 32, shuffle=True, seed=3, pool=10)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    other = bucket_indices(lengths, 32, shuffle=True, seed=4, pool=10)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))


def test_token_budget_caps_the_padded_size_of_sorted_batches():
    rng = np.random.default_rng(1)
    lengths = np.concatenate([rng.integers(1, 400, size=997), [2000, 5000, 3]])
    batches = bucket_indices(lengths, 64, shuffle=False, token_budget=4096)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert np.all(np.diff(lengths[np.concatenate(batches)]) >= 0)  # sorted by length throughout
    for batch in batches:
        size = len(batch) * lengths[batch].max()
        assert len(batch) <= 64 and (size <= 4096 or len(batch) == 1)
    # greedy and full: each batch stops only where one more review would break a limit
    for batch, following in itertools.pairwise(batches):
        longer = np.append(batch, following[0])
        assert len(longer) > 64 or len(longer) * lengths[longer].max() > 4096
    assert [len(b) for b in batches[-2:]] == [1, 1]  # 2000 and 5000 tokens: alone, over budget
    assert len(bucket_indices(lengths, 64, shuffle=False)) == 16  # no budget: by count alone
    with pytest.raises(ValueError, match="token_budget"):
        bucket_indices(lengths, 64, shuffle=True, token_budget=4096)
    with pytest.raises(ValueError, match="token_budget"):
        bucket_indices(lengths, 64, shuffle=False, token_budget=0)


def test_batches_keep_lengths_on_the_cpu_when_moved():
    """The layers read lengths on the CPU; moving them to a GPU would cost a host sync per layer."""
    dataset = SequenceDataset([[1, 2, 3], [4]], [1, 0], max_len=10)
    batch = next(iter(dataset.batches(2))).to("meta")
    assert batch.tokens.device.type == "meta" and batch.labels.device.type == "meta"
    assert batch.lengths.device.type == "cpu" and sorted(batch.lengths.tolist()) == [1, 3]
