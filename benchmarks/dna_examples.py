"""The DNA docs' attribution and scan examples, from the test part of one fold of a cross-validated
run, explained by that fold's own model (which never trained on them):

- ``OUT/examples.fa``: the first donor (EI) and the first acceptor (IE) of the fold's test part, in
  file order (not chosen by how their figures look), for ``rnnkit dna RUN/folds/NN --explain``;
- ``OUT/scan.fa``: a made-up "gene" of test windows laid end to end (N, EI, N, IE, ...): splice.data
  holds 60-nt windows only, no gene; its true junctions are at 60 j + 30, listed in the header;
- on stdout: the mean importance per position over the fold's correctly predicted test donors and
  acceptors, the top positions, and, at -20..-5 of the acceptors, the mean change of log p(IE) when
  a pyrimidine becomes a purine versus when C and T swap (does the polypyrimidine tract count?).

    python benchmarks/dna_examples.py runs/dna-cv10 --data ../shared/data --fold 1 --out /tmp/dna
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rnnkit.tasks import dna
from rnnkit.tasks.dna import explain
from rnnkit.train.cv import Splits

PATTERN = ("N", "EI", "N", "IE")  # the made-up gene's windows, repeated
REPEATS = 4
PYRIMIDINE_TO_PURINE = ((1, 0), (1, 2), (3, 0), (3, 2))  # (from, to) in ACGT order: C/T -> A/G
PYRIMIDINE_SWAP = ((1, 3), (3, 1))  # C <-> T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a cross-validated dna run")
    parser.add_argument("--data", help="splice.data or its folder")
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--out", default="/tmp/dna")
    args = parser.parse_args()
    corpus = dna.read_splice(dna.find(args.data))
    test = Splits.load(Path(args.run) / dna.SPLITS_FILE)[args.fold - 1].test
    by_class = {label: [i for i in test if dna.CLASSES[corpus.labels[i]] == label] for label in dna.CLASSES}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    first = [by_class["EI"][0], by_class["IE"][0]]
    (out / "examples.fa").write_text("".join(f">{corpus.names[i]}\n{corpus.sequences[i]}\n" for i in first))
    taken = {label: iter(indices) for label, indices in by_class.items()}
    gene = [next(taken[label]) for _ in range(REPEATS) for label in PATTERN]
    junctions = " ".join(f"{60 * j + 30}:{dna.CLASSES[corpus.labels[i]]}" for j, i in enumerate(gene))
    sequence = "".join(corpus.sequences[i] for i in gene)
    (out / "scan.fa").write_text(f">made-up-gene junctions {junctions}\n{sequence}\n")
    print(f"wrote {out / 'examples.fa'} and {out / 'scan.fa'} ({len(sequence)} bases; junctions {junctions})")

    models = dna.Predictor.from_run(dna.fold_dir(args.run, args.fold)).models
    labels = explain.window_positions(dna.WINDOW)
    for label in ("EI", "IE"):
        chosen = by_class[label]
        found = explain.saturation_mutagenesis(
            models, [(corpus.names[i], corpus.sequences[i]) for i in chosen]
        )
        right = [a for a in found if a.label == label]
        mean = np.mean([a.importance for a in right], axis=0)  # (60,)
        top = sorted(np.argsort(-mean)[:8])
        print(
            f"{label}: {len(right)} of {len(chosen)} test windows right; the top positions' mean importance:"
        )
        print("  " + ", ".join(f"{labels[t]} {mean[t]:.2f}" for t in top))
        if label == "IE":
            for name, pairs in (("C/T -> A/G", PYRIMIDINE_TO_PURINE), ("C <-> T", PYRIMIDINE_SWAP)):
                changes = [
                    a.delta[t, to]
                    for a in right
                    for t in range(10, 26)  # positions -20..-5
                    for source, to in pairs
                    if a.sequence[t].upper() == dna.BASES[source]
                ]
                print(
                    f"  -20..-5, {name}: mean change of log p(IE) {np.mean(changes):+.3f}, "
                    f"{len(changes)} mutations"
                )


if __name__ == "__main__":
    main()
