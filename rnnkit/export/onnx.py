"""ONNX export of a trained run, and running the file with onnxruntime.

``export_onnx(run_dir, path)`` writes one self-contained ``.onnx`` file (weights inside) for:

- a **sentiment** run: the classifier, ``tokens`` (batch, time) int64 and ``lengths`` (batch,)
  int64 -> ``logits`` (batch, 1) float32; the probability is ``sigmoid(logits)``;
- a **tagging** run: the emission model, ``words``, ``casings`` (batch, time), ``chars``
  (batch, time, chars), ``char_lengths`` (batch, time), ``lengths`` (batch,), all int64 ->
  ``emissions`` (batch, time, tags) float32. The CRF's Viterbi decoding is not in the file: it
  runs in Python on those scores (:func:`onnx_tagger`), where rnnkit's own ``CRF.decode`` reads
  the run's transition scores.

Every axis is dynamic and the masking is exact: a padded sequence gets the numbers it gets alone,
as in rnnkit (the graph is rnnkit's CPU path; see :mod:`rnnkit.export.graphs`). Any other run
(a language model, a translation, ...) is refused with an :class:`~rnnkit.errors.InputError`.

The exporter is torch's (``torch.onnx.export(..., dynamo=True)``, at its default opset). Before
the file is written, onnxruntime runs it on a padded probe batch whose batch size and length differ
from the traced example, and its outputs are compared with the PyTorch model's; a frozen axis or a
difference above :data:`CHECK_TOLERANCE` is a bug and raises. The file is written atomically (a
failed export leaves an older file as it was); an existing file is replaced only with
``overwrite=True``.

onnx, onnxruntime and onnxscript are optional (``pip install -e '.[export]'`` or ``make`` in the
rnnkit checkout) and imported only here, inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import __version__
from ..data.batching import Batch
from ..data.tokenizer import Tokenizer
from ..errors import InputError, RnnkitError
from ..models.tagger import SequenceTagger, TagBatch
from ..tasks import sentiment, tag
from ..train import RUN_FILE
from ..train import checkpoint as ckpt
from .graphs import (
    CLASSIFIER_INPUTS,
    CLASSIFIER_OUTPUTS,
    TAGGER_INPUTS,
    TAGGER_OUTPUTS,
    ClassifierGraph,
    TaggerEmissionsGraph,
    grid_inputs,
)

EXPORTABLE = (
    "sentiment runs (the classifier) and tagging runs (the emission model; the CRF decodes in Python)"
)
EXPORTER = "torch.onnx.export(dynamo=True)"
CHECK_TOLERANCE = 1e-4  # |onnxruntime - PyTorch| on the probe batch above this is a bug, not rounding
TASK_KEY = "rnnkit.task"  # in the file's metadata_props

# The dynamic axes of each input, by name: the same names in the file's shapes.
_AXES = {
    "tokens": ("batch", "time"),
    "lengths": ("batch",),
    "words": ("batch", "time"),
    "casings": ("batch", "time"),
    "chars": ("batch", "time", "chars"),
    "char_lengths": ("batch", "time"),
}


class MissingDependencyError(RnnkitError, ImportError):
    """An optional package that ONNX export or inference needs is not installed."""


def require(name: str) -> ModuleType:
    """Import ``name`` (onnx, onnxruntime, onnxscript), or say in one line how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingDependencyError(
            f"ONNX export and inference need the package {name!r}, which is not installed: "
            "pip install -e '.[export]' (or make) in the rnnkit checkout"
        ) from None


@dataclasses.dataclass(frozen=True)
class ExportInfo:
    """What :func:`export_onnx` wrote."""

    path: Path
    task: str  # "sentiment" | "tagging"
    inputs: dict[str, tuple[str, ...]]  # name -> its axes
    outputs: dict[str, tuple[str | int, ...]]
    opset: int
    exporter: str
    parameters: int
    bytes: int
    max_diff: float  # max |onnxruntime - PyTorch| over the probe batch's outputs
    seconds: float

    def summary(self) -> str:
        """A few lines for the command line."""
        lines = [
            f"{self.task} model, {self.parameters:,} parameters -> {self.path} "
            f"({self.bytes / 1e6:.1f} MB, {self.seconds:.1f} s)",
            f"  inputs: {_shapes(self.inputs)}",
            f"  outputs: {_shapes(self.outputs)}",
            f"  {self.exporter}, opset {self.opset}; onnxruntime == PyTorch on a padded probe batch "
            f"(max |diff| {self.max_diff:.1e})",
        ]
        if self.task == "tagging":
            lines.append("  the CRF is not in the file: decode the emissions in Python (onnx_tagger)")
        return "\n".join(lines)


def _shapes(named: dict[str, tuple]) -> str:
    return ", ".join(f"{name} ({', '.join(map(str, axes))})" for name, axes in named.items())


def run_task(run_dir: str | Path) -> str | None:
    """The task that wrote ``run_dir`` (its ``run.json``); None for a run from before run.json."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ckpt.CheckpointError(f"no run directory at {run_dir}")
    record_path = run_dir / RUN_FILE
    if not record_path.is_file():
        return None
    record = ckpt.load_json(record_path)
    return record.get("task") if isinstance(record, dict) else None


def export_onnx(run_dir: str | Path, path: str | Path, *, overwrite: bool = False) -> ExportInfo:
    """Export the model of ``run_dir`` (its best weights) to the ONNX file ``path``; see the module doc.

    Raises :class:`InputError` for a run that does not export or a ``path`` that exists (without
    ``overwrite``) or is a directory, :class:`~rnnkit.errors.ConfigError` for a model whose layers
    do not export (a vanilla RNN), :class:`MissingDependencyError` without the optional packages."""
    onnx = require("onnx")
    require("onnxscript")  # torch's exporter writes the graph with it
    path = Path(path)
    _check_target(path, overwrite)
    task = run_task(run_dir) or "sentiment"  # an older run: sentiment's loader checks its config
    start = time.perf_counter()
    if task == "sentiment":
        model, _, _ = sentiment.load_run(run_dir)
        graph: nn.Module = ClassifierGraph(model)
        names, outputs = CLASSIFIER_INPUTS, CLASSIFIER_OUTPUTS
        output_axes = ("batch", model.config.num_outputs)
        probe, expected = _classifier_probe(model)
    elif task == "tagging":
        model, config, _ = tag.load_run(run_dir)
        if model.context is not None or config.members > 1:
            raise InputError(
                f"{run_dir} tags with a pretrained language model's features or an ensemble (preset "
                "best), which the ONNX graph does not compute yet; export a single tagger without lm "
                "(presets fast, softmax)"
            )
        graph = TaggerEmissionsGraph(model)
        names, outputs = TAGGER_INPUTS, TAGGER_OUTPUTS
        output_axes = ("batch", "time", len(config.model.tags))
        probe, expected = _tagger_probe(model, tag.Vocabularies.load(Path(run_dir) / tag.VOCAB_FILE), config)
    else:
        raise InputError(
            f"{run_dir} is a {task} run, which does not export to ONNX; what exports: {EXPORTABLE}"
        )

    proto = _trace(graph, names, outputs)
    _check_dynamic(proto, names)
    _declare_shapes(proto, output_axes)
    for key, value in {TASK_KEY: task, "rnnkit.version": __version__, "rnnkit.run": str(run_dir)}.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    max_diff = _compare(session(data), probe, expected)
    ckpt.atomic_write(path, data)
    return ExportInfo(
        path=path,
        task=task,
        inputs={name: _AXES[name] for name in names},
        outputs={out.name: _dims(out) for out in proto.graph.output},
        opset=next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
        exporter=EXPORTER,
        parameters=sum(p.numel() for p in model.parameters()),
        bytes=len(data),
        max_diff=max_diff,
        seconds=time.perf_counter() - start,
    )


def _check_target(path: Path, overwrite: bool) -> None:
    if path.is_dir():
        raise InputError(f"--onnx {path} is a directory; give a file name, e.g. {path / 'model.onnx'}")
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists; pass --force (overwrite=True) to replace it")


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter's own chatter silenced for the call: torch's deprecation warnings from inside its
    tracer, "torchvision is not installed" and a dynamic axis's renaming notice (20 lines of stderr
    before the export's 4); its errors still raise."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message="# The axis name", category=UserWarning)
            yield
    finally:
        logger.setLevel(level)


def _trace(graph: nn.Module, names: tuple[str, ...], outputs: tuple[str, ...]):
    """The ONNX ModelProto of ``graph``, every axis of every input dynamic."""
    dims = {axis: torch.export.Dim(axis) for axis in ("batch", "time", "chars")}
    dynamic = {name: {i: dims[axis] for i, axis in enumerate(_AXES[name])} for name in names}
    # In inference mode: torch 2.13's exporter swaps in a length-generic LSTM/GRU decomposition for
    # the call only, but the op's dispatch cache keeps the unrolling one after a first export, so a
    # second export in the same process would freeze the time axis; inference mode skips the
    # autograd dispatch key where that cache entry sits (tests export several models in one process).
    with torch.inference_mode(), _quiet_exporter():
        program = torch.onnx.export(
            graph.eval(),
            graph.example(),
            dynamo=True,
            dynamic_shapes=dynamic,
            input_names=list(names),
            output_names=list(outputs),
            external_data=False,
            verbose=False,
        )
    return program.model_proto


def _dims(value: Any) -> tuple[str | int, ...]:
    return tuple(d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim)


def _check_dynamic(proto: Any, names: tuple[str, ...]) -> None:
    """Every input axis must be symbolic: the exporter specialising one is a bug (see _trace)."""
    for value in proto.graph.input:
        if value.name in names and _dims(value) != _AXES[value.name]:
            raise RuntimeError(
                f"the exported graph fixed an axis of {value.name}: {_dims(value)}, expected "
                f"{_AXES[value.name]}; torch's exporter specialised it (please report)"
            )


def _declare_shapes(proto: Any, output_axes: tuple[str | int, ...]) -> None:
    """State the output's axes, and drop the intermediate shapes (optional hints in ONNX): torch's
    fake ``aten.lstm`` gives its output the example's length, which the exporter records for the
    LSTM outputs and everything computed from them, though the graph computes any length."""
    del proto.graph.value_info[:]
    (output,) = proto.graph.output
    for dim, axis in zip(output.type.tensor_type.shape.dim, output_axes):
        if isinstance(axis, str):
            dim.dim_param = axis
        else:
            dim.dim_value = axis


def _compare(runner: Any, probe: dict[str, np.ndarray], expected: np.ndarray) -> float:
    got = runner.run(None, probe)[0]
    diff = float(np.abs(got - expected).max())
    if not diff <= CHECK_TOLERANCE:
        raise RuntimeError(
            f"onnxruntime and PyTorch differ by {diff:.2e} on the probe batch (> {CHECK_TOLERANCE}); "
            "the file was not written (please report)"
        )
    return diff


def _classifier_probe(model: nn.Module) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A padded batch of another size and length than the traced example, and the model's logits."""
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([11, 1, 6, 3])  # (B,) with B=4, T=11; the example is B=3, T=7
    tokens = torch.randint(1, model.config.vocab_size, (4, 11), generator=generator)
    tokens[torch.arange(11)[None, :] >= lengths[:, None]] = 0
    with torch.inference_mode():
        logits = model(tokens, lengths)
    return {"tokens": tokens.numpy(), "lengths": lengths.numpy()}, logits.numpy()


def _tagger_probe(
    model: SequenceTagger, vocab: tag.Vocabularies, config: tag.TagConfig
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Sentences of the run's words (and one unknown), collated as the Tagger does, and the model's
    emissions: the batch holds repeated words, so the per-word character layout is checked too."""
    rng = np.random.default_rng(0)
    known = vocab.words.items[2:] or ["x"]
    words = [str(w) for w in rng.choice(known, size=20)] + ["Zyxwvut", "U.S."]
    sentences = [words[:9], words[9:10], [*words[10:13], words[0], "Zyxwvut"], ["U.S.", words[1], words[1]]]
    batch = tag.TagDataset(sentences, vocab, config).collate(np.arange(len(sentences)))
    with torch.inference_mode():
        emissions = model.emissions(batch)
    return _feed(TAGGER_INPUTS, grid_inputs(batch)), emissions.numpy()


def _feed(names: tuple[str, ...], tensors: tuple[Tensor, ...]) -> dict[str, np.ndarray]:
    return {name: tensor.cpu().numpy() for name, tensor in zip(names, tensors)}


# -- running an exported file ------------------------------------------------------------------------


def session(model: str | Path | bytes, threads: int | None = None, task: str | None = None) -> Any:
    """An onnxruntime ``InferenceSession`` on the CPU for a file (or its bytes). ``threads``: its
    intra-op threads (None: onnxruntime's default, one per core). With ``task``, a file exported
    from another task's run is refused."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    if not isinstance(model, bytes) and not Path(model).is_file():
        raise InputError(f"no ONNX file at {model}; make one with: rnnkit export RUN --onnx {model}")
    try:
        runner = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own classes (Fail, InvalidProtobuf, ...)
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"{model} is not an ONNX model that onnxruntime can load ({first})") from None
    found = runner.get_modelmeta().custom_metadata_map.get(TASK_KEY)
    if task is not None and found != task:
        raise InputError(
            f"{model} holds a {found or 'non-rnnkit'} model, not a {task} one; export the right run "
            f"with: rnnkit export RUN --onnx FILE"
        )
    return runner


class OnnxPredictor(sentiment.Predictor):
    """:class:`rnnkit.tasks.sentiment.Predictor` with the classifier run by onnxruntime: the same
    tokenisation, truncation (``max_tokens``), validation and length-sorted batches (inherited),
    the same probabilities (sigmoid of the logits, float64) in the texts' order."""

    def __init__(
        self, runner: Any, tokenizer: Tokenizer, max_tokens: int, batch_size: int = sentiment.EVAL_BATCH
    ) -> None:
        # Not Predictor.__init__: there is no torch model to put in eval mode.
        self.session = runner
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.batch_size = batch_size

    @classmethod
    def from_run(
        cls, run_dir: str | Path, onnx_path: str | Path, threads: int | None = None
    ) -> OnnxPredictor:
        """The tokenizer and ``max_tokens`` from ``run_dir``, the model from ``onnx_path``."""
        config = sentiment.load_config(run_dir)
        runner = session(onnx_path, threads, task="sentiment")
        return cls(runner, sentiment.load_tokenizer(run_dir), config.max_tokens)

    def batch_logits(self, batch: Batch) -> np.ndarray:
        """One batch's logits from onnxruntime, (B,) float64; the inference loop around it
        (``logits``) and their sigmoid (``predict``) are the torch predictor's."""
        (logits,) = self.session.run(None, _feed(CLASSIFIER_INPUTS, (batch.tokens, batch.lengths)))
        return logits[:, 0].astype(np.float64)  # (B,)


class OnnxEmissions(nn.Module):
    """A tagger whose emissions come from onnxruntime; decoding (CRF Viterbi, or the softmax's
    argmax) is the torch model's :meth:`SequenceTagger.decode` on those scores. Holds the torch model
    for that (the CRF's transition scores), and is what :func:`onnx_tagger` gives a ``Tagger``."""

    def __init__(self, runner: Any, model: SequenceTagger) -> None:
        super().__init__()
        self.session = runner
        self.tagger = model
        self.context = None  # only taggers without a language model's features export

    def emissions(self, batch: TagBatch) -> Tensor:
        (scores,) = self.session.run(None, _feed(TAGGER_INPUTS, grid_inputs(batch)))
        return torch.from_numpy(scores)  # (B, T, K)

    def decode(self, batch: TagBatch) -> list[list[int]]:
        return self.tagger.decode(batch, self.emissions(batch))


def onnx_tagger(run_dir: str | Path, onnx_path: str | Path, threads: int | None = None) -> tag.Tagger:
    """:class:`rnnkit.tasks.tag.Tagger` (tokens in, IOB2 tags out, long sentences in pieces) with
    the emissions computed by onnxruntime from ``onnx_path``."""
    model, config = tag.RUNS.load_model(run_dir, tag.build_model)
    vocab = tag.Vocabularies.load(Path(run_dir) / tag.VOCAB_FILE)
    runner = session(onnx_path, threads, task="tagging")
    return tag.Tagger(OnnxEmissions(runner, model), vocab, config)


__all__ = [
    "EXPORTABLE",
    "ExportInfo",
    "MissingDependencyError",
    "OnnxEmissions",
    "OnnxPredictor",
    "export_onnx",
    "onnx_tagger",
    "run_task",
    "session",
]
