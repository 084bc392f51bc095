"""One time step of the vanilla RNN, the LSTM and the GRU: the readable tier.

Each cell computes ``h_t, state_t = cell(x_t, state_{t-1})`` from the textbook equations, with
nothing but matrix products and pointwise functions, so it reads beside them.
The layers in :mod:`rnnkit.nn.layers` own the time loop and either call these cells step by step
(``impl="reference"``) or hand the same weights to torch's fused kernels (``impl="fused"``).

Shape glossary: ``B`` batch, ``E`` input features, ``H`` hidden units, ``G`` gates
(1 for the vanilla RNN, 4 for the LSTM, 3 for the GRU).

Parameters, in every cell (the textbook symbol in brackets):

- ``weight_ih`` (G*H, E) [W_hx]: input-to-hidden weights, the gates stacked in the order given below.
- ``weight_hh`` (G*H, H) [W_hh]: hidden-to-hidden (recurrent) weights, same gate order.
- ``bias`` (G*H,) [b]: one bias vector per gate, the textbook and Keras form. torch.nn keeps two
  (``bias_ih`` and ``bias_hh``) whose sum is all that matters; :func:`rnnkit.from_torch` folds them.

Initialisation (Keras's defaults): ``weight_ih`` Glorot uniform over the whole (G*H, E) matrix,
``weight_hh`` orthogonal, biases zero except the LSTM's forget gate, which starts at 1 so that the
cell remembers by default (Jozefowicz et al., 2015).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

LSTMState = tuple[Tensor, Tensor]


class _Cell(nn.Module):
    """Shared parameters and initialisation of the three cells."""

    num_gates: int = 1

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        G, H = self.num_gates, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G * H, input_size))  # W_hx: (G*H, E)
        self.weight_hh = nn.Parameter(torch.empty(G * H, H))  # W_hh: (G*H, H)
        self.bias = nn.Parameter(torch.empty(G * H))  # b: (G*H,)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight_ih)
        nn.init.orthogonal_(self.weight_hh)
        nn.init.zeros_(self.bias)

    def initial_state(self, x_t: Tensor) -> Tensor:
        """Zeros of shape (B, H) on the device and dtype of ``x_t``."""
        return x_t.new_zeros(x_t.shape[0], self.hidden_size)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(_Cell):
    r"""The vanilla (Elman) RNN step.

    .. math::
        h_t = \tanh(W_{hh} h_{t-1} + W_{hx} x_t + b)

    and, in a model, the output layer ``y_t = softmax(W_yh h_t)`` (an ``nn.Linear`` after the layer).
    ``nonlinearity="relu"`` replaces tanh by max(0, .), as in ``torch.nn.RNN``.

    Shapes: ``x_t`` (B, E), ``h_prev`` (B, H) or None for zeros; returns ``(h_t, h_t)``, the output
    and the new state, both (B, H). ``weight_ih`` (H, E), ``weight_hh`` (H, H), ``bias`` (H,).
    """

    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size)

    def forward(self, x_t: Tensor, h_prev: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if h_prev is None:
            h_prev = self.initial_state(x_t)
        pre = x_t @ self.weight_ih.T + h_prev @ self.weight_hh.T + self.bias  # (B, H)
        h_t = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return h_t, h_t

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nonlinearity={self.nonlinearity!r}"


class LSTMCell(_Cell):
    r"""The LSTM step (Hochreiter & Schmidhuber, 1997), gates in torch's and Keras's order i, f, g, o.

    .. math::
        i_t &= \sigma(W_{hx}^{(i)} x_t + W_{hh}^{(i)} h_{t-1} + b^{(i)})   &\text{input gate} \\
        f_t &= \sigma(W_{hx}^{(f)} x_t + W_{hh}^{(f)} h_{t-1} + b^{(f)})   &\text{forget gate} \\
        g_t &= \tanh(W_{hx}^{(g)} x_t + W_{hh}^{(g)} h_{t-1} + b^{(g)})    &\text{cell candidate} \\
        o_t &= \sigma(W_{hx}^{(o)} x_t + W_{hh}^{(o)} h_{t-1} + b^{(o)})   &\text{output gate} \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t                          &\text{cell state} \\
        h_t &= o_t \odot \tanh(c_t)

    The cell state ``c`` is the "conveyor belt": its gradient through time is multiplied by ``f_t``,
    not by a weight matrix and a tanh derivative, which is why the LSTM keeps long-term dependencies
    that the vanilla RNN loses.

    Shapes: ``x_t`` (B, E), ``state`` ``(h_prev, c_prev)`` each (B, H) or None for zeros; returns
    ``(h_t, (h_t, c_t))``. ``weight_ih`` (4H, E) rows ``[i; f; g; o]``, ``weight_hh`` (4H, H),
    ``bias`` (4H,), the forget block initialised to 1.
    """

    num_gates = 4

    def reset_parameters(self) -> None:
        super().reset_parameters()
        H = self.hidden_size
        with torch.no_grad():
            self.bias[H : 2 * H].fill_(1.0)  # forget gate

    def forward(self, x_t: Tensor, state: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        if state is None:
            zeros = self.initial_state(x_t)
            state = (zeros, zeros)
        h_prev, c_prev = state
        gates = x_t @ self.weight_ih.T + h_prev @ self.weight_hh.T + self.bias  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)  # each (B, H)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c_t = f * c_prev + i * g
        h_t = o * torch.tanh(c_t)
        return h_t, (h_t, c_t)


class GRUCell(_Cell):
    r"""The GRU step (Cho et al., 2014) in torch's form, gates in the order r, z, n.

    .. math::
        r_t &= \sigma(W_{hx}^{(r)} x_t + W_{hh}^{(r)} h_{t-1} + b^{(r)})           &\text{reset gate} \\
        z_t &= \sigma(W_{hx}^{(z)} x_t + W_{hh}^{(z)} h_{t-1} + b^{(z)})           &\text{update gate} \\
        n_t &= \tanh(W_{hx}^{(n)} x_t + b^{(n)} + r_t \odot (W_{hh}^{(n)} h_{t-1} + b_{hn}))
                                                                                   &\text{candidate} \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    The reset gate multiplies the recurrent product *after* the matrix multiply (Keras calls this
    ``reset_after=True``, the cuDNN form). So the candidate needs a recurrent bias of its own,
    ``bias_hn`` (H,), that cannot be folded into ``b^{(n)}``; the r and z gates need only one bias each.
    A GRU therefore has ``3H(E + H) + 4H`` parameters: Keras, which keeps two full bias vectors,
    counts ``3H(E + H) + 6H`` for the same function.

    Shapes: ``x_t`` (B, E), ``h_prev`` (B, H) or None for zeros; returns ``(h_t, h_t)``.
    ``weight_ih`` (3H, E) rows ``[r; z; n]``, ``weight_hh`` (3H, H), ``bias`` (3H,), ``bias_hn`` (H,).
    """

    num_gates = 3

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.bias_hn = nn.Parameter(torch.zeros(hidden_size))  # b_hn: (H,)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if "bias_hn" in self._parameters:  # absent while _Cell.__init__ runs
            nn.init.zeros_(self.bias_hn)

    def forward(self, x_t: Tensor, h_prev: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if h_prev is None:
            h_prev = self.initial_state(x_t)
        H = self.hidden_size
        gx = x_t @ self.weight_ih.T + self.bias  # (B, 3H)
        gh = h_prev @ self.weight_hh.T  # (B, 3H)
        r = torch.sigmoid(gx[:, :H] + gh[:, :H])
        z = torch.sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
        n = torch.tanh(gx[:, 2 * H :] + r * (gh[:, 2 * H :] + self.bias_hn))
        h_t = (1 - z) * n + z * h_prev
        return h_t, h_t
