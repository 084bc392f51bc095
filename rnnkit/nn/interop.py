"""Moving weights between rnnkit layers and ``torch.nn.RNN`` / ``LSTM`` / ``GRU``.

torch keeps two bias vectors per cell, ``bias_ih`` and ``bias_hh``; rnnkit keeps one per gate,
because only their sum enters the equations. The exception is the GRU's candidate n, where the
recurrent bias sits inside the reset gate's product ``r * (W_hn h + b_hn)``: rnnkit keeps it as
``bias_hn``. Conversions therefore map, per layer ``l`` and direction suffix ``s`` ("" or
"_reverse"):

=====================  ==========================================================
rnnkit ``cells[l*D+d]`` torch
=====================  ==========================================================
``weight_ih``          ``weight_ih_l{l}{s}``
``weight_hh``          ``weight_hh_l{l}{s}``
``bias``               ``bias_ih_l{l}{s} + bias_hh_l{l}{s}`` (GRU: r and z rows only;
                       the n rows take ``bias_ih`` alone)
``bias_hn`` (GRU)      the n rows of ``bias_hh_l{l}{s}``
=====================  ==========================================================

Keras stores kernels transposed, (E, G*H) and (H, G*H): ``weight_ih = kernel.T`` and
``weight_hh = recurrent_kernel.T``. Its LSTM gate order i, f, c, o is rnnkit's i, f, g, o. Its GRU
(``reset_after=True``) orders the gates z, r, h and keeps a bias of shape (2, 3H) (input row,
recurrent row): reorder the row blocks to r, z, n, then ``bias = b_in + b_rec`` for r and z,
``bias = b_in`` for n and ``bias_hn = b_rec`` for n.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import GRU, LSTM, RNN, _Recurrent
from .recurrence import supports_fused

_TORCH_TO_RNNKIT: dict[type[nn.RNNBase], type[_Recurrent]] = {
    nn.RNN: RNN,
    nn.LSTM: LSTM,
    nn.GRU: GRU,
}


def _counterpart(cls: type, source: nn.Module, reference: torch.Tensor, **kwargs) -> nn.Module:
    """A ``cls`` layer with the sizes and options of ``source`` (rnnkit layers and torch.nn modules
    name them alike), on the device and in the dtype of the parameter ``reference``."""
    return cls(
        source.input_size,
        source.hidden_size,
        num_layers=source.num_layers,
        bidirectional=source.bidirectional,
        dropout=source.dropout,
        batch_first=source.batch_first,
        **kwargs,
    ).to(device=reference.device, dtype=reference.dtype)


def _suffix(index: int, D: int) -> str:
    """torch's name suffix (``l{l}`` or ``l{l}_reverse``) of rnnkit's ``cells[index]``, D directions."""
    return f"l{index // D}" + ("_reverse" if index % D else "")


def from_torch(module: nn.RNNBase, impl: str = "auto") -> _Recurrent:
    """Build the rnnkit layer that computes exactly what ``module`` computes, with copied weights."""
    layer_class = _TORCH_TO_RNNKIT.get(type(module))
    if layer_class is None:
        raise TypeError(f"from_torch expects torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    if not module.bias:
        raise ValueError("from_torch needs a module with bias=True; rnnkit cells always have biases")
    if getattr(module, "proj_size", 0):
        raise ValueError(f"from_torch does not support LSTM projections (proj_size={module.proj_size})")
    kwargs = {}
    if layer_class is RNN:
        kwargs["nonlinearity"] = module.nonlinearity
    layer = _counterpart(layer_class, module, module.weight_ih_l0, impl=impl, **kwargs)
    H = module.hidden_size
    D = 2 if module.bidirectional else 1
    with torch.no_grad():
        for index, cell in enumerate(layer.cells):
            suffix = _suffix(index, D)
            b_ih = getattr(module, f"bias_ih_{suffix}")
            b_hh = getattr(module, f"bias_hh_{suffix}")
            cell.weight_ih.copy_(getattr(module, f"weight_ih_{suffix}"))
            cell.weight_hh.copy_(getattr(module, f"weight_hh_{suffix}"))
            if layer_class is GRU:
                cell.bias.copy_(torch.cat([b_ih[: 2 * H] + b_hh[: 2 * H], b_ih[2 * H :]]))
                cell.bias_hn.copy_(b_hh[2 * H :])
            else:
                cell.bias.copy_(b_ih + b_hh)
    return layer


def to_torch(layer: _Recurrent) -> nn.RNNBase:
    """The ``torch.nn`` module that computes exactly what ``layer`` computes, with copied weights.

    The folded bias goes to ``bias_ih`` and ``bias_hh`` is zero (for the GRU, its n rows hold
    ``bias_hn``). torch's module ignores padding unless given a PackedSequence.
    """
    torch_class = next(
        (t for r, t in ((RNN, nn.RNN), (LSTM, nn.LSTM), (GRU, nn.GRU)) if isinstance(layer, r)), None
    )
    if torch_class is None:
        raise TypeError(f"to_torch expects an rnnkit RNN, LSTM or GRU layer, got {type(layer).__name__}")
    custom = next((cell for cell in layer.cells if not supports_fused(cell)), None)
    if custom is not None:
        raise ValueError(
            f"to_torch needs rnnkit's own cells, got {type(custom).__name__}: torch.nn has no module "
            "with its equations"
        )
    kwargs = {"nonlinearity": layer.nonlinearity} if isinstance(layer, RNN) else {}
    module = _counterpart(torch_class, layer, layer.cells[0].weight_ih, **kwargs)
    H = layer.hidden_size
    D = layer.num_directions
    with torch.no_grad():
        for index, cell in enumerate(layer.cells):
            suffix = _suffix(index, D)
            getattr(module, f"weight_ih_{suffix}").copy_(cell.weight_ih)
            getattr(module, f"weight_hh_{suffix}").copy_(cell.weight_hh)
            getattr(module, f"bias_ih_{suffix}").copy_(cell.bias)
            b_hh = getattr(module, f"bias_hh_{suffix}")
            b_hh.zero_()
            if isinstance(layer, GRU):
                b_hh[2 * H :].copy_(cell.bias_hn)
    return module
