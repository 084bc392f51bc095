"""``rnnkit lm``: character-level language models: train, sample, look inside, make music."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import ConfigError, InputError
from . import catalog, common
from .task_command import add_run_command


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("lm", help="character-level language models (Shakespeare, any text, music)")
    sub = parser.add_subparsers(dest="lm_command", required=True)

    hello = sub.add_parser("hello", help='the lecture\'s "hell" -> "o" with rnnkit layers and autograd')
    hello.add_argument("--word", default="hello", help="training word over h, e, l, o (default: %(default)s)")
    hello.add_argument(
        "--cell", default="rnn", choices=("rnn", "lstm", "gru"), help="recurrent layer (default: %(default)s)"
    )
    hello.add_argument("--hidden", type=int, default=8, help="hidden units H (default: %(default)s)")
    hello.add_argument("--steps", type=int, default=200, help="Adam steps (default: %(default)s)")
    hello.add_argument(
        "--seed", type=int, default=0, help="seed of the initial weights (default: %(default)s)"
    )
    hello.set_defaults(func=cmd_hello)

    train = sub.add_parser("train", help="train on a UTF-8 text file (resumes an interrupted --out)")
    train.add_argument("--text", required=True, help="UTF-8 text file; the last 10%% is the validation text")
    _add_training_options(train, default_preset="shakespeare-15min", nproc=True)
    train.set_defaults(func=cmd_train)

    evaluate = add_run_command(
        sub, "evaluate", "validation loss of a run's best weights on a text's last 10%%"
    )
    evaluate.add_argument("--text", required=True, help="the text the run was trained on")
    evaluate.set_defaults(func=cmd_evaluate)

    sample = add_run_command(sub, "sample", "generate text from a trained run (streams to stdout)")
    sample.add_argument("--prime", default="\n", help="text to start from (default: a newline)")
    sample.add_argument(
        "--length", type=int, default=500, help="characters to generate (default: %(default)s)"
    )
    _add_temperature(sample)
    sample.add_argument("--top-k", type=int, help="sample only among the K most likely characters")
    sample.add_argument("--seed", type=int, help="fix the draw (the same seed gives the same text)")
    sample.set_defaults(func=cmd_sample)

    view = add_run_command(sub, "activations", "colour each character by a hidden unit (HTML + PNG)")
    _add_text_source(view)
    view.add_argument("--unit", type=int, help="the unit to show (default: the one tracking --feature best)")
    view.add_argument(
        "--feature",
        default="inside_quotes",
        choices=catalog.FEATURES,
        help="feature the unit tracks (default: %(default)s)",
    )
    _add_state_options(view)
    view.add_argument("--out", default=None, help="folder for the HTML and PNG (default: RUN/activations)")
    view.set_defaults(func=cmd_activations)

    units = add_run_command(sub, "units", "rank hidden units by how well they track simple features")
    _add_text_source(units)
    _add_state_options(units)
    units.add_argument("--top", type=int, default=3, help="units shown per feature (default: %(default)s)")
    units.set_defaults(func=cmd_units)

    music = sub.add_parser("music", help="train on ABC folk tunes and write new ones")
    music.add_argument("--abc", required=True, help="an .abc file or a folder of them (Nottingham)")
    music.add_argument("--tunes", type=int, default=5, help="tunes to generate (default: %(default)s)")
    _add_temperature(music)
    music.add_argument("--seed", type=int, default=0, help="seed of the generation (default: %(default)s)")
    _add_training_options(music, default_preset="music", default_out="runs/music")
    music.set_defaults(func=cmd_music)


def _add_text_source(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="UTF-8 file to read (e.g. the training text)")
    source.add_argument("--string", help="the text itself")
    parser.add_argument(
        "--chars", type=int, default=2000, help="use the first N characters (default: %(default)s)"
    )


def _add_temperature(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--temperature",
        type=float,
        default=0.8,
        help="below 1: likelier characters, above: more varied (default: %(default)s)",
    )


def _add_state_options(parser: argparse.ArgumentParser) -> None:
    """Which hidden states a view reads: ``--what`` and ``--layer``."""
    parser.add_argument(
        "--what",
        default="h",
        choices=("h", "c"),
        help="h_t, or the LSTM cell state tanh(c_t) (default: %(default)s)",
    )
    parser.add_argument(
        "--layer", type=int, default=-1, help="recurrent layer, from 0; -1: the last (default: %(default)s)"
    )


OPTIONS = (
    common.Override("--cell", "model.cell", str, "recurrent layer", choices=("rnn", "lstm", "gru")),
    common.Override("--hidden", "model.hidden_size", int, "hidden units per layer"),
    common.Override("--layers", "model.num_layers", int, "recurrent layers"),
    common.Override("--embed", "model.embed_dim", int, "embedding size; 0 for one-hot inputs"),
    common.Override("--seq-len", "seq_len", int, "BPTT chunk length T"),
    common.BATCH_SIZE,
    common.LR,
    common.EPOCHS.with_help("passes over the training text (upper bound)"),
    common.MINUTES,
    common.DEVICE,
)


def _add_training_options(
    parser: argparse.ArgumentParser, default_preset: str, default_out=None, nproc: bool = False
) -> None:
    common.add_run_options(parser, catalog.PRESETS["charlm"], default_preset, default_out, nproc=nproc)
    common.add_overrides(parser, OPTIONS)


def _train(args: argparse.Namespace, text_path: str) -> tuple[Path, dict]:
    from ..tasks import charlm

    config = common.config_from_args(charlm.preset(args.preset), args, OPTIONS)
    # the run directory after the config: a bad option clears nothing
    run_dir, results = common.train_task(charlm, config, args, text_path)
    print(
        f"best validation loss {results['best_val_loss']:.4f} nats/char "
        f"({results['best_val_bits_per_char']:.3f} bits/char) "
        f"at {results['best_elapsed_seconds'] / 60:.1f} min; "
        f"{results['parameters']:,} parameters; run: {run_dir}"
    )
    return run_dir, results


def cmd_hello(args: argparse.Namespace) -> int:
    from ..tasks import charlm

    start = time.perf_counter()
    result = charlm.train_hello(args.word, args.cell, args.hidden, args.steps, args.seed)
    seconds = time.perf_counter() - start
    print(
        f'rnnkit.{args.cell.upper()} with one-hot inputs, trained on "{args.word}" '
        f"({args.steps} Adam steps, {seconds:.2f} s)"
    )
    print(result.table())
    print(f'after "{result.inputs}" the model predicts "{result.predicted[-1]}"')
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    _train(args, args.text)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..tasks import charlm

    metrics = charlm.evaluate(args.run, args.text)
    print(f"validation loss {metrics['loss']:.4f} nats/char ({metrics['bits_per_char']:.3f} bits/char)")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from ..tasks import charlm

    model, vocab, _ = charlm.load_run(args.run)
    if args.length < 1:
        raise ConfigError(f"--length must be >= 1, got {args.length}")
    stream = charlm.sample(model, vocab, args.prime, args.length, args.temperature, args.top_k, args.seed)
    # One character at a time is latency-bound: one thread beats two, which wait on each other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        sys.stdout.write(args.prime)
        for char in stream:
            sys.stdout.write(char)
            sys.stdout.flush()
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    sys.stdout.write("\n")
    print(
        f"[{args.length} characters in {seconds:.2f} s: {args.length / seconds:,.0f} chars/s]",
        file=sys.stderr,
    )
    return 0


def _read_source(args: argparse.Namespace) -> str:
    from ..data.text import read_text

    text = args.string if args.string is not None else read_text(args.text)
    if not text:
        raise InputError("the text is empty")
    return text[: args.chars]


def cmd_activations(args: argparse.Namespace) -> int:
    from ..tasks import charlm
    from ..viz import FEATURES, activation_html, activation_png, hidden_states, rank_units

    model, vocab, _ = charlm.load_run(args.run)
    text = _read_source(args)
    states = hidden_states(model, vocab, text, args.layer, args.what)  # (N, H)
    unit = args.unit
    if unit is None:
        unit, corr = rank_units(states, FEATURES[args.feature](text), top=1)[0]
        print(f"unit {unit} tracks {args.feature} best (correlation {corr:+.2f})")
    elif not 0 <= unit < states.shape[1]:
        raise ConfigError(f"--unit must be in [0, {states.shape[1] - 1}], got {unit}")
    out = Path(args.out or Path(args.run) / "activations")
    out.mkdir(parents=True, exist_ok=True)
    title = f"{args.what} unit {unit} of layer {args.layer % model.config.num_layers}"
    html_path = out / f"unit{unit}.html"
    html_path.write_text(activation_html(text, states[:, unit], title), encoding="utf-8")
    png_path = activation_png(text[:1200], states[:1200, unit], out / f"unit{unit}.png", title)
    print(f"wrote {html_path} and {png_path}")
    return 0


def cmd_units(args: argparse.Namespace) -> int:
    from ..tasks import charlm
    from ..viz import FEATURES, hidden_states, rank_units

    model, vocab, _ = charlm.load_run(args.run)
    text = _read_source(args)
    states = hidden_states(model, vocab, text, args.layer, args.what)
    print(
        f"{len(text)} characters, {states.shape[1]} units of {args.what}; "
        "Pearson correlation with each feature"
    )
    for name, feature in FEATURES.items():
        values = feature(text)
        if values.std() == 0:
            print(f"  {name:18s} (constant over this text; skipped)")
            continue
        ranked = "  ".join(f"unit {u:4d}: {c:+.2f}" for u, c in rank_units(states, values, args.top))
        print(f"  {name:18s} {ranked}")
    return 0


def cmd_music(args: argparse.Namespace) -> int:
    from ..data import abc
    from ..tasks import charlm

    collection = abc.read_collection(args.abc)
    run_dir = Path(args.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    corpus = run_dir / "corpus.abc"
    corpus.write_text(collection, encoding="utf-8")
    run_dir, _ = _train(args, str(corpus))
    model, vocab, _ = charlm.load_run(run_dir)
    tunes = charlm.sample_tunes(model, vocab, args.tunes, args.temperature, seed=args.seed)
    valid = 0
    for tune in tunes:
        problems = abc.check_tune(tune)
        valid += not problems
        title = next((line for line in tune.splitlines() if line.startswith("T:")), "(no title)")
        print(f"{'valid  ' if not problems else 'INVALID'}  {title}  {'; '.join(problems)}")
    path = run_dir / "tunes.abc"
    path.write_text("\n\n".join(tunes) + "\n", encoding="utf-8")
    print(
        f"{valid} of {len(tunes)} generated tunes have a valid header (X:, T:, M:, K:) and body; wrote {path}"
    )
    return 0
