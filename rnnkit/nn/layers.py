"""Recurrent layers: stacked, optionally bidirectional, exact on padded batches, fused when possible.

``output, state = layer(x, lengths=None, state=None, *, return_sequences=True)``

Shape glossary: B batch, T time (the padded length), E input features, H hidden units,
D directions (2 if bidirectional else 1), L layers.

- ``x``: (B, T, E) if ``batch_first`` (the default) else (T, B, E).
- ``lengths``: optional (B,) integers in [1, T], the true length of each right-padded sequence.
- ``state``: optional initial state, ``h_0`` of (L*D, B, H), or ``(h_0, c_0)`` for the LSTM, in
  torch's order (layer-major: index ``l * D + d``, d = 0 forward, 1 backward). Zeros if None.
- ``output``: (B, T, D*H) (or (T, B, D*H)), the top layer's hidden states, zero at padded steps.
- returned ``state``: like the input state, taken at each sequence's last real step for the forward
  direction and at its first step for the backward direction.
- ``return_sequences=False`` (Keras's default, not ours; for a many-to-one model): ``output`` is
  the top layer's last output only, (B, D*H): its final ``h`` per direction, concatenated. The
  output sequence is then never assembled, which saves the backward direction's un-reversal, a
  concatenation and the zeroing of padded steps over (B, T, D*H) (docs/core.md).

With ``lengths``, the outputs, final states and every gradient equal those of running each sequence
alone without padding (exact masking), in both implementations:

- ``impl="fused"``: torch's native kernels (oneDNN on a CPU, cuDNN on a GPU); see
  :mod:`rnnkit.nn.recurrence` for how padding is kept out of the result.
- ``impl="reference"``: a Python loop over the cells of :mod:`rnnkit.nn.cells`.
- ``impl="auto"``: fused whenever the cells are rnnkit's own (a subclass with other equations falls
  back to the reference loop).

Between stacked layers, dropout with probability ``dropout`` is applied to the outputs in training,
as in ``torch.nn.LSTM`` (so with one layer it does nothing, and a warning says so).

Coming from ``torch.nn``: ``x`` may also be a ``PackedSequence`` (then the output is one too, and
``lengths`` must be None); the state is the third argument, ``state=``, not the second (which is
``lengths``); ``batch_first=True`` is the default. Under ``torch.autocast`` the fused path runs in
the autocast dtype (weights cast per call, differentiably), as ``torch.nn.LSTM`` does; the reference
path computes in the weights' dtype. On a GPU each layer keeps its weights in one flat buffer that
the parameters are views of, as ``torch.nn.RNNBase.flatten_parameters`` does, so cuDNN does not copy
them (except under autocast, whose cast weights are new tensors).
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .cells import GRUCell, LSTMCell, RNNCell, _Cell
from .masking import Padding, check_lengths
from .recurrence import (
    fused_step,
    layer_kernel_needed,
    recurrent_bias,
    run_directions,
    run_layer,
    run_reference,
    supports_fused,
)

IMPLS = ("auto", "fused", "reference")


class _Recurrent(nn.Module):
    cell_class: type[_Cell] = _Cell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        batch_first: bool = True,
        impl: str = "auto",
        **cell_kwargs: object,
    ) -> None:
        super().__init__()
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a float in [0, 1), got {dropout!r}")
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"dropout={dropout} acts between stacked layers, so with num_layers=1 it does nothing "
                "(as in torch.nn); for dropout on the inputs or outputs use nn.Dropout around the layer",
                stacklevel=2,
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.impl = impl
        D = self.num_directions
        # cells[l * D + d]: layer l, direction d (0 forward, 1 backward), torch's state order.
        self.cells = nn.ModuleList(
            self.cell_class(input_size if layer == 0 else D * hidden_size, hidden_size, **cell_kwargs)
            for layer in range(num_layers)
            for _ in range(D)
        )
        # On a GPU: each cell's b_hh in its layer's flat weight buffer (see _flatten_weights).
        self._recurrent_biases: list[Tensor] | None = None
        self._flatten_weights()  # a layer built on a GPU (torch.device("cuda") as default)

    @property
    def is_lstm(self) -> bool:
        return issubclass(self.cell_class, LSTMCell)

    def resolved_impl(self) -> str:
        """The implementation the next call will use: the one place that decides."""
        fused_ok = all(supports_fused(cell) for cell in self.cells)
        if self.impl == "fused" and not fused_ok:
            raise ValueError(
                f"impl='fused' needs rnnkit's own cells, got {type(self.cells[0]).__name__}; "
                "use impl='reference' (or 'auto') for a custom cell"
            )
        if self.impl == "reference" or not fused_ok:
            return "reference"
        return "fused"

    def forward(
        self,
        x: Tensor | PackedSequence,
        lengths: Tensor | list[int] | None = None,
        state: Tensor | tuple[Tensor, Tensor] | None = None,
        *,
        return_sequences: bool = True,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        if isinstance(x, PackedSequence):
            return self._forward_packed(x, lengths, state, return_sequences)
        self._refuse_state_as_lengths(lengths)
        autocast = _autocast_dtype(x)
        self._check_input(x, check_dtype=autocast is None)
        if not self.batch_first:
            x = x.transpose(0, 1)  # (T, B, E) -> (B, T, E)
        B, T, _ = x.shape
        padding = None
        if lengths is not None:
            lengths = check_lengths(lengths, B, T)  # on the CPU: no device sync below
            if bool((lengths < T).any()):
                padding = Padding.from_lengths(lengths, T, x.device)
        run, dtype = self._runner(x, padding, autocast)
        x = x.to(dtype)
        states = self._split_state(state, x)

        D = self.num_directions
        final: list[tuple[Tensor, ...]] = []
        with torch.autocast(x.device.type, enabled=False) if autocast else contextlib.nullcontext():
            # Whatever the padded steps hold (even inf or NaN) must not reach the kernels' arithmetic.
            layer_input = x if padding is None else padding.zero_padding(x)
            for layer in range(self.num_layers):
                if layer > 0 and self.dropout > 0.0:
                    layer_input = F.dropout(layer_input, self.dropout, self.training)
                cells = list(self.cells[layer * D : (layer + 1) * D])
                sequences = return_sequences or layer < self.num_layers - 1
                # Padded steps of a lower layer's output are never read by the layer above.
                layer_input, last = run(
                    cells, layer_input, states[layer * D : (layer + 1) * D], padding, sequences, layer=layer
                )
                final.extend(last)

        h_n = torch.stack([s[0] for s in final])  # (L*D, B, H)
        if not return_sequences:
            output = torch.cat(list(h_n[-D:]), dim=1)  # (B, D*H)
        else:
            output = layer_input if padding is None else padding.zero_padding_finite(layer_input)
            if not self.batch_first:  # (B, T, D*H) -> (T, B, D*H), contiguous as torch's
                output = output.transpose(0, 1).contiguous()
        if self.is_lstm:
            return output, (h_n, torch.stack([s[1] for s in final]))
        return output, h_n

    def _runner(
        self, x: Tensor, padding: Padding | None, autocast: torch.dtype | None
    ) -> tuple[Callable, torch.dtype]:
        """How each layer runs (see :mod:`rnnkit.nn.recurrence`), and the dtype it computes in."""
        weight_dtype = self.cells[0].weight_ih.dtype
        if self.resolved_impl() == "reference":
            return _ignore_layer(run_reference), weight_dtype
        dtype = autocast or weight_dtype
        cast = autocast if autocast is not None and autocast != weight_dtype else None
        if layer_kernel_needed(self.cells[0], x.device, padding):
            return functools.partial(self._run_layer, dtype=cast), dtype
        return _ignore_layer(functools.partial(run_directions, dtype=cast)), dtype

    def _run_layer(self, cells, x, states, padding, sequences, *, layer: int, dtype=None):
        biases = None if dtype is not None else self._flat_recurrent_biases(layer)
        return run_layer(cells, x, states, padding, sequences, dtype, biases)

    def _forward_packed(self, packed: PackedSequence, lengths, state, return_sequences):
        """torch's habit: a PackedSequence in, a PackedSequence out (states in the batch's order)."""
        if lengths is not None:
            raise ValueError(
                f"{type(self).__name__} got a PackedSequence and lengths: the packed batch carries its "
                "lengths; call layer(packed) or layer(packed, state=...)"
            )
        padded, lengths = pad_packed_sequence(packed, batch_first=self.batch_first)
        output, state = self.forward(padded, lengths, state, return_sequences=return_sequences)
        if not return_sequences:
            return output, state
        batch_major = output if self.batch_first else output.transpose(0, 1)  # (B, T, D*H)
        order = packed.sorted_indices
        if order is not None:
            batch_major, lengths = batch_major.index_select(0, order), lengths[order.cpu()]
        data = pack_padded_sequence(batch_major, lengths, batch_first=True).data
        return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices), state

    def step(
        self, x_t: Tensor, state: Tensor | tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        """One time step of a unidirectional layer: ``x_t`` (B, E) -> the top layer's ``h_t`` (B, H)
        and the new state, shaped as :meth:`forward`'s. ``layer.step`` over t = 1..T gives the same
        numbers as ``layer(x)``; it exists for generation, where x_{t+1} depends on the output at t."""
        if self.bidirectional:
            raise ValueError("step() needs a unidirectional layer: the backward direction reads the future")
        if not isinstance(x_t, Tensor) or x_t.dim() != 2:
            shape = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise ValueError(f"{type(self).__name__}.step expects x_t of shape (B, E), got {shape}")
        self._check_input(x_t[:, None] if self.batch_first else x_t[None])
        states = self._split_state(state, x_t[:, None])
        one_step = fused_step if self.resolved_impl() == "fused" else None
        new_states = []
        h_t = x_t
        for layer, cell in enumerate(self.cells):
            if layer > 0 and self.dropout > 0.0:
                h_t = F.dropout(h_t, self.dropout, self.training)
            if one_step is not None:
                new = one_step(cell, h_t, states[layer])
            else:
                _, new = cell(h_t, states[layer] if self.is_lstm else states[layer][0])
                new = new if self.is_lstm else (new,)
            new_states.append(new)
            h_t = new[0]
        h_n = torch.stack([s[0] for s in new_states])  # (L, B, H)
        if self.is_lstm:
            return h_t, (h_n, torch.stack([s[1] for s in new_states]))
        return h_t, h_n

    # -- the flat weight buffer (GPU) ---------------------------------------------------------------

    def _apply(self, fn, recurse=True):
        result = super()._apply(fn, recurse)
        self._flatten_weights()  # after .to(), .cuda(), .half(): as torch.nn.RNNBase does
        return result

    def _flatten_weights(self, flatten: Callable[[list[Tensor], list[_Cell]], None] | None = None) -> None:
        """Make each layer's weights views into one buffer, in the order cuDNN reads them
        ([w_ih, w_hh, b_ih, b_hh] per direction), so its kernel neither copies them nor warns that
        they are "not part of single contiguous chunk of memory" on every call.

        Our single bias goes in b_ih; b_hh is a zero block of the buffer (for the GRU its n part is
        ``bias_hn``, made a view into it). ``flatten(weights, cells)`` rebinds the tensors' storage;
        by default torch's ``_cudnn_rnn_flatten_weight`` on a GPU with cuDNN, and nothing elsewhere
        (the CPU kernels read separate tensors at full speed)."""
        self._recurrent_biases = None
        first = self.cells[0].weight_ih
        if not all(supports_fused(cell) for cell in self.cells):
            return
        if flatten is None:
            if not (first.is_cuda and torch.backends.cudnn.is_acceptable(first)):
                return
            if not torch._use_cudnn_rnn_flatten_weight():
                return
            flatten = self._cudnn_flatten
        biases: list[Tensor] = []
        D = self.num_directions
        with torch.no_grad():
            for layer in range(self.num_layers):
                cells = list(self.cells[layer * D : (layer + 1) * D])
                b_hh = [recurrent_bias(cell).detach() for cell in cells]
                flatten(
                    [w for c, b in zip(cells, b_hh) for w in (c.weight_ih, c.weight_hh, c.bias, b)], cells
                )
                for cell, b in zip(cells, b_hh):
                    if isinstance(cell, GRUCell):
                        cell.bias_hn.data = b[2 * cell.hidden_size :]  # the n block of b_hh
                biases.extend(b_hh)
        self._recurrent_biases = biases

    def _cudnn_flatten(self, weights: list[Tensor], cells: list[_Cell]) -> None:
        from torch.backends.cudnn import rnn as cudnn_rnn

        mode = {LSTMCell: "LSTM", GRUCell: "GRU"}.get(type(cells[0]))
        if mode is None:
            mode = "RNN_TANH" if cells[0].nonlinearity == "tanh" else "RNN_RELU"
        with torch.cuda.device_of(weights[0]):
            torch._cudnn_rnn_flatten_weight(
                weights,
                4,
                cells[0].input_size,
                cudnn_rnn.get_cudnn_mode(mode),
                self.hidden_size,
                0,
                1,
                True,
                len(cells) == 2,
            )

    def _flat_recurrent_biases(self, layer: int) -> list[Tensor] | None:
        """The b_hh of each direction of ``layer`` as views into the flat buffer (the GRU's a
        differentiable view of ``bias_hn``), or None if the weights are not (or no longer) flat."""
        if self._recurrent_biases is None:
            return None
        D = self.num_directions
        biases = []
        for index in range(layer * D, (layer + 1) * D):
            cell, b_hh = self.cells[index], self._recurrent_biases[index]
            if b_hh.device != cell.weight_ih.device:
                return None  # a replica on another device (DataParallel) shares the list, not the buffer
            if isinstance(cell, GRUCell):
                H = cell.hidden_size
                if cell.bias_hn.data_ptr() != b_hh[2 * H :].data_ptr():
                    return None  # bias_hn was replaced: build b_hh per call (cuDNN then copies)
                b_hh = cell.bias_hn.as_strided((3 * H,), (1,), cell.bias_hn.storage_offset() - 2 * H)
            biases.append(b_hh)
        return biases

    def to_torch(self) -> nn.RNNBase:
        """The equivalent ``torch.nn.RNN``/``LSTM``/``GRU`` with copied weights."""
        from .interop import to_torch  # interop imports this module

        return to_torch(self)

    # -- validation ------------------------------------------------------------------------------

    def _refuse_state_as_lengths(self, lengths: object) -> None:
        """torch's habit, ``layer(x, h0)`` or ``layer(x, (h0, c0))``: say where the state goes."""
        parts = lengths if isinstance(lengths, (tuple, list)) else (lengths,)
        if any(isinstance(p, Tensor) and p.is_floating_point() for p in parts):
            name = type(self).__name__
            example = "state=(h0, c0)" if self.is_lstm else "state=h0"
            raise TypeError(
                f"{name}'s second argument is lengths (integers, one per sequence), got a float "
                f"tensor: the initial state goes in the keyword argument, layer(x, {example}) "
                f"(or layer(x, lengths, {example.split('=')[1]})), not second as in torch.nn"
            )

    def _check_input(self, x: object, check_dtype: bool = True) -> None:
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} input x must be a torch.Tensor, got {type(x).__name__}")
        layout = "(B, T, E)" if self.batch_first else "(T, B, E)"
        if x.dim() != 3:
            raise ValueError(
                f"{name} expected a 3-D input {layout}, got {x.dim()}-D of shape {tuple(x.shape)}; "
                "for one sequence use x.unsqueeze(0)"
            )
        if x.shape[2] != self.input_size:
            raise ValueError(
                f"{name} expected input features E={self.input_size} (the last dimension of x), "
                f"got {x.shape[2]}"
            )
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{name} got an empty input of shape {tuple(x.shape)}")
        weight = self.cells[0].weight_ih
        if check_dtype and x.dtype != weight.dtype:
            raise TypeError(
                f"{name} input x has dtype {x.dtype} but the weights are {weight.dtype}; "
                f"convert one of them (x.to({weight.dtype}) or layer.to({x.dtype}))"
            )

    def _split_state(self, state: object, x: Tensor) -> list[tuple[Tensor, ...]]:
        """The initial state as one tuple ((h,) or (h, c), each (B, H)) per cell."""
        B = x.shape[0]
        LD, H = len(self.cells), self.hidden_size
        if state is None:
            zeros = x.new_zeros(B, H)
            return [(zeros, zeros) if self.is_lstm else (zeros,)] * LD
        name = type(self).__name__
        if self.is_lstm:
            if not (isinstance(state, (tuple, list)) and len(state) == 2):
                raise TypeError(f"{name} state must be a tuple (h_0, c_0), got {type(state).__name__}")
            parts = tuple(state)
        else:
            if not isinstance(state, Tensor):
                raise TypeError(f"{name} state must be a tensor h_0, got {type(state).__name__}")
            parts = (state,)
        for part in parts:
            if not isinstance(part, Tensor):
                raise TypeError(f"{name} state must hold tensors, got {type(part).__name__}")
            if tuple(part.shape) != (LD, B, H):
                raise ValueError(
                    f"{name} state must have shape (L*D, B, H) = {(LD, B, H)}, got {tuple(part.shape)}"
                )
            if part.dtype != x.dtype and not _autocast_dtype(x):
                raise TypeError(f"{name} state has dtype {part.dtype} but x has {x.dtype}")
        parts = tuple(part.to(x.dtype) for part in parts)
        return [tuple(part[i] for part in parts) for i in range(LD)]

    def extra_repr(self) -> str:
        fields = [f"{self.input_size}, {self.hidden_size}"]
        if self.num_layers != 1:
            fields.append(f"num_layers={self.num_layers}")
        if self.bidirectional:
            fields.append("bidirectional=True")
        if self.dropout:
            fields.append(f"dropout={self.dropout}")
        if not self.batch_first:
            fields.append("batch_first=False")
        if self.impl != "auto":
            fields.append(f"impl={self.impl!r}")
        return ", ".join(fields)


class RNN(_Recurrent):
    """Vanilla RNN layer, ``h_t = tanh(W_hh h_{t-1} + W_hx x_t + b)``; see the module doc.

    ``nonlinearity="relu"`` as in ``torch.nn.RNN``. Cells: :class:`rnnkit.RNNCell`.
    """

    cell_class = RNNCell

    def __init__(self, input_size: int, hidden_size: int, *args, nonlinearity: str = "tanh", **kw):
        super().__init__(input_size, hidden_size, *args, nonlinearity=nonlinearity, **kw)

    @property
    def nonlinearity(self) -> str:
        return self.cells[0].nonlinearity


class LSTM(_Recurrent):
    """LSTM layer (gates i, f, g, o); state ``(h_n, c_n)``; see the module doc and :class:`LSTMCell`."""

    cell_class = LSTMCell


class GRU(_Recurrent):
    """GRU layer (gates r, z, n, reset after the recurrent product); see :class:`GRUCell`."""

    cell_class = GRUCell


def _autocast_dtype(x: Tensor) -> torch.dtype | None:
    """The dtype that ``torch.autocast`` asks for on ``x``'s device, or None when it is off."""
    if not (isinstance(x, Tensor) and x.is_floating_point()):
        return None
    device = x.device.type
    if not torch.is_autocast_enabled(device):
        return None
    return torch.get_autocast_dtype(device)


def _ignore_layer(run: Callable) -> Callable:
    """``run`` called with the layer index it does not need."""

    def call(cells, x, states, padding, sequences, *, layer: int):
        return run(cells, x, states, padding, sequences)

    return call
