"""``rnnkit ball``: train a recurrent net to predict a bouncing ball, against constant velocity."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import catalog, common

OPTIONS = (
    common.EPOCHS.with_help("training epochs (default 16)"),
    common.SEED.with_help("seed of the simulation and the training (default 0)"),
    common.Override("--cell", "cell", str, "recurrent cell (default lstm)", choices=catalog.BALL_CELLS),
    common.Override("--noise", "sim.noise", float, "observation noise, metres (default 0)"),
    common.Override(
        "--restitution", "sim.restitution", float, "share of the normal speed a bounce keeps (0.9)"
    ),
    common.Override(
        "--jitter", "jitter", float, "noise on the training inputs, metres (default 0.01; 0: none)"
    ),
    common.Override("--window", "window", int, "k past positions the model reads (default 10)"),
    common.Override("--hidden", "hidden_size", int, "hidden units (default 32)"),
    common.Override("--balls", "train_balls", int, "training balls (default 2000)"),
    common.Override("--horizon", "horizon", int, "rollout steps (default 30)"),
    common.LR.with_help("learning rate (default 3e-3, cosine decay)"),
    common.BATCH_SIZE.with_help("batch size (default 512)"),
    common.DEVICE,
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ball",
        help="the lecture's bouncing ball: predict the next position, roll out the future",
        description="Simulate balls bouncing in a box, train a many-to-one RNN on the last --window "
        "positions, and score it against the constant-velocity baseline (one step, at bounces, "
        "and a rollout). Writes the checkpoint, results.json and ball.png to --out (a fresh run).",
    )
    parser.add_argument("--out", default="runs/ball", help="run directory (default: runs/ball)")
    common.add_overrides(
        parser, OPTIONS, "override any config field, e.g. --set sim.gravity=0 --set test_balls=100"
    )
    common.add_threads(parser, "fastest for this small net")
    parser.set_defaults(func=cmd_ball)


def cmd_ball(args: argparse.Namespace) -> int:
    from ..tasks import ball

    common.set_threads(args)
    config = common.config_from_args(ball.BallConfig(), args, OPTIONS)
    out = Path(args.out)
    results = common.train_with_progress(
        lambda callbacks: ball.train(config, out, callbacks),
        out,
        f"training a {config.cell} ball predictor",
        resumable=False,
    )
    one, roll = results["one_step"], results["rollout"]
    name = config.cell
    print(f"one-step MAE on {one['steps']:,} test steps (metres, mean |error| of x and y):")
    print(f"  {'':24}{name:>10}{'constant velocity':>20}")
    print(f"  {'all steps':24}{one['model_mae']:>10.4f}{one['baseline_mae']:>20.4f}")
    at = f"bounce steps ({one['bounce_steps']:,})"
    print(f"  {at:24}{one['model_mae_bounce']:>10.4f}{one['baseline_mae_bounce']:>20.4f}")
    seconds = roll["horizon"] * config.sim.dt
    print(
        f"rollout over {roll['horizon']} steps ({seconds:.1f} s), mean distance from the true path: "
        f"{name} {roll['model_mean']:.3f} m, constant velocity {roll['baseline_mean']:.3f} m "
        f"(last step {roll['model_final']:.3f} vs {roll['baseline_final']:.3f} m)"
    )
    print(f"trained {results['epochs']} epochs in {results['train_seconds_total']:.0f} s")
    print(f"run: {args.out}  (figure {ball.FIGURE_FILE}, metrics {ball.RESULTS_FILE}, curves.png)")
    return 0


__all__ = ["add_parser"]
