"""Backpropagation through time by hand, in NumPy, for the vanilla RNN, the LSTM and the GRU.

Read this beside the lecture's BPTT slides. The forward pass unrolls the recurrence and keeps what
the backward pass needs; the backward pass walks the steps in reverse, carrying ``dh_next`` (and,
for the LSTM, ``dc_next``): the gradient reaching step t from step t+1. The weights are *shared*
across time, so each weight's gradient is the **sum of its per-step gradients** (the ``+=`` below).

The parameters are a dict with the names and shapes of :mod:`rnnkit.nn.cells` (``weight_ih``
(G*H, E), ``weight_hh`` (G*H, H), ``bias`` (G*H,), and ``bias_hn`` (H,) for the GRU), so the same
numbers can be copied into an rnnkit layer and checked against torch autograd.

Shapes: ``xs`` (B, T, E), ``h0`` (B, H); ``dhs`` (B, T, H) is dL/dh_t arriving from above (the
output layer) at every step. ``backward`` returns the gradients of every parameter, of ``xs`` and
of the initial state.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Params = dict[str, np.ndarray]


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # = 1 / (1 + exp(-a)), without overflow


# -- vanilla RNN: h_t = tanh(W_hh h_{t-1} + W_hx x_t + b) -------------------------------------------


def rnn_forward(p: Params, xs: np.ndarray, h0: np.ndarray) -> tuple[np.ndarray, dict]:
    T = xs.shape[1]
    hs = [h0]  # hs[t + 1] = h_t
    for t in range(T):
        a_t = xs[:, t] @ p["weight_ih"].T + hs[-1] @ p["weight_hh"].T + p["bias"]  # (B, H)
        hs.append(np.tanh(a_t))
    return np.stack(hs[1:], axis=1), {"xs": xs, "hs": hs}  # (B, T, H)


def rnn_backward(p: Params, cache: dict, dhs: np.ndarray) -> tuple[Params, np.ndarray, np.ndarray]:
    xs, hs = cache["xs"], cache["hs"]
    grads = {name: np.zeros_like(value) for name, value in p.items()}
    dxs = np.zeros_like(xs)
    dh_next = np.zeros_like(hs[0])  # dL/dh_t through h_{t+1}
    for t in reversed(range(xs.shape[1])):
        dh = dhs[:, t] + dh_next  # both paths into h_t
        da = dh * (1.0 - hs[t + 1] ** 2)  # through tanh: (B, H)
        grads["weight_ih"] += da.T @ xs[:, t]  # shared weight: sum over steps
        grads["weight_hh"] += da.T @ hs[t]
        grads["bias"] += da.sum(axis=0)
        dxs[:, t] = da @ p["weight_ih"]
        dh_next = da @ p["weight_hh"]  # this product, T times, is what vanishes or explodes
    return grads, dxs, dh_next


# -- LSTM: gates i, f, g, o; c_t = f c_{t-1} + i g; h_t = o tanh(c_t) ----------------------------------


def lstm_forward(p: Params, xs: np.ndarray, h0: np.ndarray, c0: np.ndarray) -> tuple[np.ndarray, dict]:
    T = xs.shape[1]
    hs, cs, gates = [h0], [c0], []
    for t in range(T):
        a = xs[:, t] @ p["weight_ih"].T + hs[-1] @ p["weight_hh"].T + p["bias"]  # (B, 4H)
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
        i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
        cs.append(f * cs[-1] + i * g)
        hs.append(o * np.tanh(cs[-1]))
        gates.append((i, f, g, o))
    return np.stack(hs[1:], axis=1), {"xs": xs, "hs": hs, "cs": cs, "gates": gates}


def lstm_backward(
    p: Params, cache: dict, dhs: np.ndarray, dc_last: np.ndarray | None = None
) -> tuple[Params, np.ndarray, np.ndarray, np.ndarray]:
    """Also takes dL/dc_T (``dc_last``) and returns dL/dc_0 after dL/dh_0."""
    xs, hs, cs = cache["xs"], cache["hs"], cache["cs"]
    grads = {name: np.zeros_like(value) for name, value in p.items()}
    dxs = np.zeros_like(xs)
    dh_next = np.zeros_like(hs[0])
    dc_next = np.zeros_like(cs[0]) if dc_last is None else dc_last
    for t in reversed(range(xs.shape[1])):
        i, f, g, o = cache["gates"][t]
        tanh_c = np.tanh(cs[t + 1])
        dh = dhs[:, t] + dh_next
        dc = dc_next + dh * o * (1.0 - tanh_c**2)  # the cell-state "conveyor belt"
        da = np.concatenate(
            [
                dc * g * i * (1.0 - i),  # input gate
                dc * cs[t] * f * (1.0 - f),  # forget gate
                dc * i * (1.0 - g**2),  # candidate
                dh * tanh_c * o * (1.0 - o),  # output gate
            ],
            axis=1,
        )  # (B, 4H)
        grads["weight_ih"] += da.T @ xs[:, t]
        grads["weight_hh"] += da.T @ hs[t]
        grads["bias"] += da.sum(axis=0)
        dxs[:, t] = da @ p["weight_ih"]
        dh_next = da @ p["weight_hh"]
        dc_next = dc * f  # multiplied by the forget gate, not by a matrix: no forced vanishing
    return grads, dxs, dh_next, dc_next


# -- GRU (torch form): r, z gates; n = tanh(W_in x + b_n + r (W_hn h + b_hn)); h = (1-z) n + z h ----


def gru_forward(p: Params, xs: np.ndarray, h0: np.ndarray) -> tuple[np.ndarray, dict]:
    T = xs.shape[1]
    H = h0.shape[1]
    hs, steps = [h0], []
    for t in range(T):
        gx = xs[:, t] @ p["weight_ih"].T + p["bias"]  # (B, 3H)
        gh = hs[-1] @ p["weight_hh"].T  # (B, 3H)
        r = sigmoid(gx[:, :H] + gh[:, :H])
        z = sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
        hn = gh[:, 2 * H :] + p["bias_hn"]
        n = np.tanh(gx[:, 2 * H :] + r * hn)
        hs.append((1.0 - z) * n + z * hs[-1])
        steps.append((r, z, n, hn))
    return np.stack(hs[1:], axis=1), {"xs": xs, "hs": hs, "steps": steps}


def gru_backward(p: Params, cache: dict, dhs: np.ndarray) -> tuple[Params, np.ndarray, np.ndarray]:
    xs, hs = cache["xs"], cache["hs"]
    grads = {name: np.zeros_like(value) for name, value in p.items()}
    dxs = np.zeros_like(xs)
    dh_next = np.zeros_like(hs[0])
    for t in reversed(range(xs.shape[1])):
        r, z, n, hn = cache["steps"][t]
        h_prev = hs[t]
        dh = dhs[:, t] + dh_next
        dn_pre = dh * (1.0 - z) * (1.0 - n**2)  # through h = (1-z) n + z h_prev, then tanh
        dz_pre = dh * (h_prev - n) * z * (1.0 - z)
        dr_pre = dn_pre * hn * r * (1.0 - r)
        dhn = dn_pre * r  # into W_hn h_prev + b_hn
        dgx = np.concatenate([dr_pre, dz_pre, dn_pre], axis=1)  # (B, 3H)
        dgh = np.concatenate([dr_pre, dz_pre, dhn], axis=1)  # (B, 3H)
        grads["weight_ih"] += dgx.T @ xs[:, t]
        grads["weight_hh"] += dgh.T @ h_prev
        grads["bias"] += dgx.sum(axis=0)
        grads["bias_hn"] += dhn.sum(axis=0)
        dxs[:, t] = dgx @ p["weight_ih"]
        dh_next = dh * z + dgh @ p["weight_hh"]
    return grads, dxs, dh_next


# -- checking the algebra ----------------------------------------------------------------------------


def init_params(cell: str, input_size: int, hidden_size: int, seed: int = 0) -> Params:
    """Small random parameters for ``cell`` in {"rnn", "lstm", "gru"} (rnnkit's names and shapes)."""
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(hidden_size)
    p = {
        "weight_ih": rng.uniform(-scale, scale, (G * hidden_size, input_size)),
        "weight_hh": rng.uniform(-scale, scale, (G * hidden_size, hidden_size)),
        "bias": rng.uniform(-scale, scale, G * hidden_size),
    }
    if cell == "gru":
        p["bias_hn"] = rng.uniform(-scale, scale, hidden_size)
    return p


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to every entry of ``x`` (in place)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        up = f()
        x[index] = saved - eps
        down = f()
        x[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


def gradient_check(cell: str, B: int = 2, T: int = 5, E: int = 3, H: int = 4, seed: int = 0) -> float:
    """Largest relative error between BPTT and finite differences, for L = sum(h_t * w_t)."""
    rng = np.random.default_rng(seed)
    p = init_params(cell, E, H, seed)
    xs = rng.normal(size=(B, T, E))
    h0 = rng.normal(size=(B, H)) * 0.5
    c0 = rng.normal(size=(B, H)) * 0.5
    w = rng.normal(size=(B, T, H))  # a random projection makes every dh_t different

    def loss() -> float:
        if cell == "lstm":
            hs, _ = lstm_forward(p, xs, h0, c0)
        else:
            hs, _ = (rnn_forward if cell == "rnn" else gru_forward)(p, xs, h0)
        return float((hs * w).sum())

    if cell == "lstm":
        _, cache = lstm_forward(p, xs, h0, c0)
        grads, dxs, dh0, dc0 = lstm_backward(p, cache, w)
        analytic = {**grads, "xs": dxs, "h0": dh0, "c0": dc0}
        inputs = {**p, "xs": xs, "h0": h0, "c0": c0}
    else:
        forward, backward = (rnn_forward, rnn_backward) if cell == "rnn" else (gru_forward, gru_backward)
        _, cache = forward(p, xs, h0)
        grads, dxs, dh0 = backward(p, cache, w)
        analytic = {**grads, "xs": dxs, "h0": dh0}
        inputs = {**p, "xs": xs, "h0": h0}
    worst = 0.0
    for name, value in inputs.items():
        numeric = numerical_gradient(loss, value)
        denom = np.maximum(np.abs(numeric) + np.abs(analytic[name]), 1e-8)
        worst = max(worst, float(np.max(np.abs(numeric - analytic[name]) / denom)))
    return worst
