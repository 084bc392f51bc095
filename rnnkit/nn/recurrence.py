"""One direction of one layer over time: fused (torch's native kernels) or reference (a loop).

The fused tier calls torch's native kernels (cuDNN on a GPU). They run a whole sequence per call
on a padded (B, T, E) tensor but know nothing of padding: they run every sequence for all T steps.
That is harmless for the *outputs* of the forward direction (step t only depends on steps <= t,
and padded outputs are zeroed), and the backward direction is made harmless by reversing each
sequence within its length first (:meth:`Padding.reverse`). What remains is the final state,
which must be taken at each sequence's last real step:

- ``h_n`` of every cell is the output at that step, gathered with :meth:`Padding.gather_last`.
- The LSTM's ``c_n`` is not an output. We append one input feature ``p_t`` that is 1 at padded
  steps and 0 at real ones, with weights ``+S`` into the forget gate and ``-S`` into the input
  gate (``S = 1e4``). At a padded step ``f = sigmoid(+S) = 1`` and ``i = sigmoid(-S) = 0`` exactly
  in floating point, so ``c_t = 1 * c_{t-1} + 0 * g_t = c_{t-1}``: the cell state is carried
  unchanged to the end, and the kernel's ``c_n`` is the state at the last real step. The
  derivatives of the saturated gates are exactly 0, so no gradient leaks into or out of padding.
  At real steps ``p_t = 0`` and the extra column contributes exactly 0.

The reversal costs two gathers and the extra feature one column; the benchmark
``benchmarks/lstm_masking_throughput.py`` measures the total against the unmasked padded kernel.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import concurrent
from .cells import GRUCell, LSTMCell, RNNCell, _Cell
from .masking import Padding

# Saturates a sigmoid to exactly 0 or 1 in float16, float32 and float64 (exp overflows past ~88),
# while staying far above any pre-activation that trained weights produce.
_SATURATE = 1e4

State = tuple[Tensor, ...]  # (h,) or (h, c), each (B, H)


def supports_fused(cell: _Cell) -> bool:
    """Whether torch has a native kernel for exactly this cell's equations."""
    return type(cell) in (RNNCell, LSTMCell, GRUCell)


def _cell_params(cell: _Cell) -> tuple[Tensor, ...]:
    """``(W_hx, W_hh, b)``, and the GRU's ``b_hn``: the tensors a direction's kernel reads."""
    params = (cell.weight_ih, cell.weight_hh, cell.bias)
    return (*params, cell.bias_hn) if isinstance(cell, GRUCell) else params


def _kernel_weights(cell: _Cell, params: tuple[Tensor, ...] | None = None) -> list[Tensor]:
    """The weights in torch's layout [w_ih, w_hh, b_ih, b_hh]; our single bias goes in b_ih.

    ``params`` (as :func:`_cell_params` orders them) stand in for the cell's own parameters."""
    weight_ih, weight_hh, bias, *bias_hn = params if params is not None else _cell_params(cell)
    if isinstance(cell, GRUCell):
        H = cell.hidden_size
        b_hh = torch.cat([bias.new_zeros(2 * H), bias_hn[0]])  # r, z: 0; n: b_hn
    else:
        b_hh = torch.zeros_like(bias)
    return [weight_ih, weight_hh, bias, b_hh]


def _carry_column(cell: LSTMCell, like: Tensor) -> Tensor:
    """The (4H, 1) weight column of the padding feature: -S into i, +S into f, 0 into g and o."""
    H = cell.hidden_size
    column = like.new_zeros(4 * H, 1)
    column[:H] = -_SATURATE
    column[H : 2 * H] = _SATURATE
    return column


def _carry_feature(x: Tensor, padding: Padding) -> Tensor:
    """``x`` (B, T, E) -> (B, T, E+1), the padding indicator ``p_t`` appended.

    Reversal within length maps padded steps to themselves, so one copy serves both directions.
    The values of ``x`` at padded steps must be bounded (zeros, or a lower layer's outputs) for
    the gates to saturate.
    """
    pad_feature = (~padding.valid)[:, :, None].to(x.dtype)  # (B, T, 1)
    return torch.cat([x, pad_feature], dim=2)


def _fused_direction(
    cell: _Cell,
    x: Tensor,
    state: State,
    padding: Padding | None,
    reverse: bool,
    params: tuple[Tensor, ...] | None = None,
    sequences: bool = True,
) -> tuple[Tensor | None, State]:
    """One direction through torch's kernel: its outputs (B, T, H) in the input's time order (None
    when ``sequences`` is False: only the final state is wanted) and its final state."""
    if reverse:
        x = padding.reverse(x) if padding is not None else x.flip(1)
    weights = _kernel_weights(cell, params)
    h0 = state[0].unsqueeze(0)  # (1, B, H)
    if isinstance(cell, LSTMCell):
        if padding is not None:  # x carries the padding indicator: widen W_hx to (4H, E+1)
            weights[0] = torch.cat([weights[0], _carry_column(cell, weights[0])], dim=1)
        c0 = state[1].unsqueeze(0)
        out, h_n, c_n = torch.lstm(x, (h0, c0), weights, True, 1, 0.0, cell.training, False, True)
        final: list[Tensor] = [h_n[0], c_n[0]]
    else:
        if isinstance(cell, GRUCell):
            kernel = torch.gru
        else:
            kernel = torch.rnn_tanh if cell.nonlinearity == "tanh" else torch.rnn_relu
        out, h_n = kernel(x, h0, weights, True, 1, 0.0, cell.training, False, True)
        final = [h_n[0]]
    if padding is not None:
        final[0] = padding.gather_last(out)  # h at each sequence's last real step
    if not sequences:
        return None, tuple(final)
    if reverse:
        out = padding.reverse(out) if padding is not None else out.flip(1)
    return out, tuple(final)


def fused_step(cell: _Cell, x_t: Tensor, state: State) -> State:
    """One time step of ``cell`` through torch's single-step kernel (``torch.lstm_cell`` and kin):
    the cell's equations in one native call, for generation one character at a time."""
    weights = _kernel_weights(cell)
    if isinstance(cell, LSTMCell):
        return tuple(torch.lstm_cell(x_t, state, *weights))
    if isinstance(cell, GRUCell):
        return (torch.gru_cell(x_t, state[0], *weights),)
    kernel = torch.rnn_tanh_cell if cell.nonlinearity == "tanh" else torch.rnn_relu_cell
    return (kernel(x_t, state[0], *weights),)


def run_fused(
    cells: list[_Cell], x: Tensor, states: list[State], padding: Padding | None, sequences: bool = True
) -> tuple[Tensor | None, list[State]]:
    """One layer, its directions through torch's kernels: ``cells[d]`` runs direction d (1 backward).

    Returns the outputs (B, T, D*H), *not* zeroed at padded steps, and each direction's final state.
    ``sequences=False`` skips assembling the outputs (returns None for them): the backward
    direction's un-reversal and the concatenation, for a top layer whose final states are all that
    is read (a many-to-one model).
    """
    if padding is not None and isinstance(cells[0], LSTMCell):
        x = _carry_feature(x, padding)
    if len(cells) == 2 and concurrent.applies_to(x):
        return _concurrent_directions(cells, x, states, padding, sequences)
    return _directions(_fused_direction, cells, x, states, padding, sequences)


def _concurrent_directions(cells, x, states, padding, sequences) -> tuple[Tensor | None, list[State]]:
    """:func:`_directions` for a bidirectional pair, the two directions on two threads at once."""

    def direction(d: int):
        cell, n_state = cells[d], len(states[d])

        def run(x: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
            state, params = tensors[:n_state], tensors[n_state:]
            out, final = _fused_direction(cell, x, state, padding, d == 1, params, sequences)
            return (out, *final) if sequences else final

        return run

    inputs = tuple((x, *states[d], *_cell_params(cells[d])) for d in range(2))
    forward, backward = concurrent.run_pair((direction(0), direction(1)), inputs)
    if not sequences:
        return None, [tuple(forward), tuple(backward)]
    (out_f, *final_f), (out_b, *final_b) = forward, backward
    return torch.cat([out_f, out_b], dim=2), [tuple(final_f), tuple(final_b)]


def run_reference(
    cells: list[_Cell], x: Tensor, states: list[State], padding: Padding | None, sequences: bool = True
) -> tuple[Tensor | None, list[State]]:
    """The same as :func:`run_fused`, as plain Python loops over the cells' time steps."""
    return _directions(_reference_direction, cells, x, states, padding, sequences)


def _directions(run_direction, cells, x, states, padding, sequences) -> tuple[Tensor | None, list[State]]:
    """Run ``cells[d]`` in direction d (0 forward, 1 backward); concatenate their outputs."""
    results = [
        run_direction(cell, x, state, padding, reverse=d == 1, sequences=sequences)
        for d, (cell, state) in enumerate(zip(cells, states))
    ]
    finals = [f for _, f in results]
    if not sequences:
        return None, finals
    outputs = [out for out, _ in results]
    return (outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)), finals


def _reference_direction(
    cell: _Cell, x: Tensor, state: State, padding: Padding | None, reverse: bool, sequences: bool = True
) -> tuple[Tensor | None, State]:
    """One direction, one step at a time.

    At a padded step the state is carried unchanged (``torch.where``), so a sequence's final state
    is the one at its last real step and, running backwards, each sequence starts at its own end.
    """
    T = x.shape[1]
    is_lstm = isinstance(cell, LSTMCell)
    outputs: list[Tensor] = [x.new_empty(0)] * T
    for t in reversed(range(T)) if reverse else range(T):
        h_t, new_state = cell(x[:, t], state if is_lstm else state[0])
        new_state = new_state if is_lstm else (new_state,)
        if padding is not None:
            real = padding.valid[:, t, None]  # (B, 1)
            new_state = tuple(torch.where(real, new, old) for new, old in zip(new_state, state))
        state = new_state
        if sequences:
            outputs[t] = h_t
    return (torch.stack(outputs, dim=1) if sequences else None), state  # (B, T, H)
