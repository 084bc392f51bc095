"""``rnnkit ball``: train a recurrent net to predict a bouncing ball, against constant velocity."""

from __future__ import annotations

import argparse
import sys

import torch

from ..config import apply_overrides
from ..errors import ConfigError
from ..tasks import ball
from ..train import ProgressBar


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ball",
        help="the lecture's bouncing ball: predict the next position, roll out the future",
        description="Simulate balls bouncing in a box, train a many-to-one RNN on the last --window "
        "positions, and score it against the constant-velocity baseline (one step, at bounces, "
        "and a rollout). Writes the checkpoint, results.json and ball.png to --out (a fresh run).",
    )
    parser.add_argument("--out", default="runs/ball", help="run directory (default: runs/ball)")
    parser.add_argument("--epochs", type=int, help="training epochs (default 16)")
    parser.add_argument("--seed", type=int, help="seed of the simulation and the training (default 0)")
    parser.add_argument("--cell", choices=list(ball.LAYERS), help="recurrent cell (default lstm)")
    parser.add_argument("--noise", type=float, help="observation noise, metres (default 0)")
    parser.add_argument("--restitution", type=float, help="share of the normal speed a bounce keeps (0.9)")
    parser.add_argument(
        "--jitter", type=float, help="noise on the training inputs, metres (default 0.01; 0: none)"
    )
    parser.add_argument("--window", type=int, help="k past positions the model reads (default 10)")
    parser.add_argument("--hidden", type=int, help="hidden units (default 32)")
    parser.add_argument("--balls", type=int, help="training balls (default 2000)")
    parser.add_argument("--horizon", type=int, help="rollout steps (default 30)")
    parser.add_argument("--lr", type=float, help="learning rate (default 3e-3, cosine decay)")
    parser.add_argument("--batch-size", type=int, help="batch size (default 512)")
    parser.add_argument("--device", help="auto (default), cpu or cuda")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1: fastest for this small net)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set sim.gravity=0 --set test_balls=100",
    )
    parser.set_defaults(func=cmd_ball)


def _config(args: argparse.Namespace) -> ball.BallConfig:
    overrides = list(args.set)
    for flag, key in (
        ("epochs", "train.epochs"),
        ("seed", "train.seed"),
        ("cell", "cell"),
        ("noise", "sim.noise"),
        ("restitution", "sim.restitution"),
        ("jitter", "jitter"),
        ("window", "window"),
        ("hidden", "hidden_size"),
        ("balls", "train_balls"),
        ("horizon", "horizon"),
        ("lr", "train.lr"),
        ("batch_size", "train.batch_size"),
        ("device", "train.device"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    return apply_overrides(ball.BallConfig(), overrides)


def cmd_ball(args: argparse.Namespace) -> int:
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    config = _config(args)
    torch.set_num_threads(args.threads)
    print(
        f"training a {config.cell} ball predictor into {args.out} ({args.threads} thread(s))", file=sys.stderr
    )
    results = ball.train(config, args.out, callbacks=[ProgressBar()])
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
    print(f"trained {results['epochs']} epochs in {results['train_seconds']:.0f} s")
    print(f"run: {args.out}  (figure {ball.FIGURE_FILE}, metrics {ball.RESULTS_FILE}, curves.png)")
    return 0


__all__ = ["add_parser"]
