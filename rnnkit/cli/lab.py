"""``rnnkit lab``: the long-term dependency lab (adding problem, vanishing and exploding gradients)."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from . import catalog, common

if TYPE_CHECKING:
    from ..tasks import adding

THREADS_WHY = "fastest for these small matrices"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("lab", help="long-term dependencies: adding problem, vanishing/exploding")
    sub = parser.add_subparsers(dest="lab_command", required=True)

    run = sub.add_parser("adding", help="RNN vs LSTM vs GRU on the adding problem at equal parameter budgets")
    _add_adding_options(run)
    run.add_argument("--out", help="output directory (default: runs/lab/adding_T<T>)")
    run.set_defaults(func=cmd_adding)

    grads = sub.add_parser("gradients", help="||dL/dh_t|| against t, at initialisation and after training")
    _add_adding_options(grads)
    grads.add_argument(
        "--from", dest="from_run", help="an `rnnkit lab adding` --out to take the trained weights from"
    )
    grads.add_argument(
        "--batch",
        type=int,
        default=256,
        help="sequences the gradient norms are averaged over (default: %(default)s)",
    )
    grads.add_argument("--out", default="runs/lab/gradients", help="output directory (default: %(default)s)")
    grads.set_defaults(func=cmd_gradients)

    explode = sub.add_parser("exploding", help="a vanilla RNN that diverges without gradient clipping")
    defaults = catalog.EXPLODING
    common.add_defaulted(
        explode,
        ("--T", int, defaults["T"], "sequence length"),
        ("--radius", float, defaults["spectral_radius"], "spectral radius of W_hh"),
        ("--lr", float, defaults["lr"], "SGD learning rate"),
        ("--clip-norm", float, defaults["clip_norm"], "clipping of the second run"),
        ("--steps", int, defaults["steps"], "SGD steps"),
        ("--seed", int, defaults["seed"], "seed of the weights and the data"),
        ("--out", str, "runs/lab/exploding", "output directory"),
    )
    common.add_threads(explode, THREADS_WHY)
    explode.set_defaults(func=cmd_exploding)


def _add_adding_options(parser: argparse.ArgumentParser) -> None:
    defaults = catalog.ADDING
    common.add_defaulted(
        parser,
        ("--T", int, defaults["T"], "sequence length"),
        ("--cells", str, "rnn,lstm,gru", "comma-separated: rnn, lstm, gru"),
        ("--steps", int, defaults["steps"], "at most this many Adam steps per cell"),
        ("--budget", int, defaults["budget"], "parameters per model"),
        ("--lr", float, defaults["lr"], "Adam learning rate"),
        ("--batch-size", int, defaults["batch_size"], "sequences per Adam step"),
        ("--eval-every", int, defaults["eval_every"], "steps between test MSEs"),
        ("--stop-mse", float, defaults["stop_mse"], "stop a cell below this test MSE", "0: never"),
        ("--seed", int, defaults["seed"], "seed of the weights and the data"),
    )
    common.add_threads(parser, THREADS_WHY)


def _config(args: argparse.Namespace) -> adding.AddingConfig:
    from ..tasks import adding

    common.set_threads(args)
    return adding.AddingConfig(**_option_values(args, catalog.ADDING))


def _option_values(args: argparse.Namespace, fields: dict, **flags: str) -> dict:
    """The values of the options that set the config's ``fields``: each option is named after its
    field, but for those that ``flags`` names (``spectral_radius="radius"``: ``--radius``)."""
    return {field: getattr(args, flags.get(field, field)) for field in fields}


class _EvalLine:
    """One stderr line per test evaluation."""

    def __init__(self, cell: str, config: adding.AddingConfig) -> None:
        self.cell, self.config, self.start = cell, config, time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        step = epoch * self.config.eval_every
        print(
            f"  {self.cell:4s} step {step:5d}/{self.config.steps}  train MSE {logs['loss']:.4f}  "
            f"test MSE {logs['val_loss']:.4f}  {time.perf_counter() - self.start:4.0f} s",
            file=sys.stderr,
            flush=True,
        )


def _train_cells(config: adding.AddingConfig, cells: tuple[str, ...], out: Path) -> list[adding.CellResult]:
    from ..tasks import adding
    from ..train import checkpoint as ckpt

    print(f"adding problem, T={config.T}: budget {config.budget:,} parameters per model", file=sys.stderr)
    results = []
    for cell in cells:
        results.append(adding.train_cell(config, cell, out / cell, callbacks=[_EvalLine(cell, config)]))
    ckpt.save_json(
        {"config": dataclasses.asdict(config), "results": [dataclasses.asdict(r) for r in results]},
        out / "results.json",
    )
    return results


def cmd_adding(args: argparse.Namespace) -> int:
    from ..tasks import adding

    config = _config(args)
    cells = adding.parse_cells(args.cells)
    out = Path(args.out or f"runs/lab/adding_T{config.T}")
    results = _train_cells(config, cells, out)
    print(f"\nadding problem T={config.T}, batch {config.batch_size}, Adam lr {config.lr}, ", end="")
    print(f"clip_norm {config.clip_norm}")
    header = ("cell", "hidden", "params", "test MSE", "steps", "to <0.01", "time")
    print("{:6s} {:>6s} {:>7s} {:>9s} {:>6s} {:>8s} {:>7s}".format(*header))
    for r in results:
        reached = "-" if r.steps_to_001 is None else str(r.steps_to_001)
        print(
            f"{r.cell:6s} {r.hidden:6d} {r.params:7,d} {r.test_mse:9.4f} {r.steps:6d} {reached:>8s} "
            f"{r.seconds:6.0f}s"
        )
    print(f"(predicting the mean gives MSE 1/6 = {adding.MEAN_BASELINE_MSE:.4f})")
    figure = adding.plot_learning_curves(results, config.T, out / f"adding_T{config.T}.png")
    print(f"learning curves: {figure}\nresults: {out / 'results.json'}")
    return 0


def cmd_gradients(args: argparse.Namespace) -> int:
    import torch

    from ..tasks import adding

    config = _config(args)
    cells = adding.parse_cells(args.cells)
    out = Path(args.out)
    if args.batch < 1:
        raise ConfigError(f"--batch must be >= 1, got {args.batch}")
    batch = adding.adding_batch(args.batch, config.T, torch.Generator().manual_seed(20_000 + config.seed))
    if args.from_run is None:
        print("no --from run given: training each cell first", file=sys.stderr)
        _train_cells(config, cells, out)
    run_dir = Path(args.from_run) if args.from_run else out
    models: dict[str, dict[str, adding.AddingModel]] = {"at initialisation": {}, "after training": {}}
    for cell in cells:
        hidden = adding.hidden_for_budget(cell, config.budget)
        torch.manual_seed(config.seed)  # the same initial weights as train_cell's
        models["at initialisation"][cell] = adding.AddingModel(cell, hidden)
        models["after training"][cell] = adding.load_trained(run_dir / cell, cell, hidden)
    probes = {
        stage: {cell: adding.hidden_gradients(model, batch) for cell, model in by_cell.items()}
        for stage, by_cell in models.items()
    }
    print(f"mean ||dL/dh_t|| over {args.batch} sequences, T={config.T}")
    print(f"{'cell':5s} {'stage':18s} {'t=1':>9s} {'t=T/2':>9s} {'t=T':>9s} {'ratio t=1 / t=T':>16s}")
    for stage, by_cell in probes.items():
        for cell, norms in by_cell.items():
            h = norms["h"]
            first, middle, last = h[0].item(), h[config.T // 2 - 1].item(), h[-1].item()
            print(f"{cell:5s} {stage:18s} {first:9.2e} {middle:9.2e} {last:9.2e} {first / last:16.2e}")
    print(
        "\nthe memory path: tanh' (rnn), forget gate f_t (lstm), update gate z_t (gru), over steps and batch"
    )
    print(f"{'cell':5s} {'stage':18s} {'||W_hh||_2':>10s} {'mean':>6s} {'top unit':>8s}")
    for stage, by_cell in models.items():
        for cell, model in by_cell.items():
            stats = adding.memory_statistics(model, batch)
            print(
                f"{cell:5s} {stage:18s} {stats['w_hh_norm']:10.2f} {stats['mean_gate']:6.3f} "
                f"{stats['top_unit_gate']:8.4f}"
            )
    figure = adding.plot_gradients(probes, config.T, out / "gradients.png")
    print(f"figure: {figure}")
    return 0


def cmd_exploding(args: argparse.Namespace) -> int:
    from ..tasks import exploding

    config = exploding.ExplodingConfig(**_option_values(args, catalog.EXPLODING, spectral_radius="radius"))
    common.set_threads(args)
    if config.clip_norm <= 0:
        raise ConfigError(f"--clip-norm must be > 0, got {config.clip_norm}")
    runs = exploding.exploding(config)
    print(
        f"vanilla tanh RNN, H={config.hidden_size}, W_hh spectral radius {config.spectral_radius}, "
        f"SGD lr {config.lr}, T={config.T}, batch {config.batch_size}, seed {config.seed}"
    )
    print(f"{'step':>5s} | {'no clipping':>24s} | {f'clip_norm={config.clip_norm}':>24s}")
    print(f"{'':5s} | {'loss':>11s} {'grad norm':>12s} | {'loss':>11s} {'grad norm':>12s}")
    none, clipped = runs["none"], runs["clipped"]
    shown = sorted({1, 2, 5, 10, *range(20, config.steps + 1, 20), len(none["loss"]), config.steps})
    for step in (s for s in shown if s <= config.steps):
        print(f"{step:5d} | {_cell(none, step)} | {_cell(clipped, step)}")
    for name, run in (("no clipping", none), ("clipped", clipped)):
        loss = run["loss"]
        if math.isfinite(loss[-1]):
            tail = loss[-20:]
            mean = sum(tail) / len(tail)
            print(f"{name}: finite for all {len(loss)} steps, mean loss of the last {len(tail)}: {mean:.4f}")
        else:
            print(f"{name}: loss became {loss[-1]} at step {len(loss)}")
    figure = exploding.plot_exploding(runs, config, Path(args.out) / "exploding.png")
    print(f"figure: {figure}")
    return 0


def _cell(run: dict[str, list[float]], step: int) -> str:
    if step > len(run["loss"]):
        return f"{'(stopped)':>24s}"
    loss = f"{run['loss'][step - 1]:11.4g}"
    if step > len(run["grad_norm"]):  # the loss was not finite: no backward pass
        return f"{loss} {'-':>12s}"
    return f"{loss} {run['grad_norm'][step - 1]:12.4g}"


__all__ = ["add_parser"]
