"""A Keras-style model summary: each layer's output shape and parameter count, then the totals.

>>> print(rnnkit.summary(model, example_input))   # doctest: +SKIP

Rows are the model's *layers*: modules without children (Embedding, Linear, ReLU, Dropout...) and
rnnkit's recurrent layers, whose cells are not listed separately. Shapes come from one forward pass
of ``example_input`` under ``torch.no_grad()``; ``B`` stands for the batch dimension.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .nn.layers import _Recurrent


@dataclass
class SummaryRow:
    name: str
    kind: str
    output_shape: tuple[int | str, ...] | None
    params: int


@dataclass
class Summary:
    rows: list[SummaryRow] = field(default_factory=list)
    total: int = 0
    trainable: int = 0

    @property
    def non_trainable(self) -> int:
        return self.total - self.trainable

    def __str__(self) -> str:
        header = ("Layer (type)", "Output Shape", "Param #")
        body = [
            (
                f"{row.name} ({row.kind})",
                "?" if row.output_shape is None else str(row.output_shape).replace("'", ""),
                f"{row.params:,}",
            )
            for row in self.rows
        ]
        widths = [max(len(r[i]) for r in [header, *body]) + 2 for i in range(3)]

        def line(cells: tuple[str, str, str]) -> str:
            return "".join(
                cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths))
            ).rstrip()

        rule_width = sum(widths)
        out = ["=" * rule_width, line(header), "=" * rule_width]
        out += [line(r) for r in body]
        out += [
            "=" * rule_width,
            f"Total params: {self.total:,}",
            f"Trainable params: {self.trainable:,}",
            f"Non-trainable params: {self.non_trainable:,}",
            "=" * rule_width,
        ]
        return "\n".join(out)


def _is_row(module: nn.Module) -> bool:
    return isinstance(module, _Recurrent) or not any(True for _ in module.children())


def _first_tensor(output: object) -> Tensor | None:
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output:
        return _first_tensor(output[0])
    return None


def summary(model: nn.Module, *example_inputs: object, **example_kwargs: object) -> Summary:
    """Run ``model(*example_inputs, **example_kwargs)`` once and tabulate its layers."""
    rows: dict[nn.Module, SummaryRow] = {}
    skip: set[nn.Module] = set()
    for name, module in model.named_modules():
        if module in skip or (module is model and any(True for _ in model.children())):
            continue
        if _is_row(module):
            params = sum(p.numel() for p in module.parameters())
            rows[module] = SummaryRow(
                name or type(module).__name__.lower(), type(module).__name__, None, params
            )
            skip.update(module.modules())

    def record(module: nn.Module, _inputs: object, output: object) -> None:
        tensor = _first_tensor(output)
        if tensor is not None and rows[module].output_shape is None:
            rows[module].output_shape = ("B", *tensor.shape[1:])

    handles = [module.register_forward_hook(record) for module in rows]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(*example_inputs, **example_kwargs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()

    unique = list(model.parameters())  # shared parameters are listed once
    return Summary(
        rows=list(rows.values()),
        total=sum(p.numel() for p in unique),
        trainable=sum(p.numel() for p in unique if p.requires_grad),
    )
