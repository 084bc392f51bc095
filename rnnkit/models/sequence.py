"""The sequence-classification core: feature sequences -> a recurrent encoder -> one of three heads.

One model for every modality whose adapter gives ``(T, E)`` float sequences (DNA bases, skeleton
joints, audio frames); :mod:`rnnkit.data.sequences` batches them. For one sequence of length n
(padded to T >= n inside a batch)::

    u_t = ReLU(W_p x_t + b_p)                   t = 1..n; the input projection, E -> P (projection > 0;
                                                 else u_t = x_t)
    v_t = ReLU(b_k + sum_{j=-r..r} W_k[j] v'_{s t + j})
                                                an optional convolutional front end (conv_layers = K > 0):
                                                 K 1-D convolutions over time, each with Q channels, kernel
                                                 2r + 1 (W_k[j]: (Q, P or Q)) and stride s, reading the
                                                 previous layer's output v' (the first reads u) with zeros
                                                 outside the sequence's own steps 1..n ('same' padding);
                                                 a layer turns n steps into ceil(n / s), so the encoder and
                                                 the heads see n' = ceil(... ceil(n / s) ... / s) steps
                                                 (K times; conv_layers = 0: v_t = u_t, n' = n)
    h_t = [h_t^fwd ; h_t^bwd]                   L stacked layers (LSTM or GRU, rnnkit.nn), D directions of
                                                 H units over v_1..v_n', read with the lengths: h_t^bwd
                                                 starts at step n', and no padded step enters any state
                                                 (exact masking: padded steps are zeroed before every
                                                 convolution, so they read as the zero padding of a
                                                 sequence alone)

    clip  (many-to-one):          z = pool(h_1, ..., h_n),  y = W_o dropout(z) + b_o,  y in R^C
                                (n stands for n' below when there are convolutions)
              mean:  z = (1/n) sum_{t <= n} h_t
              max:   z_j = max_{t <= n} h_{t,j}
              meanmax: z = [mean ; max]         both, concatenated (2 D H wide)
              last:  z = [h_n^fwd ; h_1^bwd]    each direction's final state (Keras's
                                                return_sequences=False)
              center: z = [h_m^fwd ; h_(m+1)^bwd], m = floor(n/2): the forward direction has read
                                                the first half, the backward one the second, and they
                                                meet in the middle (a window centred on an event: a
                                                splice junction); unidirectional: h_m
    frame (synced many-to-many):  y_t = W_o dropout(h_t) + b_o,  y_t in R^C,  t = 1..n (stride 1 only)
    ctc   (unaligned transcript): y_t in R^(C+1), t = 1..n', symbol 0 the blank, log_softmax(y_t)
                                  into torch.nn.CTCLoss (Graves et al. 2006) with the lengths n'

Shapes: B batch, T padded length (T' = the length after the convolutions' strides), E input
features, P projection, Q convolution channels, H hidden units per direction, D directions (2 if
bidirectional), L layers, C classes. Parameters: ``projection`` (W_p: (P, E), b_p: (P,)),
``conv.k`` (torch.nn.Conv1d: weight (Q, P or E or Q, 2r + 1), bias (Q,)), ``encoder`` (the layer's
cells, see :mod:`rnnkit.nn.layers`), ``output`` (W_o: (C, D*H), (C, 2*D*H) for meanmax, or
(C+1, D*H), b_o). ``dropout`` acts between the recurrent layers (as in ``torch.nn.LSTM``) and
before the output layer. Initialisation: torch's for the linear and convolutional layers, rnnkit's
for the cells.

:func:`probabilities` is the inference of every head (an ensemble's mean, in the inputs' order).
The outputs of a sequence are the same alone or padded in a batch (tests/test_sequence_core.py),
so are the losses of :func:`make_step`, and padded steps receive no gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import check_at_least_one, check_at_least_zero, check_choice, check_fraction
from ..data.batching import in_order
from ..data.sequences import IGNORE, FeatureSequences, SequenceBatch
from ..errors import ConfigError
from ..nn import GRU, LSTM
from ..nn.masking import lengths_to_mask

CELLS = {"lstm": LSTM, "gru": GRU}
HEADS = ("clip", "frame", "ctc")
POOLINGS = ("mean", "max", "meanmax", "last", "center")
BLANK = 0  # the CTC head's blank symbol; the transcript's symbols are 1..C


@dataclass
class SequenceModelConfig:
    input_size: int = 4  # E: the adapter's features per step (decided by the task's data)
    projection: int = 0  # P: a ReLU projection of each step before the encoder; 0 for none
    cell: str = "lstm"  # "lstm" | "gru"
    hidden_size: int = 64  # H per direction
    num_layers: int = 1  # L
    bidirectional: bool = True
    dropout: float = 0.0  # between recurrent layers and before the output layer
    head: str = "clip"  # "clip" (one class per sequence) | "frame" (per step) | "ctc" (a transcript)
    pooling: str = "mean"  # clip head: "mean" | "max" | "meanmax" | "last" | "center"
    num_classes: int = 2  # C (ctc: the transcript's symbols, the blank not counted)
    conv_layers: int = 0  # K: 1-D convolutions over time before the encoder; 0 for none
    conv_channels: int = 64  # Q: each convolution's output channels
    conv_kernel: int = 5  # 2r + 1, odd: each output step is centred on its input step
    conv_stride: int = 1  # s, each convolution's: n steps -> ceil(n / s); 1 keeps every step

    def __post_init__(self) -> None:
        check_choice(self, "cell", CELLS)
        check_choice(self, "head", HEADS)
        check_choice(self, "pooling", POOLINGS)
        check_at_least_one(self, "input_size", "hidden_size", "num_layers", "num_classes")
        check_at_least_zero(self, "projection", "0 for none")
        check_at_least_zero(self, "conv_layers", "0 for none")
        check_at_least_one(self, "conv_channels", "conv_kernel", "conv_stride")
        check_fraction(self, "dropout")
        if self.conv_kernel % 2 == 0:
            raise ConfigError(
                f"conv_kernel must be odd (each output step centred on its input step), "
                f"got {self.conv_kernel}"
            )
        if self.head == "frame" and self.time_stride > 1:
            raise ConfigError(
                f"conv_stride must be 1 with the frame head (one label per input step), got "
                f"{self.conv_stride}; use the clip or ctc head to subsample time"
            )

    @property
    def time_stride(self) -> int:
        """How many input steps one output step spans: s^K (1 without convolutions)."""
        return self.conv_stride**self.conv_layers if self.conv_layers else 1

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """n -> n', each sequence's steps after the convolutions (ceil(n / s), K times)."""
        for _ in range(self.conv_layers):
            lengths = -(-lengths // self.conv_stride)  # ceil(n / s)
        return lengths

    @property
    def pooled_width(self) -> int:
        """What the output layer reads: D*H, or 2*D*H for the clip head's meanmax pooling."""
        D = 2 if self.bidirectional else 1
        return D * self.hidden_size * (2 if self.head == "clip" and self.pooling == "meanmax" else 1)

    @property
    def num_outputs(self) -> int:
        """The output layer's width: C, or C + 1 with the CTC blank."""
        return self.num_classes + (self.head == "ctc")


class SequenceModel(nn.Module):
    """``model(x, lengths)``: ``x`` (B, T, E) right-padded, ``lengths`` (B,) (None: all T).
    Returns logits (B, C) for the clip head, (B, T', C) (or (B, T', C+1) for ctc) otherwise (T' = T
    without a strided convolution; :meth:`SequenceModelConfig.output_lengths` gives each n'), where
    a padded step's logits are the output layer's bias (h_t = 0 there) and carry no gradient into
    the model through any loss that ignores them."""

    def __init__(self, config: SequenceModelConfig) -> None:
        super().__init__()
        self.config = config
        width = config.input_size
        self.projection = None
        if config.projection:
            self.projection = nn.Linear(config.input_size, config.projection)
            width = config.projection
        self.conv = None
        if config.conv_layers:
            self.conv = nn.ModuleList()
            for _ in range(config.conv_layers):
                self.conv.append(
                    nn.Conv1d(width, config.conv_channels, config.conv_kernel, config.conv_stride,
                              padding=config.conv_kernel // 2)
                )  # fmt: skip
                width = config.conv_channels
        self.encoder = CELLS[config.cell](
            width,
            config.hidden_size,
            num_layers=config.num_layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.pooled_width, config.num_outputs)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.config.input_size:
            raise ValueError(
                f"SequenceModel expects x of shape (B, T, {self.config.input_size}), got {tuple(x.shape)}"
            )
        if self.projection is not None:
            x = F.relu(self.projection(x))  # (B, T, E) -> (B, T, P)
        if self.conv is not None:
            x, lengths = self.convolve(x, lengths)  # (B, T', Q), (B,)
        config = self.config
        if config.head == "clip" and config.pooling == "last":
            z, _ = self.encoder(x, lengths, return_sequences=False)  # (B, D*H)
            return self.output(self.dropout(z))  # (B, C)
        h, _ = self.encoder(x, lengths)  # (B, T, D*H), zero at padded steps
        if config.head != "clip":
            return self.output(self.dropout(h))  # (B, T, C) or (B, T, C+1)
        if config.pooling == "center":
            return self.output(self.dropout(center(h, lengths, config.bidirectional)))  # (B, C)
        if config.pooling == "meanmax":
            z = torch.cat([pool(h, lengths, "mean"), pool(h, lengths, "max")], dim=1)  # (B, 2*D*H)
            return self.output(self.dropout(z))  # (B, C)
        return self.output(self.dropout(pool(h, lengths, config.pooling)))  # (B, C)

    def convolve(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """The convolutional front end: (B, T, P) -> (B, T', Q) and the lengths n -> n'. Before each
        convolution the padded steps are zeroed, so that step n + 1 onwards reads as the zero padding
        that a sequence alone gets: its first n' outputs are the same alone or in a batch."""
        x = x.transpose(1, 2)  # (B, P, T): Conv1d's layout, channels first
        for conv in self.conv:
            if lengths is not None:
                valid = lengths_to_mask(lengths.to(x.device), x.shape[-1])  # (B, T)
                x = x * valid[:, None, :].to(x.dtype)  # padded steps -> 0, and no gradient
            x = F.relu(conv(x))  # (B, Q, ceil(T / s))
            if lengths is not None:
                lengths = -(-lengths // self.config.conv_stride)  # ceil(n / s)
        return x.transpose(1, 2), lengths  # (B, T', Q)


ENCODER_FIELDS = (
    "input_size", "projection", "conv_layers", "conv_channels", "conv_kernel", "conv_stride",
    "cell", "hidden_size", "num_layers", "bidirectional",
)  # fmt: skip  # what the weights below the output layer depend on


def encoder_weights(pretrained: SequenceModel, config: SequenceModelConfig, name: str) -> dict[str, Tensor]:
    """The weights of ``pretrained`` below its output layer (projection, convolutions, recurrent
    encoder), to start a model of ``config`` from: its own head (any head, any classes) starts new.
    A ConfigError naming ``name`` (the pretrained run) and every field that differs if the two
    encoders do not have the same shape."""
    theirs = pretrained.config
    differ = [
        f"model.{key} {getattr(config, key)!r} here, {getattr(theirs, key)!r} in {name}"
        for key in ENCODER_FIELDS
        if getattr(config, key) != getattr(theirs, key)
    ]
    if differ:
        raise ConfigError(
            f"the model's encoder does not have the shape of {name}'s: "
            + "; ".join(differ)
            + " (--set the fields to the pretrained run's values)"
        )
    return {k: v.detach().clone() for k, v in pretrained.state_dict().items() if not k.startswith("output.")}


def center(h: Tensor, lengths: Tensor | None, bidirectional: bool) -> Tensor:
    """``[h_m^fwd ; h_(m+1)^bwd]`` with m = floor(n/2) (1-based; for n = 1 both at step 1), from the
    encoder's (B, T, D*H) output: (B, D*H)."""
    B, T, width = h.shape
    n = torch.full((B,), T) if lengths is None else torch.as_tensor(lengths).cpu()  # (B,)
    m = torch.clamp(n // 2, min=1)  # (B,), 1-based
    rows = torch.arange(B)
    if not bidirectional:
        return h[rows, m - 1]  # (B, H)
    H = width // 2
    forward = h[rows, m - 1, :H]  # (B, H): read steps 1..m
    backward = h[rows, torch.minimum(m, n - 1), H:]  # (B, H): read steps n..m+1 (0-based index m)
    return torch.cat([forward, backward], dim=1)  # (B, 2H)


def pool(h: Tensor, lengths: Tensor | None, pooling: str) -> Tensor:
    """Mean or max over each sequence's real steps: (B, T, F) -> (B, F) (``pooling`` "mean" or
    "max"). ``h`` must be zero at padded steps (as the layers' outputs are), which the mean relies
    on."""
    if lengths is None:
        return h.amax(dim=1) if pooling == "max" else h.mean(dim=1)
    if pooling == "max":
        valid = lengths_to_mask(lengths.to(h.device), h.shape[1])[:, :, None]  # (B, T, 1)
        return h.masked_fill(~valid, float("-inf")).amax(dim=1)
    return h.sum(dim=1) / lengths.to(h.device, h.dtype)[:, None]  # (B, F) / (B, 1)


def probabilities(
    models: list[nn.Module],
    dataset: FeatureSequences,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 512,
    token_budget: int = 65_536,
    log: bool = False,
) -> list[np.ndarray]:
    """Each sequence's class probabilities, the mean over ``models`` (an ensemble: a
    cross-validated run's folds), in the dataset's order, through the one inference loop
    (:func:`rnnkit.data.batching.in_order`): a (C,) array per sequence for the clip head, (n_i, C)
    (ctc: (n'_i, C+1)) for the per-step heads, cut to each sequence's real steps. ``log``: the log of
    that mean (what a CTC decoder reads). The models are put in eval mode."""
    device = next(models[0].parameters()).device
    per_step = models[0].config.head != "clip"

    def run(indices: np.ndarray) -> list[np.ndarray]:
        batch = dataset.collate(indices).to(device)
        each = [F.softmax(model(batch.features, batch.lengths), dim=-1) for model in models]
        mean = torch.stack(each).mean(dim=0).double()  # M x (B, [T,] C) -> (B, [T,] C)
        if log:
            mean = mean.clamp_min(1e-30).log()
        rows = mean.cpu().numpy()
        if not per_step:
            return list(rows)
        steps = models[0].config.output_lengths(batch.lengths)  # n' (n without strided convolutions)
        return [row[:n] for row, n in zip(rows, steps.tolist())]

    for model in models:
        model.eval()
    with torch.inference_mode():
        return in_order(dataset.lengths, run, batch_size, token_budget, progress)


def make_step(config: SequenceModelConfig, label_smoothing: float = 0.0):
    """The training step of ``config.head`` (a :data:`rnnkit.train.StepFn`): ``(model, batch) ->
    (mean loss, metric sums, count)``.

    - clip: cross-entropy per sequence; ``accuracy`` over sequences (count B);
    - frame: cross-entropy per real step (padded steps' labels are IGNORE); ``accuracy`` over real
      steps (count: the real steps);
    - ctc: CTC loss per sequence over its n' output steps (``zero_infinity``: a transcript that
      cannot be aligned to its steps adds 0 and no gradient instead of inf; but with a strided
      convolution, a transcript longer than its n' steps is a ValueError, since it is the
      subsampling that made it unalignable), no metric (count B)."""
    if config.head == "ctc":
        ctc = nn.CTCLoss(blank=BLANK, reduction="sum", zero_infinity=True)

        def ctc_step(model: nn.Module, batch: SequenceBatch) -> tuple[Tensor, dict[str, float], int]:
            logits = model(batch.features, batch.lengths)  # (B, T', C+1)
            log_probs = F.log_softmax(logits, dim=-1).transpose(0, 1)  # (T', B, C+1), CTCLoss's layout
            B = len(batch.lengths)
            steps = config.output_lengths(batch.lengths)  # (B,) n'
            if config.time_stride > 1:
                check_alignable(steps, batch.lengths, batch.target_lengths, config)
            loss = ctc(log_probs, batch.targets, steps, batch.target_lengths) / B
            return loss, {}, B

        return ctc_step

    def step(model: nn.Module, batch: SequenceBatch) -> tuple[Tensor, dict[str, float], int]:
        logits = model(batch.features, batch.lengths)  # (B, C) or (B, T, C)
        labels = batch.labels  # (B,) or (B, T)
        flat = logits.reshape(-1, logits.shape[-1])  # (B, C) or (B*T, C)
        loss = F.cross_entropy(flat, labels.reshape(-1), ignore_index=IGNORE, label_smoothing=label_smoothing)
        valid = labels != IGNORE
        correct = ((logits.argmax(dim=-1) == labels) & valid).sum().item()
        return loss, {"accuracy": correct}, int(valid.sum().item())

    return step


def check_alignable(
    steps: Tensor, lengths: Tensor, target_lengths: Tensor, config: SequenceModelConfig
) -> None:
    """A ValueError naming the first utterance whose transcript is longer than its n' output steps."""
    short = (target_lengths.cpu() > steps.cpu()).nonzero().flatten()
    if len(short):
        i = int(short[0])
        raise ValueError(
            f"utterance {i} of the batch: a transcript of {int(target_lengths[i])} symbols is longer "
            f"than its {int(steps[i])} output steps ({int(lengths[i])} input steps subsampled "
            f"{config.time_stride}x by conv_layers={config.conv_layers}, conv_stride={config.conv_stride}); "
            "CTC needs at least one step per symbol: lower model.conv_stride or model.conv_layers"
        )


__all__ = [
    "BLANK",
    "CELLS",
    "ENCODER_FIELDS",
    "HEADS",
    "POOLINGS",
    "SequenceModel",
    "SequenceModelConfig",
    "center",
    "check_alignable",
    "encoder_weights",
    "make_step",
    "pool",
    "probabilities",
]
