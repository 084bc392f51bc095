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

- ``impl="fused"``: torch's native kernel per layer and direction (cuDNN on a GPU) on the padded
  tensor; see :mod:`rnnkit.nn.recurrence` for how padding is kept out of the result.
- ``impl="reference"``: a Python loop over the cells of :mod:`rnnkit.nn.cells`.
- ``impl="auto"``: fused whenever the cells are rnnkit's own (a subclass with other equations falls
  back to the reference loop).

Between stacked layers, dropout with probability ``dropout`` is applied to the outputs in training,
as in ``torch.nn.LSTM``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cells import GRUCell, LSTMCell, RNNCell, _Cell
from .masking import Padding, check_lengths
from .recurrence import fused_step, run_fused, run_reference, supports_fused

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
        x: Tensor,
        lengths: Tensor | list[int] | None = None,
        state: Tensor | tuple[Tensor, Tensor] | None = None,
        *,
        return_sequences: bool = True,
    ) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        self._check_input(x)
        if not self.batch_first:
            x = x.transpose(0, 1)  # (T, B, E) -> (B, T, E)
        B, T, _ = x.shape
        padding = None
        if lengths is not None:
            lengths = check_lengths(lengths, B, T, x.device)
            if bool((lengths < T).any()):
                padding = Padding.from_lengths(lengths, T)
        states = self._split_state(state, x)
        run = run_fused if self.resolved_impl() == "fused" else run_reference

        D = self.num_directions
        final: list[tuple[Tensor, ...]] = []
        # Whatever the padded steps hold (even inf or NaN) must not reach the kernels' arithmetic.
        layer_input = x if padding is None else padding.zero_padding(x)
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0.0:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
            cells = list(self.cells[layer * D : (layer + 1) * D])
            sequences = return_sequences or layer < self.num_layers - 1
            # Padded steps of a lower layer's output are never read by the layer above.
            layer_input, last = run(
                cells, layer_input, states[layer * D : (layer + 1) * D], padding, sequences
            )
            final.extend(last)

        h_n = torch.stack([s[0] for s in final])  # (L*D, B, H)
        if not return_sequences:
            output = torch.cat(list(h_n[-D:]), dim=1)  # (B, D*H)
        else:
            output = layer_input if padding is None else padding.zero_padding_finite(layer_input)
            output = output if self.batch_first else output.transpose(0, 1)  # (B, T, D*H)
        if self.is_lstm:
            return output, (h_n, torch.stack([s[1] for s in final]))
        return output, h_n

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

    def to_torch(self) -> nn.RNNBase:
        """The equivalent ``torch.nn.RNN``/``LSTM``/``GRU`` with copied weights."""
        from .interop import to_torch  # interop imports this module

        return to_torch(self)

    # -- validation ------------------------------------------------------------------------------

    def _check_input(self, x: object) -> None:
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
        if x.dtype != weight.dtype:
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
            if part.dtype != x.dtype:
                raise TypeError(f"{name} state has dtype {part.dtype} but x has {x.dtype}")
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
