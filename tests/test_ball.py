"""The bouncing ball: the simulator against physics, the baseline, a short training, the CLI."""

import json
import math

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.config import apply_overrides
from rnnkit.data import ball as balls
from rnnkit.tasks import ball

TINY = [
    "train_balls=300",
    "val_balls=50",
    "test_balls=100",
    "hidden_size=16",
    "sim.steps=60",
    "horizon=10",
    "train.batch_size=128",
    "train.lr=0.01",
    "train.epochs=4",
]


def energy(traj: balls.Trajectories, g: float) -> np.ndarray:
    return g * traj.positions[..., 1] + 0.5 * (traj.velocities**2).sum(-1)  # (N, T) per unit mass


def test_balls_stay_inside_the_box_and_bounces_lose_energy():
    sim = balls.SimConfig(steps=200)
    traj = balls.simulate(300, sim, seed=1)
    x, y = traj.positions[..., 0], traj.positions[..., 1]
    assert x.min() >= 0 and x.max() <= sim.width and y.min() >= 0 and y.max() <= sim.height
    assert x.min() < 0.05 and x.max() > sim.width - 0.05 and y.min() < 0.05  # walls reached
    E = energy(traj, sim.gravity)
    change = np.diff(E, axis=1)  # (N, T-1)
    flight = ~traj.bounces[:, 1:]
    assert np.abs(change[flight]).max() < 1e-9 * E.max()  # exact between contacts
    assert (change[~flight] < -1e-6).all()  # every bounce loses energy (restitution 0.9)


def test_restitution_one_conserves_energy_and_without_gravity_the_speed():
    sim = balls.SimConfig(restitution=1.0, steps=200)
    traj = balls.simulate(100, sim, seed=2)
    E = energy(traj, sim.gravity)
    assert traj.bounces.sum() > 200
    np.testing.assert_allclose(E, E[:, :1].repeat(sim.steps, 1), rtol=1e-12)

    sim = balls.SimConfig(restitution=1.0, gravity=0.0, steps=200)
    traj = balls.simulate(100, sim, seed=3)
    speed = np.linalg.norm(traj.velocities, axis=2)  # (N, T)
    np.testing.assert_allclose(speed, speed[:, :1].repeat(sim.steps, 1), rtol=1e-12)
    step = np.linalg.norm(np.diff(traj.positions, axis=1), axis=2)  # (N, T-1)
    flight = ~traj.bounces[:, 1:]
    np.testing.assert_allclose(step[flight], (speed[:, 1:] * sim.dt)[flight], rtol=1e-10)


def test_gravity_gives_the_closed_form_parabola_between_bounces():
    """A ball thrown up at (2, 3) with (1.5, 4) m/s, then dropped: exact before and after the bounce."""
    sim = balls.SimConfig(restitution=0.8, dt=0.01, steps=200)
    g, e = sim.gravity, sim.restitution
    traj = balls.integrate(np.array([[2.0, 3.0]]), np.array([[1.5, 4.0]]), sim)
    t = np.arange(sim.steps) * sim.dt
    t_bounce = (4.0 + math.sqrt(4.0**2 + 2 * g * 3.0)) / g  # root of 3 + 4t - g t^2 / 2 = 0
    v_bounce = e * math.sqrt(4.0**2 + 2 * g * 3.0)  # the rebound speed
    t_next = t_bounce + 2 * v_bounce / g
    before, after = t < t_bounce, (t > t_bounce) & (t < t_next)
    assert before.sum() > 50 and after.sum() > 50
    x, y = traj.positions[0].T
    np.testing.assert_allclose(x, 2.0 + 1.5 * t, rtol=1e-12)  # no wall within reach
    np.testing.assert_allclose(y[before], 3.0 + 4.0 * t[before] - g * t[before] ** 2 / 2, atol=1e-12)
    s = t[after] - t_bounce
    np.testing.assert_allclose(y[after], v_bounce * s - g * s**2 / 2, atol=1e-12)
    assert np.nonzero(traj.bounces[0])[0][0] == math.ceil(t_bounce / sim.dt)


def test_a_dropped_ball_comes_to_rest_on_the_floor():
    sim = balls.SimConfig(restitution=0.5, steps=200)
    traj = balls.integrate(np.array([[5.0, 5.0]]), np.array([[0.0, 0.0]]), sim)
    assert traj.positions[0, -50:, 1].max() == 0.0 and (traj.velocities[0, -50:] == 0).all()
    assert traj.positions[0, :, 1].min() >= 0.0


def test_constant_velocity_is_exact_in_free_flight_without_gravity_and_off_by_g_dt2_with_it():
    for gravity in (0.0, 9.81):
        sim = balls.SimConfig(gravity=gravity, restitution=1.0)
        traj = balls.simulate(50, sim, seed=4)
        p = traj.positions
        windows = np.stack([p[:, :-2], p[:, 1:-1]], axis=2)  # (N, T-2, 2, 2): p_{t-1}, p_t
        error = ball.constant_velocity(windows) - p[:, 2:]  # (N, T-2, 2)
        flight = ~(traj.bounces[:, 1:-1] | traj.bounces[:, 2:])  # no contact in (t-1, t+1]
        assert flight.mean() > 0.8
        np.testing.assert_allclose(error[flight][:, 0], 0.0, atol=1e-12)
        np.testing.assert_allclose(error[flight][:, 1], gravity * sim.dt**2, atol=1e-12)


def test_windows_line_up_with_the_trajectories():
    sim = balls.SimConfig(steps=30, noise=0.1)
    traj = balls.simulate(3, sim, seed=5)
    assert (traj.observed - traj.positions).std() == pytest.approx(0.1, rel=0.2)
    windows = ball.make_windows(traj, k=4)
    assert windows.inputs.shape == (3 * 26, 4, 2)
    n, t = 2, 17  # the window that ends at ball 2's sample t predicts sample t + 1
    i = n * 26 + (t - 3)
    np.testing.assert_allclose(windows.inputs[i].numpy(), traj.observed[n, t - 3 : t + 1], rtol=1e-6)
    np.testing.assert_allclose(windows.targets[i].numpy(), traj.positions[n, t + 1], rtol=1e-6)
    assert bool(windows.bounce[i]) == bool(traj.bounces[n, t + 1])


def test_jitter_moves_only_the_training_inputs_and_is_seeded():
    traj = balls.simulate(4, balls.SimConfig(steps=40), seed=6)
    windows = ball.make_windows(traj, k=5)
    plain = next(windows.batches(1000))
    noisy, again = (next(windows.batches(1000, seed=7, jitter=0.1)) for _ in range(2))
    assert (noisy.inputs - plain.inputs).std().item() == pytest.approx(0.1, rel=0.05)
    torch.testing.assert_close(noisy.inputs, again.inputs)
    torch.testing.assert_close(noisy.targets, plain.targets)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "ball"
    config = apply_overrides(ball.BallConfig(), TINY)
    return run_dir, config, ball.train(config, run_dir)


def test_seconds_of_training_beat_constant_velocity(trained):
    _, _, results = trained
    one, roll = results["one_step"], results["rollout"]
    assert one["bounce_steps"] > 100
    # Seeds 0-2 measured, model / baseline: 0.44-0.48 overall, 0.25-0.30 at bounces, 0.30-0.33 rollout.
    assert one["model_mae"] < 0.75 * one["baseline_mae"]
    assert one["model_mae_bounce"] < 0.5 * one["baseline_mae_bounce"]
    assert roll["model_mean"] < 0.6 * roll["baseline_mean"]
    assert len(roll["model_by_step"]) == 10


def test_the_run_reloads_to_the_same_scores(trained):
    run_dir, config, results = trained
    for name in ("config.json", "best.safetensors", "history.json", "results.json", "ball.png"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "ball.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((run_dir / "results.json").read_text())["epochs"] == 4
    model, loaded = ball.load_run(run_dir)
    assert loaded == config
    test = ball.make_windows(ball.datasets(loaded)["test"], loaded.window)
    assert ball.one_step_scores(model, test) == pytest.approx(results["one_step"])


def test_rollout_feeds_its_predictions_back(trained):
    run_dir, config, _ = trained
    model, _ = ball.load_run(run_dir)
    observed = balls.simulate(5, config.sim, seed=9).observed
    past = torch.tensor(observed[:, : config.window], dtype=torch.float32)  # (5, k, 2)
    path = ball.rollout(model, past, 3)  # (5, 3, 2)
    with torch.no_grad():
        first = model(past)
        second = model(torch.cat([past[:, 1:], first[:, None]], dim=1))
    torch.testing.assert_close(path[:, 0], first)
    torch.testing.assert_close(path[:, 1], second)


def test_cli_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    tiny = ["--epochs", "1", "--balls", "60", "--hidden", "8", "--horizon", "5", "--window", "5"]
    tiny += ["--set", "val_balls=20", "--set", "test_balls=20", "--set", "sim.steps=30", "--cell", "gru"]
    assert main(["ball", "--out", str(out), "--seed", "3", "--noise", "0.01", *tiny]) == 0
    printed = capsys.readouterr().out
    assert "bounce steps" in printed and "constant velocity" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["one_step"]["steps"] == 20 * 25
    config = json.loads((out / "config.json").read_text())
    assert (config["cell"], config["sim"]["noise"], config["train"]["seed"]) == ("gru", 0.01, 3)
    assert (out / "ball.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--noise", "-1"], "noise must be >= 0"),
        (["--jitter", "-0.1"], "jitter must be >= 0"),
        (["--restitution", "1.5"], "restitution must be in (0, 1]"),
        (["--window", "1"], "window must be >= 2"),
        (["--horizon", "500"], "sim.steps (100) must be >= window + horizon"),
        (["--epochs", "0"], "epochs must be >= 1"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--set", "sim.bogus=1"], "unknown setting 'sim.bogus'"),
        (["--set", "target=velocity"], "target must be one of displacement, position"),
    ],
)
def test_bad_arguments_give_clear_errors(args, message, tmp_path, capsys):
    assert main(["ball", "--out", str(tmp_path / "run"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_unknown_cell_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["ball", "--cell", "transformer"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'transformer'" in capsys.readouterr().err
