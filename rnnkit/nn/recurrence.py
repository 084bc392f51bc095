"""One layer over time: torch's native kernels (fused) or a loop over the cells (reference).

The fused tier has two ways to keep padding out of the result; :func:`layer_kernel_needed` picks:

**Directions on the padded tensor** (the CPU default, :func:`run_directions`). torch's kernels run a
whole padded (B, T, E) tensor per call (oneDNN on CPU, at full speed) but know nothing of padding:
they run every sequence for all T steps. That is harmless for the *outputs* of the forward
direction (step t only depends on steps <= t, and padded outputs are zeroed), and the backward
direction is made harmless by reversing each sequence within its length first
(:meth:`Padding.reverse`). What remains is the final state, which must be taken at each sequence's
last real step:

- ``h_n`` of every cell is the output at that step, gathered with :meth:`Padding.gather_last`.
- The LSTM's ``c_n`` is not an output. We append one input feature ``p_t`` that is 1 at padded
  steps and 0 at real ones, with weights ``+S`` into the forget gate and ``-S`` into the input
  gate (``S = 1e4``). At a padded step ``f = sigmoid(+S) = 1`` and ``i = sigmoid(-S) = 0`` exactly
  in floating point, so ``c_t = 1 * c_{t-1} + 0 * g_t = c_{t-1}``: the cell state is carried
  unchanged to the end, and the kernel's ``c_n`` is the state at the last real step. The
  derivatives of the saturated gates are exactly 0, so no gradient leaks into or out of padding.
  At real steps ``p_t = 0`` and the extra column contributes exactly 0.

This needs the padded steps to stay bounded: tanh and the GRU's convex mix of tanh and h are, and
so is the LSTM's c (carried unchanged). A ReLU RNN's state is not (``relu(1.1 h)`` runs on and
overflows, and then ``0 * inf`` is NaN in the masks and in every weight gradient), so it gets the
padding feature too, with weight ``-S`` (an eighth of the dtype's largest value) into its
pre-activation: at the first padded step ``h = relu(W_hh h + b - S) = 0`` for any state that a
finite computation reached, and it stays 0, with zero gradient; at real steps ``p_t = 0``.

**A whole layer on the packed batch** (:func:`run_layer`, both directions in one call): torch's
variable-length kernels (``PackedSequence``) only ever compute real steps. cuDNN runs them at full
speed, so this is the way on a GPU (no extra input column, no reversal gathers); on a CPU torch
runs it as a loop over steps, several times slower (``benchmarks/relu_padding.py``).

``benchmarks/lstm_masking_throughput.py`` measures both against the unmasked padded kernel.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .cells import GRUCell, LSTMCell, RNNCell, _Cell
from .masking import Padding

# Saturates a sigmoid to exactly 0 or 1 in float16, float32 and float64 (exp overflows past ~88),
# while staying far above any pre-activation that trained weights produce.
_SATURATE = 1e4

State = tuple[Tensor, ...]  # (h,) or (h, c), each (B, H)


def supports_fused(cell: _Cell) -> bool:
    """Whether torch has a native kernel for exactly this cell's equations."""
    return type(cell) in (RNNCell, LSTMCell, GRUCell)


def layer_kernel_needed(cell: _Cell, device: torch.device, padding: Padding | None) -> bool:
    """Whether a layer runs as one packed kernel call (:func:`run_layer`) rather than direction by
    direction on the padded tensor (:func:`run_directions`): on a GPU."""
    return device.type == "cuda"


def _is_relu(cell: _Cell) -> bool:
    return isinstance(cell, RNNCell) and cell.nonlinearity == "relu"


def _needs_indicator(cell: _Cell) -> bool:
    """Cells whose padded steps need the padding indicator as an extra input: the LSTM (to carry
    ``c``) and the ReLU RNN (to stop at zero)."""
    return isinstance(cell, LSTMCell) or _is_relu(cell)


def _stop_column(cell: RNNCell, like: Tensor) -> Tensor:
    """The (H, 1) weight column of the padding feature for a ReLU RNN: -S with S an eighth of the
    dtype's largest value. At a padded step the pre-activation is then below zero for any state a
    finite computation reached, so ``h = relu(...) = 0``, and it stays 0 (its gradient too)."""
    return like.new_full((cell.hidden_size, 1), -torch.finfo(like.dtype).max / 8)


def recurrent_bias(cell: _Cell) -> Tensor:
    """torch's second bias ``b_hh`` for our single one: zeros, but for the GRU's candidate
    ``[0, 0, b_hn]`` (a new tensor, differentiable in ``bias_hn``)."""
    if isinstance(cell, GRUCell):
        return torch.cat([cell.bias_hn.new_zeros(2 * cell.hidden_size), cell.bias_hn])
    return torch.zeros_like(cell.bias)


def _kernel_weights(
    cell: _Cell, b_hh: Tensor | None = None, dtype: torch.dtype | None = None
) -> list[Tensor]:
    """The weights in torch's layout [w_ih, w_hh, b_ih, b_hh]; our single bias goes in b_ih.

    ``b_hh`` is the layer's flat-buffer view (see ``_Recurrent._flatten_weights``), else a new
    tensor. ``dtype`` casts them all (differentiably), for autocast."""
    weights = [cell.weight_ih, cell.weight_hh, cell.bias, recurrent_bias(cell) if b_hh is None else b_hh]
    return weights if dtype is None else [w.to(dtype) for w in weights]


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


def _kernel(cell: _Cell):
    if isinstance(cell, LSTMCell):
        return torch.lstm
    if isinstance(cell, GRUCell):
        return torch.gru
    return torch.rnn_tanh if cell.nonlinearity == "tanh" else torch.rnn_relu


# -- direction by direction on the padded tensor (CPU) ------------------------------------------------


def _fused_direction(
    cell: _Cell,
    x: Tensor,
    state: State,
    padding: Padding | None,
    reverse: bool,
    sequences: bool = True,
    dtype: torch.dtype | None = None,
) -> tuple[Tensor | None, State]:
    """One direction through torch's kernel: its outputs (B, T, H) in the input's time order (None
    when ``sequences`` is False: only the final state is wanted) and its final state."""
    if reverse:
        x = padding.reverse(x) if padding is not None else x.flip(1)
    weights = _kernel_weights(cell, dtype=dtype)
    h0 = state[0].unsqueeze(0)  # (1, B, H)
    if padding is not None and _is_relu(cell):  # x carries the padding indicator: W_hx to (H, E+1)
        weights[0] = torch.cat([weights[0], _stop_column(cell, weights[0])], dim=1)
    if isinstance(cell, LSTMCell):
        if padding is not None:  # x carries the padding indicator: widen W_hx to (4H, E+1)
            weights[0] = torch.cat([weights[0], _carry_column(cell, weights[0])], dim=1)
        c0 = state[1].unsqueeze(0)
        out, h_n, c_n = torch.lstm(x, (h0, c0), weights, True, 1, 0.0, cell.training, False, True)
        final: list[Tensor] = [h_n[0], c_n[0]]
    else:
        out, h_n = _kernel(cell)(x, h0, weights, True, 1, 0.0, cell.training, False, True)
        final = [h_n[0]]
    if padding is not None:
        final[0] = padding.gather_last(out)  # h at each sequence's last real step
    if not sequences:
        return None, tuple(final)
    if reverse:
        out = padding.reverse(out) if padding is not None else out.flip(1)
    return out, tuple(final)


def run_directions(
    cells: list[_Cell],
    x: Tensor,
    states: list[State],
    padding: Padding | None,
    sequences: bool = True,
    dtype: torch.dtype | None = None,
) -> tuple[Tensor | None, list[State]]:
    """One layer, its directions through torch's kernels one after the other: ``cells[d]`` runs
    direction d (1 backward).

    Returns the outputs (B, T, D*H), *not* zeroed at padded steps, and each direction's final state.
    ``sequences=False`` skips assembling the outputs (returns None for them): the backward
    direction's un-reversal and the concatenation, for a top layer whose final states are all that
    is read (a many-to-one model).
    """
    if padding is not None and _needs_indicator(cells[0]):
        x = _carry_feature(x, padding)
    results = [
        _fused_direction(cell, x, state, padding, d == 1, sequences, dtype)
        for d, (cell, state) in enumerate(zip(cells, states))
    ]
    return _assemble(results, sequences)


# -- a whole layer in one call, packed when padded (the GPU path) ------------------------------------


def run_layer(
    cells: list[_Cell],
    x: Tensor,
    states: list[State],
    padding: Padding | None,
    sequences: bool = True,
    dtype: torch.dtype | None = None,
    recurrent_biases: list[Tensor] | None = None,
) -> tuple[Tensor | None, list[State]]:
    """One layer, all its directions in one native call, as ``torch.nn.LSTM`` makes it: on the
    packed batch when there is padding (only real steps are computed; the kernel reverses each
    sequence within its length itself), on ``x`` as it is otherwise. Same returns as
    :func:`run_directions`, with outputs already zero at padded steps.

    ``recurrent_biases[d]`` is direction d's ``b_hh`` in the layer's flat weight buffer, so that
    cuDNN finds all the weights in one chunk and does not copy them (``_Recurrent._flatten_weights``).
    """
    cell, D = cells[0], len(cells)
    biases = recurrent_biases or [None] * D
    weights = [w for c, b in zip(cells, biases) for w in _kernel_weights(c, b, dtype)]
    is_lstm = isinstance(cell, LSTMCell)
    # (D, B, H) each; contiguous, as cuDNN wants them (a caller's state may be an expanded view)
    hx = [torch.stack([s[i] for s in states]).contiguous() for i in range(2 if is_lstm else 1)]
    T = x.shape[1]
    train, bidirectional = cell.training, D == 2
    if padding is None:
        result = _kernel(cell)(x, *_hx(hx, is_lstm), weights, True, 1, 0.0, train, bidirectional, True)
        out, finals = result[0], result[1:]
    else:
        packed = pack_padded_sequence(x, padding.lengths_cpu, batch_first=True, enforce_sorted=False)
        order, unorder = packed.sorted_indices, packed.unsorted_indices
        hx = [h.index_select(1, order) for h in hx]
        result = _kernel(cell)(
            packed.data, packed.batch_sizes, *_hx(hx, is_lstm), weights, True, 1, 0.0, train, bidirectional
        )
        finals = [h.index_select(1, unorder) for h in result[1:]]
        out = None
        if sequences:
            out_packed = PackedSequence(result[0], packed.batch_sizes, order, unorder)
            out, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=T)  # (B, T, D*H)
    final_states = [tuple(f[d] for f in finals) for d in range(D)]
    return (out if sequences else None), final_states


def _hx(hx: list[Tensor], is_lstm: bool) -> tuple:
    """The initial state argument of torch's kernels: ``(h0, c0)`` for the LSTM, ``h0`` otherwise."""
    return (tuple(hx),) if is_lstm else (hx[0],)


# -- one step, and the reference loop ---------------------------------------------------------------


def fused_step(cell: _Cell, x_t: Tensor, state: State) -> State:
    """One time step of ``cell`` through torch's single-step kernel (``torch.lstm_cell`` and kin):
    the cell's equations in one native call, for generation one token at a time."""
    weights = _kernel_weights(cell)
    if isinstance(cell, LSTMCell):
        return tuple(torch.lstm_cell(x_t, state, *weights))
    if isinstance(cell, GRUCell):
        return (torch.gru_cell(x_t, state[0], *weights),)
    kernel = torch.rnn_tanh_cell if cell.nonlinearity == "tanh" else torch.rnn_relu_cell
    return (kernel(x_t, state[0], *weights),)


def run_reference(
    cells: list[_Cell], x: Tensor, states: list[State], padding: Padding | None, sequences: bool = True
) -> tuple[Tensor | None, list[State]]:
    """The same as :func:`run_directions`, as plain Python loops over the cells' time steps."""
    results = [
        _reference_direction(cell, x, state, padding, reverse=d == 1, sequences=sequences)
        for d, (cell, state) in enumerate(zip(cells, states))
    ]
    return _assemble(results, sequences)


def _assemble(
    results: list[tuple[Tensor | None, State]], sequences: bool
) -> tuple[Tensor | None, list[State]]:
    """Concatenate the directions' outputs (B, T, H) into (B, T, D*H); collect their final states."""
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
