"""``rnnkit dna RUN SEQUENCE --explain PNG`` and ``rnnkit dna RUN --scan FILE``: which bases decided
a prediction, and the candidate sites along a longer sequence (the views of :mod:`.dna`'s predict)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import common
from .task_command import report_errors

BOLD_RED, RESET = "\033[1;31m", "\033[0m"


def numbered(path: str, k: int, many: bool) -> str:
    """``path`` for one output; ``stem-k.suffix`` for output k of several."""
    if not many:
        return path
    p = Path(path)
    return str(p.with_name(f"{p.stem}-{k}{p.suffix or '.png'}"))


def marked(sequence: str, decisive, tty: bool) -> list[str]:
    """The sequence with its decisive bases in bold red on a terminal; elsewhere the sequence and a
    line of ``^`` under the decisive bases."""
    if tty:
        return ["".join(f"{BOLD_RED}{b}{RESET}" if d else b for b, d in zip(sequence, decisive))]
    return [sequence, "".join("^" if d else " " for d in decisive).rstrip()]


def cmd_explain(args: argparse.Namespace, entries: list[tuple[str, str]]) -> int:
    from ..errors import InputError
    from ..tasks import dna
    from ..tasks.dna import explain

    good, answers = [], []
    for name, sequence in entries:
        try:
            dna.encode(sequence, name)
            good.append((name, sequence))
            answers.append(None)
        except InputError as error:
            answers.append({"name": name, "error": str(error)})
    bases = sum(len(sequence) for _, sequence in good)
    common.use_inference_threads(args.threads, min(1 + 4 * bases, dna.EVAL_BATCH))
    models = dna.Predictor.from_run(args.run).models
    with common.counting("explaining", 1 + 4 * bases, "mutants", least=20_000) as progress:
        found = iter(explain.saturation_mutagenesis(models, good, progress=progress))
    many = len(entries) > 1
    tty = sys.stdout.isatty()
    for k, answer in enumerate(answers, 1):
        if answer is not None:
            print(
                json.dumps(answer) if args.format == "json" else f"{answer['name']}  error: {answer['error']}"
            )
            continue
        attribution = next(found)
        png = numbered(args.explain, k, many)
        explain.logo(attribution, png)
        if args.format == "json":
            print(json.dumps({**attribution.as_dict(), "png": png}))
            continue
        probs = "  ".join(f"P({c}) {p:.3f}" for c, p in zip(dna.CLASSES, attribution.probabilities))
        print(f"{attribution.name}  {attribution.label}  {probs}")
        for line in marked(attribution.sequence, explain.decisive(attribution.importance), tty):
            print(f"  {line}")
        print(f"  logo: {png}")
    return report_errors(sum(a is not None for a in answers), len(answers), "sequence")


def cmd_scan(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..tasks import dna
    from ..tasks.dna import scan

    if not args.scan:
        print("error: --plot draws a --scan's track; add --scan FILE", file=sys.stderr)
        return 2
    if args.sequences or args.file or args.explain:
        print(
            "error: --scan reads its sequences from its FILE; leave out SEQUENCE, --file and --explain",
            file=sys.stderr,
        )
        return 2
    threshold = 0.5 if args.threshold is None else args.threshold
    if not 0 <= threshold <= 1:
        print(f"error: --threshold must be a probability in [0, 1], got {threshold}", file=sys.stderr)
        return 2
    entries = dna.read_inputs(common.input_lines(args.scan, []), "line")
    common.use_inference_threads(args.threads, dna.EVAL_BATCH)
    models = dna.Predictor.from_run(args.run).models
    many, errors = len(entries) > 1, 0
    for k, (name, sequence) in enumerate(entries, 1):
        try:
            with common.counting(
                f"scanning {name}", max(len(sequence) - dna.WINDOW + 1, 0), "windows"
            ) as progress:
                track = scan.scan(models, name, sequence, progress=progress)
        except InputError as error:
            errors += 1
            print(
                json.dumps({"name": name, "error": str(error)})
                if args.format == "json"
                else f"{name}  error: {error}"
            )
            continue
        sites = track.sites(threshold)
        png = numbered(args.plot, k, many) if args.plot else None
        if png:
            scan.track_plot(track, png, threshold)
        if args.format == "json":
            first, last = int(track.positions[0]), int(track.positions[-1])
            print(
                json.dumps(
                    {
                        "name": name,
                        "length": track.length,
                        "scanned": [first, last],
                        "threshold": threshold,
                        "sites": sites,
                        **({"plot": png} if png else {}),
                    }
                )
            )
            continue
        first, last = track.positions[0], track.positions[-1]
        print(
            f"{name}: {track.length:,} bases, the junctions after base {first:,} to {last:,} scanned, "
            f"{len(sites)} site(s) with P >= {threshold:g}"
        )
        for site in sites:
            p = site["position"]
            context = f"{sequence[p - 5 : p]}|{sequence[p : p + 5]}"
            print(f"  {p:>8,}  {site['site']:8s}  P({site['class']}) {site['probability']:.3f}  {context}")
        if png:
            print(f"  track: {png}")
    return report_errors(errors, len(entries), "sequence", verb="scanned")


__all__ = ["cmd_explain", "cmd_scan", "marked", "numbered"]
