"""The inputs that the docs' commands name and a user brings (``a.wav``, ``seqs.fa``, ``TRAIN.ts``,
``my_texts/``, ...), made small from the real datasets for benchmarks/docs_trial.py.

Each is written under the clone's root, where the commands run, by the name the docs give it;
``PLACEHOLDERS`` are words of a command that stand for a user's own (``RUN``, ``FILE``, ``ACGT...``)
and what the trial puts in their place."""

from __future__ import annotations

import shutil
import subprocess
import wave
import zipfile
from pathlib import Path

SPLICE_FIRST = "CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG"  # ATRINS-DONOR-521
PLACEHOLDERS = {
    "ACGT...": SPLICE_FIRST,
    "RUN": "runs/shakespeare",  # the one shown with RUN: `rnnkit lm evaluate RUN --text FILE`
    "FILE": "../shared/data/tinyshakespeare/input.txt",
}
REVIEWS = [
    "A warm, funny film with a wonderful cast; I loved every minute of it.",
    "Dull and far too long. The plot goes nowhere and the acting is wooden.",
    "Not the best of the series, but the last half hour is gripping.",
]
SENTENCES = ["Yesterday, Harry Potter met Hermione Granger.", "Angela Merkel visited Paris in May."]


def make_inputs(root: Path, data: Path, python: str) -> list[str]:
    """Write the stand-ins under ``root`` from the datasets in ``data``; return what was made."""
    made = [_audio(root, data, python), _text(root, data), _dna(root, data), _skeletons(root, data)]
    made.append("placeholders: " + ", ".join(f"{k} -> {v[:24]}" for k, v in PLACEHOLDERS.items()))
    return made


def _audio(root: Path, data: Path, python: str) -> str:
    recordings = data / "fsdd" / "recordings"
    shutil.copy(recordings / "3_jackson_0.wav", root / "a.wav")
    digits = [recordings / f"{d}_jackson_1.wav" for d in (4, 0, 7)]
    with wave.open(str(root / "3-digits.wav"), "wb") as out:
        for i, path in enumerate(digits):
            with wave.open(str(path), "rb") as part:
                if i == 0:
                    out.setparams(part.getparams())
                out.writeframes(part.readframes(part.getnframes()))
    sentences = sorted((data / "speechocean762" / "audio").glob("SPEAKER*/*.opus"))[:2]
    shutil.copy(sentences[0], root / "b.opus")
    shutil.copy(sentences[1], root / "c.opus")
    to_flac = "import soundfile as sf, sys; x, rate = sf.read(sys.argv[1]); sf.write(sys.argv[2], x, rate)"
    for name, source in (("b.flac", recordings / "5_george_0.wav"), ("c.flac", recordings / "9_lucas_0.wav")):
        subprocess.run([python, "-c", to_flac, str(source), str(root / name)], check=True)
    (root / "list.txt").write_text("a.wav\nb.opus\n3-digits.wav\n")
    return (
        "a.wav (fsdd 3_jackson_0), 3-digits.wav (fsdd 4, 0, 7 of jackson, joined), b.opus and c.opus "
        f"({sentences[0].stem}, {sentences[1].stem} of speechocean762), b.flac and c.flac (fsdd 5_george_0, "
        "9_lucas_0 re-encoded), list.txt (a.wav, b.opus, 3-digits.wav)"
    )


def _text(root: Path, data: Path) -> str:
    (root / "reviews.txt").write_text("\n".join(REVIEWS) + "\n")
    (root / "sentences.txt").write_text("\n".join(SENTENCES) + "\n")
    with zipfile.ZipFile(data / "tatoeba" / "fra-eng.zip") as archive:
        pairs = archive.read("fra.txt").decode("utf-8").splitlines()
    french = [pairs[i].split("\t")[1] for i in (20_000, 60_000, 120_000)]
    (root / "french.txt").write_text("\n".join(french) + "\n")
    shakespeare = (data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    texts = root / "my_texts"
    texts.mkdir()
    for i in range(40):
        (texts / f"part{i:02d}.txt").write_text(shakespeare[i * 5000 : (i + 1) * 5000])
    return (
        "reviews.txt (3 reviews), sentences.txt (2 sentences), french.txt (fra-eng lines 20,000, 60,000, "
        "120,000), my_texts/ (40 files of 5,000 characters of tinyshakespeare)"
    )


def _dna(root: Path, data: Path) -> str:
    rows = [line.split(",") for line in (data / "splice" / "splice.data").read_text().splitlines()]
    picked = [rows[0], rows[800], rows[2000]]  # one EI, one IE, one N
    (root / "seqs.fa").write_text("".join(f">{name.strip()}\n{seq.strip()}\n" for _, name, seq in picked))
    genomic = "".join(seq.strip() for _, _, seq in rows[1000:1008])
    (root / "genomic.fa").write_text(f">splice-1000-1007 joined\n{genomic}\n")
    return "seqs.fa (splice rows 1, 801, 2001), genomic.fa (splice rows 1001-1008 joined: 480 bases)"


def _skeletons(root: Path, data: Path) -> str:
    """Actions 1 and 2 (high and horizontal arm wave), odd subjects for training, even for testing,
    as UEA/UCR .ts pairs and as a LABEL/NAME.csv folder."""
    folder = data / "msr_action3d"
    cases = {"train": [], "test": []}
    for action in (1, 2):
        clips = sorted(folder.glob(f"a{action:02d}_s*_e01_skeleton3D.txt"))
        for path in [p for p in clips if int(p.name[5:7]) % 2][:3] + [
            p for p in clips if not int(p.name[5:7]) % 2
        ][:3]:
            subject = int(path.name[5:7])
            numbers = [line.split()[:3] for line in path.read_text().split("\n") if line.strip()]
            frames = [
                [v for joint in numbers[f * 20 : (f + 1) * 20] for v in joint]
                for f in range(len(numbers) // 20)
            ]
            cases["train" if subject % 2 else "test"].append((f"a{action:02d}", path.stem, frames))
    for split, names in (
        ("train", ("TRAIN.ts", "BasicMotions_TRAIN.ts")),
        ("test", ("TEST.ts", "BasicMotions_TEST.ts")),
    ):
        lines = ["@problemName msr_arm_waves", "@timeStamps false", "@missing false", "@univariate false"]
        lines += ["@dimensions 60", "@equalLength false", "@classLabel true a01 a02", "@data"]
        for label, _, frames in cases[split]:
            channels = [",".join(frame[c] for frame in frames) for c in range(60)]
            lines.append(":".join(channels) + ":" + label)
        for name in names:
            (root / name).write_text("\n".join(lines) + "\n")
    for label, stem, frames in cases["train"] + cases["test"]:
        (root / "my_recordings" / label).mkdir(parents=True, exist_ok=True)
        rows = [",".join(f"j{j}_{axis}" for j in range(20) for axis in "xyz")] + [",".join(f) for f in frames]
        (root / "my_recordings" / label / f"{stem}.csv").write_text("\n".join(rows) + "\n")
    return (
        "TRAIN.ts / TEST.ts and BasicMotions_TRAIN.ts / BasicMotions_TEST.ts (msr_action3d actions 1-2, "
        "the first 3 odd / even subjects' e01, 60 channels), my_recordings/a01|a02/*.csv (the same 12 clips)"
    )
