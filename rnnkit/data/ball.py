"""Simulated bouncing balls: the data of the lecture's first slide ("where does the ball go next?").

Simulation. Point balls fly in a box [0, W] x [0, H] under gravity g (pointing down, -y) and bounce
off the four walls. Between contacts the motion is the closed form

    x(t) = x_0 + v_x t,        y(t) = y_0 + v_y t - g t^2 / 2,

and a contact reverses the velocity component normal to the wall, scaled by the restitution e:
v_n <- -e v_n (e = 1 keeps the energy, e < 1 loses a share 1 - e^2 of the normal kinetic energy).
Contacts are found exactly (the roots of those equations), however many fall in one step of dt, so
the sampled positions are exact to rounding. A ball whose floor rebound is slower than REST_SPEED
comes to rest on the floor (it slides on, without friction). Observations add N(0, noise^2) to each
coordinate; all is vectorised over balls and deterministic given a seed.

Shapes: N balls, T samples per ball.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

REST_SPEED = 0.05  # m/s: a slower floor rebound (a hop under 0.13 mm at g = 9.81) settles the ball
MAX_CONTACTS = 1000  # per step; with REST_SPEED > 0 a step holds at most a few dozen contacts


@dataclass
class SimConfig:
    width: float = 10.0  # W, metres
    height: float = 10.0  # H
    gravity: float = 9.81  # g, m/s^2, towards -y
    restitution: float = 0.9  # e: the normal speed kept by a bounce
    dt: float = 0.05  # seconds between samples
    steps: int = 100  # T samples per ball (5 s)
    max_speed: float = 8.0  # initial speeds are uniform in [1, max_speed] m/s
    noise: float = 0.0  # standard deviation of the observation noise, metres

    def __post_init__(self) -> None:
        for name in ("width", "height", "dt", "max_speed"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"sim.{name} must be > 0, got {getattr(self, name)}")
        if self.steps < 2:
            raise ConfigError(f"sim.steps must be >= 2 samples per ball, got {self.steps}")
        if not 0 < self.restitution <= 1:
            raise ConfigError(
                f"restitution must be in (0, 1] (1 keeps the energy), got {self.restitution}; try 0.9"
            )
        if self.gravity < 0:
            raise ConfigError(f"gravity must be >= 0 (it points down), got {self.gravity}")
        if self.noise < 0:
            raise ConfigError(f"noise must be >= 0 (a standard deviation in metres), got {self.noise}")


@dataclass
class Trajectories:
    positions: np.ndarray  # (N, T, 2) true positions
    velocities: np.ndarray  # (N, T, 2)
    bounces: np.ndarray  # (N, T) bool: a contact happened in (t - 1, t]
    observed: np.ndarray  # (N, T, 2) positions + noise


def _contact_times(p: np.ndarray, v: np.ndarray, g: np.ndarray, sim: SimConfig) -> np.ndarray:
    """(N, 4) times until the left wall, right wall, floor, ceiling (inf: never, on this arc).

    Roots in the cancellation-free form: the floor, y + v_y t - g t^2/2 = 0, is reached at
    2y / (sqrt(v_y^2 + 2gy) - v_y) when falling, and at (v_y + sqrt(v_y^2 + 2gy)) / g when rising.
    """
    x, y, vx, vy = p[:, 0], p[:, 1], v[:, 0], v[:, 1]
    inf = np.full_like(x, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(vx < 0, -x / vx, inf)
        right = np.where(vx > 0, (sim.width - x) / vx, inf)
        root = np.sqrt(np.maximum(vy**2 + 2 * g * y, 0.0))
        floor = np.where(vy < 0, 2 * y / (root - vy), np.where(g > 0, (vy + root) / g, inf))
        disc = vy**2 - 2 * g * (sim.height - y)
        ceiling = np.where(
            (vy > 0) & (disc >= 0), 2 * (sim.height - y) / (vy + np.sqrt(np.maximum(disc, 0.0))), inf
        )
    return np.stack([left, right, floor, ceiling], axis=1)


def _step(p: np.ndarray, v: np.ndarray, resting: np.ndarray, sim: SimConfig) -> np.ndarray:
    """Advance every ball (p, v: (N, 2)) by dt in place, contact by contact; returns who bounced."""
    walls = np.array([0.0, sim.width, 0.0, sim.height])
    remaining = np.full(len(p), sim.dt)
    bounced = np.zeros(len(p), dtype=bool)
    for _ in range(MAX_CONTACTS):
        g = np.where(resting, 0.0, sim.gravity)  # (N,): the floor holds a resting ball up
        times = _contact_times(p, v, g, sim)  # (N, 4)
        wall = times.argmin(axis=1)  # (N,) the first wall each ball meets
        first = times[np.arange(len(p)), wall]  # (N,)
        hit = first <= remaining
        t = np.minimum(first, remaining)
        p[:, 0] += v[:, 0] * t
        p[:, 1] += v[:, 1] * t - 0.5 * g * t**2
        v[:, 1] -= g * t
        remaining -= t
        if not hit.any():
            np.clip(p, 0.0, [sim.width, sim.height], out=p)  # rounding only
            return bounced
        rows, axis = np.nonzero(hit)[0], wall[hit] // 2  # 0: x (left, right), 1: y (floor, ceiling)
        p[rows, axis] = walls[wall[hit]]
        v[rows, axis] *= -sim.restitution
        bounced |= hit
        settle = hit & (wall == 2) & (v[:, 1] < REST_SPEED) & (g > 0)
        v[settle, 1] = 0.0
        resting |= settle
    raise AssertionError(f"more than {MAX_CONTACTS} contacts in one step of {sim.dt} s")


def integrate(p0: np.ndarray, v0: np.ndarray, sim: SimConfig) -> Trajectories:
    """Sample ``sim.steps`` positions from initial positions and velocities (N, 2); no noise."""
    p, v = np.array(p0, dtype=np.float64), np.array(v0, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or v.shape != p.shape:
        raise ValueError(f"p0 and v0 must both be (N, 2), got {p.shape} and {v.shape}")
    inside = (p >= 0).all() and (p[:, 0] <= sim.width).all() and (p[:, 1] <= sim.height).all()
    if not inside:
        raise ValueError(
            f"p0 must lie in the box [0, {sim.width}] x [0, {sim.height}]; move the starts inside"
        )
    N = len(p)
    resting = np.zeros(N, dtype=bool)
    positions, velocities = np.empty((N, sim.steps, 2)), np.empty((N, sim.steps, 2))
    bounces = np.zeros((N, sim.steps), dtype=bool)
    positions[:, 0], velocities[:, 0] = p, v
    for t in range(1, sim.steps):
        bounces[:, t] = _step(p, v, resting, sim)
        positions[:, t], velocities[:, t] = p, v
    return Trajectories(positions, velocities, bounces, positions.copy())


def simulate(num_balls: int, sim: SimConfig, seed: int) -> Trajectories:
    """``num_balls`` random balls from x ~ U(0.05, 0.95) W, y ~ U(0.3, 0.95) H, speed U(1, max_speed)."""
    rng = np.random.default_rng(seed)
    W, H = sim.width, sim.height
    p = np.stack([rng.uniform(0.05, 0.95, num_balls) * W, rng.uniform(0.3, 0.95, num_balls) * H], 1)
    speed = rng.uniform(1.0, sim.max_speed, num_balls)
    angle = rng.uniform(0, 2 * math.pi, num_balls)
    v = np.stack([speed * np.cos(angle), speed * np.sin(angle)], axis=1)  # (N, 2)
    traj = integrate(p, v, sim)
    if sim.noise:
        traj.observed = traj.positions + rng.normal(0.0, sim.noise, traj.positions.shape)
    return traj
