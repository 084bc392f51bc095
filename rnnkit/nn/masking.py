"""Padding and masking for batches of variable-length sequences.

A batch of B sequences with lengths ``lengths`` is stored right-padded in a (B, T, E) tensor with
``T = max(lengths)``. The layers make the result on such a batch *exactly* that of running each
sequence alone, without its padding, through three index tricks computed once per batch here:

- ``valid`` (B, T): True at real steps. Outputs at padded steps are set to zero.
- ``last`` (B,): the index ``length - 1`` of each sequence's last real step, where the forward
  direction's final hidden state is read.
- ``reverse_index`` (B, T): for the backward direction, step ``t < length`` maps to
  ``length - 1 - t`` and padded steps stay where they are. Gathering with it reverses each sequence
  *within its own length*, so the backward direction also starts at a real step and meets its
  padding only at the end, where it is discarded. The map is its own inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Padding:
    """Index tensors describing the padding of one right-padded batch (see the module doc)."""

    lengths_cpu: Tensor  # (B,) int64 on the CPU: bookkeeping and packing, no device round trip
    valid: Tensor  # (B, T) bool, on the data's device
    last: Tensor  # (B,) int64
    flat_reverse_index: Tensor  # (B*T,) int64: reverse_index as rows of the (B*T, F) view

    @classmethod
    def from_lengths(cls, lengths: Tensor, max_len: int, device: torch.device | str | None = None) -> Padding:
        """The index tensors on ``device`` (default: that of ``lengths``), from (B,) lengths. Lengths
        on the CPU are copied to the device without waiting for it (no host-device sync)."""
        lengths_cpu = lengths.cpu()
        lengths = lengths.to(device or lengths.device, non_blocking=True)
        steps = torch.arange(max_len, device=lengths.device)  # (T,)
        valid = steps[None, :] < lengths[:, None]  # (B, T)
        reverse_index = torch.where(valid, lengths[:, None] - 1 - steps[None, :], steps[None, :])
        B = lengths.shape[0]
        flat = (reverse_index + max_len * torch.arange(B, device=lengths.device)[:, None]).reshape(-1)
        return cls(lengths_cpu, valid, lengths - 1, flat)

    def reverse(self, x: Tensor) -> Tensor:
        """Reverse each sequence of ``x`` (B, T, F) within its length; padded steps stay put."""
        B, T, F = x.shape
        # index_select on rows is faster than gather on CPU, forward and backward
        return x.reshape(B * T, F).index_select(0, self.flat_reverse_index).view(B, T, F)

    def gather_last(self, x: Tensor) -> Tensor:
        """``x[b, lengths[b] - 1]`` for each b: (B, T, F) -> (B, F)."""
        index = self.last[:, None, None].expand(-1, 1, x.shape[2])  # (B, 1, F)
        return x.gather(1, index).squeeze(1)

    def zero_padding(self, x: Tensor) -> Tensor:
        """``x`` (B, T, F) with every padded step set to zero, even where it held inf or NaN."""
        return torch.where(self.valid[:, :, None], x, x.new_zeros(()))

    def zero_padding_finite(self, x: Tensor) -> Tensor:
        """As :meth:`zero_padding` for an ``x`` known to be finite (a kernel's output): one
        multiplication, about twice as fast on CPU. Padded steps get exactly zero gradient."""
        return x * self.valid[:, :, None].to(x.dtype)


def check_lengths(
    lengths: object, batch_size: int, max_len: int, device: torch.device | str | None = None
) -> Tensor:
    """Validate ``lengths`` for a batch of ``batch_size`` sequences padded to ``max_len`` steps.

    Accepts a 1-D integer tensor (on any device), a NumPy array or a sequence of ints; returns an
    int64 tensor on ``device``, on the CPU by default: the layers keep lengths there for their
    bookkeeping, as torch's packing does, so that a GPU batch costs no device-to-host sync (lengths
    given on the GPU are copied back once). Raises ``TypeError``/``ValueError`` naming what was
    expected and what was received.
    """
    if not isinstance(lengths, Tensor):
        try:
            lengths = torch.as_tensor(lengths)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                "lengths must be a 1-D integer tensor, array or sequence of ints, "
                f"got {type(lengths).__name__}"
            ) from None
    if lengths.dtype.is_floating_point or lengths.dtype.is_complex or lengths.dtype == torch.bool:
        raise TypeError(
            f"lengths must hold integers, got dtype {lengths.dtype}; "
            "pass e.g. torch.tensor([5, 3], dtype=torch.long)"
        )
    if lengths.dim() != 1 or lengths.shape[0] != batch_size:
        raise ValueError(
            f"lengths must be 1-D of size B={batch_size} (one length per sequence), "
            f"got shape {tuple(lengths.shape)}"
        )
    lengths = lengths.to(device="cpu", dtype=torch.long)
    if batch_size and (int(lengths.min()) < 1 or int(lengths.max()) > max_len):
        raise ValueError(
            f"every length must be in [1, T={max_len}] (T is the padded time dimension), got "
            f"min {int(lengths.min())} and max {int(lengths.max())}; drop empty sequences first"
        )
    return lengths if device is None else lengths.to(device, non_blocking=True)


def lengths_to_mask(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """A (B, T) boolean mask, True at the real steps of each right-padded sequence."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]
