"""The lecture's character-level example, trained with the hand-written BPTT of :mod:`.bptt`.

Vocabulary h, e, l, o, one-hot inputs. Feeding "hell" one character at a time, the model must
predict the next character at every step, "ello"; the last prediction is the "o" after "hell":

    h_t = tanh(W_hh h_{t-1} + W_hx x_t + b),    y_t = softmax(W_yh h_t + b_y)

The loss is the cross-entropy summed over the four steps; the optimiser is Adam, written out too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bptt import init_params, rnn_backward, rnn_forward

VOCAB = ("h", "e", "l", "o")


@dataclass
class HelloResult:
    losses: list[float]  # the loss after each step of training
    probs: np.ndarray  # (T, V): softmax over the vocabulary at each input step
    inputs: str
    targets: str

    @property
    def predicted(self) -> str:
        return "".join(VOCAB[k] for k in self.probs.argmax(axis=1))

    def table(self) -> str:
        """The slide's table: one row per input character, the softmax over h, e, l, o."""
        rows = ["input  target  " + "  ".join(f"p({v})" for v in VOCAB) + "  predicted"]
        for t, (x, y) in enumerate(zip(self.inputs, self.targets)):
            cells = "  ".join(f"{p:4.2f}" for p in self.probs[t])
            rows.append(f"  {x}      {y}     {cells}      {VOCAB[self.probs[t].argmax()]}")
        return "\n".join(rows)


def one_hot(text: str) -> np.ndarray:
    """(1, T, V) one-hot encoding of ``text`` over :data:`VOCAB`."""
    ids = [VOCAB.index(ch) for ch in text]
    return np.eye(len(VOCAB))[ids][None]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def train_hello(
    word: str = "hello", hidden_size: int = 8, steps: int = 300, lr: float = 0.05, seed: int = 0
) -> HelloResult:
    inputs, targets = word[:-1], word[1:]
    xs = one_hot(inputs)  # (1, T, V)
    target_ids = np.array([VOCAB.index(ch) for ch in targets])
    V, T = len(VOCAB), len(inputs)
    rng = np.random.default_rng(seed)
    params = init_params("rnn", V, hidden_size, seed)
    params["weight_yh"] = rng.normal(scale=0.1, size=(V, hidden_size))  # W_yh: (V, H)
    params["bias_y"] = np.zeros(V)
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    h0 = np.zeros((1, hidden_size))
    losses = []
    for step in range(1, steps + 1):
        rnn_params = {k: params[k] for k in ("weight_ih", "weight_hh", "bias")}
        hs, cache = rnn_forward(rnn_params, xs, h0)  # (1, T, H)
        probs = softmax(hs[0] @ params["weight_yh"].T + params["bias_y"])  # (T, V)
        losses.append(float(-np.log(probs[np.arange(T), target_ids]).sum()))
        dlogits = probs.copy()
        dlogits[np.arange(T), target_ids] -= 1.0  # softmax + cross-entropy: p - one_hot(y)
        grads, _, _ = rnn_backward(rnn_params, cache, (dlogits @ params["weight_yh"])[None])
        grads["weight_yh"] = dlogits.T @ hs[0]
        grads["bias_y"] = dlogits.sum(axis=0)
        for name, grad in grads.items():  # Adam (Kingma & Ba, 2015)
            m, v = moments[name]
            m[:] = 0.9 * m + 0.1 * grad
            v[:] = 0.999 * v + 0.001 * grad**2
            m_hat, v_hat = m / (1 - 0.9**step), v / (1 - 0.999**step)
            params[name] -= lr * m_hat / (np.sqrt(v_hat) + 1e-8)
    hs, _ = rnn_forward({k: params[k] for k in ("weight_ih", "weight_hh", "bias")}, xs, h0)
    probs = softmax(hs[0] @ params["weight_yh"].T + params["bias_y"])
    return HelloResult(losses=losses, probs=probs, inputs=inputs, targets=targets)
