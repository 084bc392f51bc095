"""The IMDB task end to end on a tiny archive: train, resume, evaluate, predict, bad input."""

import dataclasses
import json

import pytest
import torch

from rnnkit.cli import main
from rnnkit.config import apply_overrides
from rnnkit.errors import InputError
from rnnkit.tasks import sentiment
from rnnkit.train import CheckpointError, TrainingError
from rnnkit.train import checkpoint as ckpt

TINY = [
    "vocab_size=300",
    "model.embed_dim=8",
    "model.hidden_sizes=8",
    "model.dense_size=8",
    "model.pooling=max",
    "train.lr=0.01",
    "train.batch_size=16",
]


def tiny_config(epochs=2, *extra):
    return apply_overrides(sentiment.preset("seed"), [*TINY, f"train.epochs={epochs}", *extra])


@pytest.fixture(scope="module")
def trained(imdb_tarball, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    results = sentiment.train(tiny_config(epochs=6), imdb_tarball, run_dir)
    return run_dir, results


def test_training_learns_and_writes_the_run(trained):
    run_dir, results = trained
    for name in (
        "config.json",
        "tokenizer.json",
        "best.safetensors",
        "last.safetensors",
        "train_state.pt",
        "history.json",
        "history.csv",
        "curves.png",
        "results.json",
    ):
        assert (run_dir / name).is_file(), name
    history = json.loads((run_dir / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6]
    assert history[-1]["loss"] < history[0]["loss"]
    assert results["test_accuracy"] > 0.8  # the tiny reviews carry obvious sentiment words
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_and_predict_from_the_run(trained, imdb_tarball, capsys):
    run_dir, results = trained
    metrics = sentiment.evaluate(run_dir, imdb_tarball)
    assert metrics["accuracy"] == pytest.approx(results["test_accuracy"])
    # the CLI says what it scores before the half minute that 25,000 reviews take (the docs trial
    # saw nothing printed for 20 CPU seconds), and the figure after
    assert main(["sentiment", "evaluate", str(run_dir), "--data", str(imdb_tarball)]) == 0
    said = capsys.readouterr()
    assert said.err.startswith(f"scoring {run_dir} on the test reviews of {imdb_tarball} ...")
    assert said.out.startswith(f"test accuracy {results['test_accuracy']:.2%}")
    predictor = sentiment.Predictor.from_run(run_dir)
    probs = predictor(["A wonderful superb brilliant film.", "An awful boring terrible film."])
    assert probs[0] > 0.5 > probs[1]


def test_an_ensemble_averages_the_logits_of_its_runs(trained, imdb_tarball, capsys):
    run_dir, results = trained
    result = sentiment.evaluate_ensemble([run_dir, run_dir], imdb_tarball)
    # a run with itself: each alone and the mean score as the run does
    assert result["alone"] == [pytest.approx(results["test_accuracy"])] * 2
    assert result["accuracy"] == pytest.approx(results["test_accuracy"])
    assert main(["sentiment", "evaluate", str(run_dir), str(run_dir), "--data", str(imdb_tarball)]) == 0
    assert "ensemble of 2 (mean logit)" in capsys.readouterr().out
    with pytest.raises(InputError, match="at least two runs"):
        sentiment.evaluate_ensemble([run_dir], imdb_tarball)


def test_same_prediction_padded_or_not(trained):
    predictor = sentiment.Predictor.from_run(trained[0])
    predictor.model.double()
    alone, padded = sentiment.padding_check(predictor, "The movie was great and moving.", pad_to=60)
    assert abs(alone - padded) < 1e-12
    texts = ["great", "the plot was dull and the actors were awful and boring " * 3, "loved it"]
    together = predictor(texts)
    one_by_one = [predictor([t])[0] for t in texts]
    assert together == pytest.approx(one_by_one, abs=1e-12)


def test_predictions_do_not_depend_on_how_batches_are_cut(trained, monkeypatch):
    """Batches within a token budget (sorted, long reviews in small batches): the same numbers in
    the texts' order however the set is cut, and from text or from its token ids alike."""
    predictor = sentiment.Predictor.from_run(trained[0])
    predictor.model.double()
    texts = [("a fine film " * (1 + i % 7)) + ("dull " * (i % 3)) for i in range(23)]
    whole = predictor(texts)
    monkeypatch.setattr(sentiment, "EVAL_TOKENS", 40)  # a few reviews per batch, the longest alone
    batches = list(sentiment.inference_batches(predictor.encode(texts)))
    assert len(batches) > 5 and all(
        len(b.indices) * b.tokens.shape[1] <= 40 or len(b.indices) == 1 for b in batches
    )
    assert predictor(texts) == pytest.approx(whole, abs=1e-12)
    calls = []
    from_ids = predictor.predict(predictor.encode(texts), lambda done, total: calls.append((done, total)))
    assert from_ids == pytest.approx(whole, abs=1e-12)
    assert len(calls) == len(batches) and calls[-1] == (23, 23)  # progress after every batch
    assert [done for done, _ in calls] == sorted({done for done, _ in calls})


def test_resume_continues_the_same_run(imdb_tarball, tmp_path):
    straight = tmp_path / "straight"
    sentiment.train(tiny_config(epochs=2), imdb_tarball, straight)
    split = tmp_path / "split"
    sentiment.train(tiny_config(epochs=1), imdb_tarball, split)  # "interrupted" after epoch 1
    sentiment.train(tiny_config(epochs=2), imdb_tarball, split)  # the same command, resumed
    a = sentiment.load_run(straight, ckpt.LAST)[0].state_dict()
    b = sentiment.load_run(split, ckpt.LAST)[0].state_dict()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
    with pytest.raises(ValueError, match="other settings"):
        sentiment.train(tiny_config(2, "model.embed_dim=16"), imdb_tarball, split)


def test_nan_loss_stops_with_the_last_good_checkpoint(imdb_tarball, tmp_path, monkeypatch):
    run_dir = tmp_path / "nan"
    sentiment.train(tiny_config(epochs=1), imdb_tarball, run_dir)
    real_step = sentiment.step

    def poisoned(model, batch):
        loss, metrics, count = real_step(model, batch)
        return loss * float("nan"), metrics, count

    monkeypatch.setattr(sentiment, "step", poisoned)
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 2.*epoch 1\) is kept"):
        sentiment.train(tiny_config(epochs=2), imdb_tarball, run_dir)
    assert json.loads((run_dir / "history.json").read_text())[-1]["epoch"] == 1
    sentiment.load_run(run_dir)  # still loads


def test_damaged_or_missing_runs(trained, tmp_path):
    with pytest.raises(CheckpointError, match="no run directory"):
        sentiment.load_run(tmp_path / "missing")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (broken / name).write_bytes((trained[0] / name).read_bytes())
    (broken / "best.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(CheckpointError, match="damaged or not a safetensors"):
        sentiment.load_run(broken)
    (broken / "config.json").write_text("{ not json")
    with pytest.raises(CheckpointError, match="config.json is damaged"):
        sentiment.load_run(broken)


def test_empty_text_is_refused(trained):
    predictor = sentiment.Predictor.from_run(trained[0])
    with pytest.raises(ValueError, match="text 2 is empty or only whitespace"):
        predictor(["fine", "   \n"])


def test_huge_review_is_truncated(trained):
    predictor = sentiment.Predictor.from_run(trained[0])
    huge = "great " * 200_000  # 1.2 MB
    prob = predictor([huge])[0]
    assert 0.0 <= prob <= 1.0


def test_presets_have_the_lectures_parameter_counts():
    seed = sentiment.build_model(sentiment.resolved(sentiment.preset("seed")))
    assert sum(p.numel() for p in seed.parameters()) == 598_209
    stacked = sentiment.build_model(sentiment.resolved(sentiment.preset("seed-stacked")))
    assert len(stacked.recurrent) == 2 and stacked.config.dropout == 0.5


def test_overrides_reject_unknown_keys_and_bad_types():
    config = sentiment.preset("seed")
    with pytest.raises(ValueError, match="unknown setting 'model.hiden'"):
        apply_overrides(config, ["model.hiden=3"])
    with pytest.raises(ValueError, match="train.lr expects float, got 'fast'"):
        apply_overrides(config, ["train.lr=fast"])
    changed = apply_overrides(config, ["model.hidden_sizes=64,32", "train.clip_norm=none"])
    assert changed.model.hidden_sizes == (64, 32) and changed.train.clip_norm is None
    assert config.model.hidden_sizes == (64,)  # presets are not mutated
    assert dataclasses.asdict(sentiment.preset("seed")) == dataclasses.asdict(config)


def test_predictor_leaves_the_process_allocator_alone(trained, monkeypatch):
    from rnnkit import runtime

    monkeypatch.setattr(runtime, "_tuned", None)  # as in a fresh process
    sentiment.Predictor.from_run(trained[0])(["a fine film"])
    assert runtime._tuned is None  # tune_allocator was not called: only the rnnkit command opts in
