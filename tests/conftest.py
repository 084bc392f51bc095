import io
import random
import tarfile

import pytest
import torch

torch.set_num_threads(1)  # tiny tensors: threads only add noise and time

POSITIVE = ["great", "wonderful", "superb", "moving", "brilliant", "loved", "excellent", "charming"]
NEGATIVE = ["awful", "boring", "terrible", "dull", "waste", "hated", "poor", "clumsy"]
NEUTRAL = ["the", "movie", "film", "plot", "actors", "story", "was", "and", "a", "it", "of", "scenes"]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def no_plots():
    """The trainer without curves.png, for the tests of the module that asks: drawing it takes a
    second, on a timer, and proves nothing where only the weights and logs are compared."""
    from rnnkit.train import Trainer

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Trainer, "_plot", lambda self: None)
        yield


def fake_review(rng: random.Random, positive: bool) -> str:
    words = [rng.choice(NEUTRAL) for _ in range(rng.randint(5, 30))]
    for _ in range(rng.randint(2, 4)):
        words.insert(rng.randrange(len(words)), rng.choice(POSITIVE if positive else NEGATIVE))
    return " ".join(words).capitalize() + ".<br /><br />" + rng.choice(NEUTRAL) + "."


def write_imdb_tarball(path, per_class: int = 40, seed: int = 0) -> None:
    """A tiny archive in the official aclImdb_v1.tar.gz layout."""
    rng = random.Random(seed)
    with tarfile.open(path, "w:gz") as archive:
        for split in ("train", "test"):
            for label in ("pos", "neg", "unsup") if split == "train" else ("pos", "neg"):
                for i in range(per_class if label != "unsup" else 5):
                    positive = label == "pos" or (label == "unsup" and i % 2 == 0)
                    rating = rng.randint(7, 10) if positive else rng.randint(1, 4)
                    data = fake_review(rng, positive).encode()
                    info = tarfile.TarInfo(f"aclImdb/{split}/{label}/{i}_{rating}.txt")
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
        readme = b"Large Movie Review Dataset (tiny test copy)"
        info = tarfile.TarInfo("aclImdb/README")
        info.size = len(readme)
        archive.addfile(info, io.BytesIO(readme))


@pytest.fixture(scope="session")
def imdb_tarball(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "aclImdb_v1.tar.gz"
    write_imdb_tarball(path)
    return path
