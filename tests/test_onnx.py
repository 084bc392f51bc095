"""ONNX export: the export-friendly graphs equal the models, onnxruntime equals PyTorch (batch 1, 2,
5; padded batches of very different lengths; padded == alone), the CLI end to end, and refusals.

Runs are tiny and untrained (sizes shrunk, layer kinds kept from the presets); each export takes
torch's exporter several seconds, so each model is exported once per module.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import fake_review
from helpers import tagger_config

from rnnkit.cli import main
from rnnkit.config import apply_overrides
from rnnkit.data.conll import TagSet, Vocab
from rnnkit.data.tokenizer import Tokenizer
from rnnkit.errors import ConfigError, InputError
from rnnkit.export import graphs
from rnnkit.export import onnx as onnx_export
from rnnkit.models import SequenceClassifier
from rnnkit.tasks import sentiment, tag
from rnnkit.train import checkpoint as ckpt

pytest.importorskip("onnxruntime")

VOCAB = 300
# Each preset's layer kinds, at a tiny size: seed BiLSTM + last states; seed-stacked two BiLSTMs;
# best a BiGRU with max-pooling.
KINDS = {
    "seed": ["model.hidden_sizes=8"],
    "seed-stacked": ["model.hidden_sizes=8,6"],
    "best": ["model.hidden_sizes=8"],
}


def tiny_config(preset: str, *extra: str) -> sentiment.SentimentConfig:
    sizes = [f"vocab_size={VOCAB}", f"model.vocab_size={VOCAB}", "model.embed_dim=8", "model.dense_size=8"]
    return apply_overrides(sentiment.preset(preset), [*sizes, *KINDS.get(preset, []), *extra])


def write_sentiment_run(run_dir, config: sentiment.SentimentConfig) -> SequenceClassifier:
    """A run directory as training leaves it, with random weights (no training: parity needs none)."""
    import random

    rng = random.Random(0)
    texts = [fake_review(rng, i % 2 == 0) for i in range(60)]
    run_dir.mkdir(parents=True)
    Tokenizer.train(texts, "subword", VOCAB).save(run_dir / sentiment.TOKENIZER_FILE)
    sentiment.RUNS.save_config(config, run_dir)
    model = sentiment.build_model(config).eval()
    ckpt.save_weights(model, run_dir / ckpt.BEST)
    return model


def padded_batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids (B, max(lengths)), zero after each length."""
    generator = torch.Generator().manual_seed(seed)
    lengths_t = torch.tensor(lengths)
    tokens = torch.randint(1, VOCAB, (len(lengths), max(lengths)), generator=generator)
    tokens[torch.arange(max(lengths))[None, :] >= lengths_t[:, None]] = 0
    return tokens, lengths_t


# Batch sizes 1, 2, 5; no padding, and padding of very different lengths.
BATCHES = [[1], [9], [40], [7, 7], [33, 2], [1, 50], [5, 5, 5, 5, 5], [61, 1, 17, 3, 40]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each kind's run and its ONNX file. The seed one goes through the CLI, into a folder that does
    not exist yet; the stacked one replaces a junk file (overwrite=True)."""
    root = tmp_path_factory.mktemp("onnx")
    out = {}
    for preset in KINDS:
        run_dir = root / "runs" / preset
        model = write_sentiment_run(run_dir, tiny_config(preset))
        path = root / "new" / "folder" / f"{preset}.onnx"
        if preset == "seed":
            assert main(["export", str(run_dir), "--onnx", str(path)]) == 0
        elif preset == "seed-stacked":
            path.write_bytes(b"junk")
            onnx_export.export_onnx(run_dir, path, overwrite=True)
        else:
            onnx_export.export_onnx(run_dir, path)
        out[preset] = (run_dir, model, path)
    return out


def test_presets_keep_their_layer_kinds():
    assert tiny_config("seed").model.cell == "lstm" and tiny_config("seed").model.pooling == "last"
    assert tiny_config("seed-stacked").model.hidden_sizes == (8, 6)
    assert tiny_config("best").model.cell == "gru" and tiny_config("best").model.pooling == "max"


@pytest.mark.parametrize("preset", KINDS)
def test_graph_equals_the_model_in_float64(preset):
    """The export-friendly forward (no ONNX involved) computes the model's numbers exactly."""
    model = sentiment.build_model(tiny_config(preset)).double().eval()
    graph = graphs.ClassifierGraph(model)
    with torch.no_grad():
        for lengths in BATCHES:
            tokens, lengths_t = padded_batch(lengths)
            assert torch.allclose(graph(tokens, lengths_t), model(tokens, lengths_t), rtol=0, atol=1e-12)


@pytest.mark.parametrize("preset", KINDS)
def test_onnxruntime_equals_pytorch(exported, preset):
    _, model, path = exported[preset]
    runner = onnx_export.session(path, task="sentiment")
    worst = 0.0
    for seed, lengths in enumerate(BATCHES):
        tokens, lengths_t = padded_batch(lengths, seed)
        (logits,) = runner.run(None, {"tokens": tokens.numpy(), "lengths": lengths_t.numpy()})
        with torch.no_grad():
            expected = model(tokens, lengths_t).numpy()
        assert logits.shape == (len(lengths), 1)
        worst = max(worst, float(np.abs(logits - expected).max()))
    assert worst <= 1e-5


@pytest.mark.parametrize("preset", KINDS)
def test_padded_equals_alone_through_onnxruntime(exported, preset):
    _, _, path = exported[preset]
    runner = onnx_export.session(path)
    tokens, lengths = padded_batch([61, 1, 17, 3, 40], seed=7)
    (together,) = runner.run(None, {"tokens": tokens.numpy(), "lengths": lengths.numpy()})
    for b, n in enumerate(lengths.tolist()):
        alone_tokens = tokens[b : b + 1, :n].numpy()
        (alone,) = runner.run(None, {"tokens": alone_tokens, "lengths": np.array([n])})
        assert abs(float(alone[0, 0]) - float(together[b, 0])) <= 1e-6


def test_file_declares_dynamic_axes_and_its_task(exported):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(exported["seed-stacked"][2])
    shapes = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*model.graph.input, *model.graph.output]
    }
    assert shapes == {"tokens": ["batch", "time"], "lengths": ["batch"], "logits": ["batch", 1]}
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["rnnkit.task"] == "sentiment"
    assert "LSTM" in {node.op_type for node in model.graph.node}  # one node per direction, not unrolled


def test_onnx_predictor_equals_the_torch_predictor(exported):
    run_dir, _, path = exported["best"]
    texts = ["great", "the plot was dull and the actors were awful and boring " * 8, "loved it, superb"]
    onnx_probs = onnx_export.OnnxPredictor.from_run(run_dir, path, threads=1)(texts)
    torch_probs = sentiment.Predictor.from_run(run_dir)(texts)
    assert np.abs(onnx_probs - torch_probs).max() <= 1e-6
    with pytest.raises(InputError, match="empty"):
        onnx_export.OnnxPredictor.from_run(run_dir, path)(["  "])


def test_cli_export_prints_what_it_wrote(exported, tmp_path, capsys):
    run_dir, _, _ = exported["seed"]
    existing = tmp_path / "model.onnx"
    existing.write_bytes(b"keep me")
    assert main(["export", str(run_dir), "--onnx", str(existing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {existing} already exists; pass --force (overwrite=True) to replace it"
    assert existing.read_bytes() == b"keep me"
    assert main(["export", str(run_dir), "--onnx", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_cli_export_output(exported):
    """The seed export went through the CLI into a folder it created, and left no temporary file."""
    _, _, path = exported["seed"]
    assert path.is_file() and path.stat().st_size > 1000
    assert sorted(p.name for p in path.parent.iterdir()) == ["best.onnx", "seed-stacked.onnx", "seed.onnx"]


def test_the_cli_export_prints_its_lines_without_the_exporters_chatter(exported, tmp_path):
    """In a fresh process (torch warns once a process): the export's four lines, not the twenty
    lines of torch's deprecation warnings, 'torchvision is not installed' and axis notices before them."""
    run_dir, _, _ = exported["seed"]
    done = subprocess.run(
        [sys.executable, "-m", "rnnkit", "export", str(run_dir), "--onnx", str(tmp_path / "m.onnx")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Warning" not in done.stderr and "torchvision" not in done.stderr, done.stderr
    assert done.stdout.splitlines()[0].startswith("sentiment model, ")


def test_overwrite_replaces_the_file(exported):
    assert exported["seed-stacked"][2].read_bytes()[:4] != b"junk"  # replaced (overwrite=True)
    onnx_export.session(exported["seed-stacked"][2], task="sentiment")


def test_other_runs_are_refused_in_one_line(tmp_path, capsys):
    for task in ("translation", "language-model"):
        run_dir = tmp_path / task
        run_dir.mkdir()
        (run_dir / "run.json").write_text(json.dumps({"task": task, "rnnkit": "0.1.0"}))
        assert main(["export", str(run_dir), "--onnx", str(tmp_path / "x.onnx")]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines[-1].startswith(f"error: {run_dir} is a {task} run, which does not export to ONNX;")
        assert "sentiment runs (the classifier) and tagging runs" in lines[-1]
    assert main(["export", str(tmp_path / "missing"), "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert "no run directory" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_a_vanilla_rnn_classifier_is_refused(tmp_path):
    run_dir = tmp_path / "rnn"
    write_sentiment_run(run_dir, tiny_config("seed", "model.cell=rnn"))
    with pytest.raises(ConfigError, match="supports LSTM and GRU layers.*'rnn'"):
        onnx_export.export_onnx(run_dir, tmp_path / "rnn.onnx")


def test_a_file_that_is_not_onnx_or_of_another_task_is_refused(exported, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(InputError, match="not an ONNX model that onnxruntime can load"):
        onnx_export.session(junk)
    with pytest.raises(InputError, match="no ONNX file at"):
        onnx_export.session(tmp_path / "absent.onnx")
    with pytest.raises(InputError, match="holds a sentiment model, not a tagging one"):
        onnx_export.session(exported["seed"][2], task="tagging")


def test_missing_packages_give_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    with pytest.raises(
        onnx_export.MissingDependencyError, match=r"'onnxruntime'.*pip install -e '\.\[export\]'"
    ):
        onnx_export.session(b"")


def test_importing_rnnkit_does_not_import_onnx():
    code = (
        "import sys, rnnkit, rnnkit.cli, rnnkit.export.onnx; "
        "print([m for m in ('onnx', 'onnxruntime', 'onnxscript') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# -- the tagger's emission model --------------------------------------------------------------------


WORDS = ["harry", "potter", "met", "hermione", "granger", "in", "paris", "yesterday", ",", "."]
SENTENCES = [
    ["Yesterday", ",", "Harry", "Potter", "met", "Hermione", "Granger", "in", "Paris", "."],
    ["Paris"],
    ["Hermione", "met", "Zyxwvut", "Potter", "in", "Potter", "."],
    ["U.S.", "Granger"],
]


@pytest.fixture(scope="module")
def tagger_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tagger") / "run"
    run_dir.mkdir()
    chars = sorted({c for s in SENTENCES for w in s for c in w})
    tags = TagSet(["PER", "LOC"], "iobes")
    vocab = tag.Vocabularies(Vocab(WORDS), Vocab(chars), tags)
    sizes = {"word_dim": 6, "char_dim": 4, "char_hidden": 3, "casing_dim": 2, "hidden_size": 5}
    model_config = tagger_config(vocab, **sizes, num_layers=2)
    config = tag.TagConfig(model=model_config)
    tag.RUNS.save_config(config, run_dir)
    vocab.save(run_dir / tag.VOCAB_FILE)
    model = tag.build_model(config).eval()
    with torch.no_grad():  # transitions away from zero, so that the Viterbi path depends on them
        model.crf.transitions.normal_()
    ckpt.save_weights(model, run_dir / ckpt.BEST)
    path = run_dir.parent / "tagger.onnx"
    info = onnx_export.export_onnx(run_dir, path)
    return run_dir, model, vocab, config, path, info


def test_tagger_graph_equals_emissions_in_float64(tagger_run):
    _, model, vocab, config, _, _ = tagger_run
    model = tag.build_model(config).double().eval()
    batch = tag.TagDataset(SENTENCES, vocab, config).collate(np.arange(len(SENTENCES)))
    with torch.no_grad():
        expected = model.emissions(batch)
        got = graphs.TaggerEmissionsGraph(model)(*graphs.grid_inputs(batch))
    lengths = batch.lengths.tolist()
    for b, n in enumerate(lengths):  # padded steps are not scored (the CRF masks them)
        assert torch.allclose(got[b, :n], expected[b, :n], rtol=0, atol=1e-12)


def test_tagger_onnx_equals_pytorch_and_tags_alike(tagger_run):
    run_dir, model, vocab, config, path, info = tagger_run
    assert info.task == "tagging" and info.outputs == {"emissions": ("batch", "time", len(config.model.tags))}
    runner = onnx_export.session(path, task="tagging")
    for rows in ([0], [0, 1], [0, 1, 2, 3]):
        batch = tag.TagDataset([SENTENCES[i] for i in rows], vocab, config).collate(np.arange(len(rows)))
        feed = dict(zip(graphs.TAGGER_INPUTS, (t.numpy() for t in graphs.grid_inputs(batch))))
        (emissions,) = runner.run(None, feed)
        with torch.no_grad():
            expected = model.emissions(batch).numpy()
        assert np.abs(emissions - expected).max() <= 1e-5
    onnx_tags = onnx_export.onnx_tagger(run_dir, path)(SENTENCES)
    assert onnx_tags == tag.Tagger.from_run(run_dir)(SENTENCES)
