"""Character language model: TBPTT batches, stateful steps, training, sampling, the activation view,
ABC checks and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.cli import main
from rnnkit.data import DataError
from rnnkit.data.abc import check_tune, read_collection, split_tunes
from rnnkit.data.text import CharVocab, TextStreams, read_text
from rnnkit.models.charlm import CharLM, CharLMConfig
from rnnkit.tasks import charlm
from rnnkit.train import TrainConfig
from rnnkit.viz import FEATURES, activation_html, activation_png, hidden_states, rank_units

TUNE = 'X: 1\nT:Test Tune\nM:6/8\nK:G\n"G"g2g B^AB|d2d G3|"Em"GAB "Am"A2A|"D7"ABc "G"BAG|\n'


def tiny_config(**train) -> charlm.LMConfig:
    options = dict(epochs=3, batch_size=4, lr=1e-2, clip_norm=1.0, monitor="val_loss", seed=0) | train
    return charlm.LMConfig(
        seq_len=16,
        val_batch_size=2,
        model=CharLMConfig(hidden_size=32, embed_dim=8),
        train=TrainConfig(**options),
    )


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text('the cat (sat) on the "mat".\n' * 110, encoding="utf-8")
    return path


# -- data ----------------------------------------------------------------------------------------


def test_vocab_round_trip_with_korean_and_save(tmp_path):
    text = "안녕하세요, RNN! 한국어도 됩니다.\n"
    vocab = CharVocab.from_text(text)
    assert vocab.decode(vocab.encode(text)) == text
    vocab.save(tmp_path / "vocab.json")
    assert CharVocab.load(tmp_path / "vocab.json").chars == vocab.chars


def test_vocab_names_unknown_characters():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match=r"2 character\(s\) not in the model's vocabulary of 3: 'z', 'Q'"):
        vocab.encode("abzQz")


def test_streams_continue_row_by_row_and_targets_are_shifted():
    ids = np.arange(1000)
    streams = TextStreams(ids, batch_size=4, seq_len=10)
    per_stream = 999 // 4
    for offset in (0, 3, 9):
        batches = list(streams.batches(offset))
        assert len(batches) == len(streams)  # the same count for every offset
        assert batches[0].first and not batches[1].first
        for k, batch in enumerate(batches):
            assert torch.equal(batch.y, batch.x + 1)  # the next character
            for b in range(4):  # row b is stream b, chunk k, cut at the offset
                start = b * per_stream + offset + k * 10
                assert batch.x[b].tolist() == list(range(start, start + 10))


def test_full_pass_scores_every_position_once():
    ids = np.arange(1003)
    streams = TextStreams(ids, batch_size=4, seq_len=10)  # 250 per stream: 25 chunks
    seen = torch.cat([batch.y.flatten() for batch in streams.full_pass()])
    assert sorted(seen.tolist()) == list(range(1, 1001))  # all but the tail that does not split in 4
    short = TextStreams(np.arange(30), batch_size=2, seq_len=10)  # 14 per stream: chunks of 10 and 4
    assert [b.x.shape[1] for b in short.full_pass()] == [10, 4]


def test_streams_refuse_a_text_too_short():
    with pytest.raises(DataError, match="cannot fill 4 streams"):
        TextStreams(np.arange(4), batch_size=4, seq_len=10)
    with pytest.raises(DataError, match="no whole chunk of seq_len=10"):
        next(TextStreams(np.arange(50), batch_size=4, seq_len=10).batches())


def test_read_text_errors(tmp_path):
    with pytest.raises(DataError, match="no text file"):
        read_text(tmp_path / "missing.txt")
    (tmp_path / "latin.txt").write_bytes("first line\ncaf\xe9".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8 .* line 2"):
        read_text(tmp_path / "latin.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="has 0 characters"):
        read_text(tmp_path / "empty.txt")


# -- model and step ------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_carried_state_equals_reading_the_whole_text(cell):
    """Two chunks with the state carried give the logits of the whole sequence read at once."""
    torch.manual_seed(0)
    model = CharLM(CharLMConfig(vocab_size=7, embed_dim=0, cell=cell, hidden_size=12, num_layers=2)).double()
    x = torch.randint(0, 7, (3, 20))
    whole, _ = model(x)
    first, state = model(x[:, :8])
    second, _ = model(x[:, 8:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, atol=1e-12, rtol=0)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_layer_step_equals_forward(kind, impl):
    """Generation's one-step path gives the numbers of the whole-sequence path, state included."""
    torch.manual_seed(0)
    layer = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}[kind]
    layer = layer(5, 7, num_layers=2, impl=impl).double()
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    output, final = layer(x)
    state, steps = None, []
    for t in range(6):
        h_t, state = layer.step(x[:, t], state)
        steps.append(h_t)
    torch.testing.assert_close(torch.stack(steps, 1), output, atol=1e-12, rtol=0)
    for ours, theirs in zip(state if kind == "lstm" else [state], final if kind == "lstm" else [final]):
        torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="unidirectional"):
        rnnkit.LSTM(5, 7, bidirectional=True).step(x[:, 0])


def test_stateful_step_detaches_and_restarts():
    torch.manual_seed(0)
    model = CharLM(CharLMConfig(vocab_size=5, hidden_size=8, embed_dim=4))
    streams = TextStreams(np.random.default_rng(0).integers(0, 5, 400), batch_size=2, seq_len=10)
    step = charlm.StatefulStep()
    batches = list(streams.batches())
    loss, metrics, count = step(model, batches[0])
    assert count == 20 and metrics["bits_per_char"] == pytest.approx(loss.item() / math.log(2) * 20)
    carried = step.states[True]
    assert all(not s.requires_grad for s in carried)  # truncated: no gradient into the past
    step(model, batches[1])
    assert not torch.equal(step.states[True][0], carried[0])
    fresh = charlm.StatefulStep()
    torch.testing.assert_close(step(model, batches[0])[0], fresh(model, batches[0])[0])  # restarts


# -- training ------------------------------------------------------------------------------------


def test_training_learns_and_resumes(text_file, tmp_path):
    run = tmp_path / "run"
    results = charlm.train(tiny_config(epochs=2), text_file, run)
    vocab_size = results["vocab_size"]
    assert results["best_val_loss"] < 0.5 * math.log(vocab_size)  # far below a uniform guess
    history = json.loads((run / "history.json").read_text())
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert (run / "curves.png").is_file() and (run / "vocab.json").is_file()
    resumed = charlm.train(tiny_config(epochs=3), text_file, run)
    assert resumed["epochs"] == 3 and len(json.loads((run / "history.json").read_text())) == 3
    with pytest.raises(ValueError, match="other settings"):
        charlm.train(tiny_config(epochs=4, lr=5e-3), text_file, run)
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 3  # the resolved config
    other = tmp_path / "other.txt"
    other.write_text(text_file.read_text().replace("cat", "act"))
    with pytest.raises(ValueError, match="trained on another text"):
        charlm.train(tiny_config(epochs=4), other, run)


def test_time_limit_ends_the_run_early(text_file, tmp_path):
    results = charlm.train(tiny_config(epochs=50, time_limit=1e-6), text_file, tmp_path / "run")
    assert results["epochs"] == 1  # one step, then the budget is spent: validate, save, stop


def test_sampling_is_reproducible_and_greedy_with_top_k_1(text_file, tmp_path):
    charlm.train(tiny_config(epochs=2), text_file, tmp_path / "run")
    model, vocab, _ = charlm.load_run(tmp_path / "run")
    a = "".join(charlm.sample(model, vocab, "the ", 60, 1.0, seed=3))
    b = "".join(charlm.sample(model, vocab, "the ", 60, 1.0, seed=3))
    c = "".join(charlm.sample(model, vocab, "the ", 60, 1.0, seed=4))
    assert a == b and a != c and len(a) == 60
    greedy = "".join(charlm.sample(model, vocab, "the ", 30, 1.0, top_k=1, seed=1))
    ids = list(vocab.encode("the "))
    expected = ""
    with torch.no_grad():
        for _ in range(30):  # argmax, recomputed from scratch on the whole text each time
            logits, _ = model(torch.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
            expected += vocab.chars[ids[-1]]
    assert greedy == expected
    full = charlm.evaluate(tmp_path / "run", text_file)  # the best weights, every validation character
    best = json.loads((tmp_path / "run" / "results.json").read_text())["best_val_loss"]
    assert full["loss"] == pytest.approx(best, rel=1e-5)  # training validated on the same full pass
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        next(charlm.sample(model, vocab, "ROMEO:", 5))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        next(charlm.sample(model, vocab, "the", 5, temperature=0))


def test_hello_with_layers_predicts_o():
    result = charlm.train_hello("hello", "lstm", hidden_size=8, steps=150)
    assert result.predicted == "ello" and result.losses[-1] < 0.1 * result.losses[0]


# -- activation view -----------------------------------------------------------------------------


def test_hidden_states_equal_the_fused_layer():
    torch.manual_seed(0)
    model = CharLM(CharLMConfig(vocab_size=6, hidden_size=10, embed_dim=4, num_layers=2)).eval()
    vocab = CharVocab(list("abcdef"))
    text = "abcfedcbaabf"
    with torch.no_grad():
        ids = torch.from_numpy(vocab.encode(text))[None]
        h, (_, c_n) = model.rnn(model.inputs(ids))  # (1, N, H), fused path
    np.testing.assert_allclose(hidden_states(model, vocab, text, layer=-1), h[0].numpy(), atol=1e-5)
    cells = hidden_states(model, vocab, text, layer=1, what="c")
    np.testing.assert_allclose(cells[-1], torch.tanh(c_n[1, 0]).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="layer must be in"):
        hidden_states(model, vocab, text, layer=2)


def test_features_and_ranking_find_a_planted_unit():
    text = 'say "hi" (now)\nok'
    assert FEATURES["inside_quotes"](text)[:9].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 0]
    assert FEATURES["inside_brackets"](text)[9:15].tolist() == [1, 1, 1, 1, 1, 0]
    assert FEATURES["position_in_line"](text)[-3:].tolist() == [14, 0, 1]
    rng = np.random.default_rng(0)
    feature = FEATURES["inside_quotes"]('a "b" c "dd" e' * 20)
    states = rng.normal(size=(len(feature), 16))
    states[:, 11] = -feature + 0.1 * rng.normal(size=len(feature))
    (unit, corr), *_ = rank_units(states, feature)
    assert unit == 11 and corr < -0.95
    with pytest.raises(ValueError, match="constant"):
        rank_units(states, np.zeros(len(feature)))


def test_activation_pages(tmp_path):
    text = 'He said "no".\n'
    values = np.linspace(-1, 1, len(text))
    page = activation_html(text, values, "unit 3")
    assert page.count("<span") == len(text) and "rgb(255," in page and "&quot;" in page
    assert activation_png(text, values, tmp_path / "a.png").stat().st_size > 1000


# -- ABC -----------------------------------------------------------------------------------------


def test_abc_checks(tmp_path):
    assert check_tune(TUNE) == []
    assert check_tune(TUNE.replace("M:6/8\n", "")) == ["header lacks M:"]
    assert check_tune("T:x\nX:1\nM:2/4\nK:D\nabc|") == ["does not start with X:"]
    assert "body has no notes or no bar lines" in check_tune("X:1\nT:x\nM:2/4\nK:D\n")
    (tmp_path / "a.abc").write_text(TUNE + "\n\n" + TUNE.replace("X: 1", "X: 2"))
    (tmp_path / "b.abc").write_text(TUNE.replace("X: 1", "X: 3"))
    tunes = split_tunes(read_collection(tmp_path))
    assert [t.splitlines()[0] for t in tunes] == ["X: 1", "X: 2", "X: 3"]
    with pytest.raises(DataError, match="no .abc files"):
        read_collection(tmp_path / "nowhere")


# -- CLI -----------------------------------------------------------------------------------------

TINY = ["--hidden", "32", "--embed", "8", "--seq-len", "16", "--batch-size", "4", "--lr", "1e-2"]


def test_cli_train_sample_units_activations(text_file, tmp_path, capsys):
    run = str(tmp_path / "run")
    args = ["lm", "train", "--text", str(text_file), "--out", run, "--epochs", "1", *TINY]
    assert main([*args, "--set", "val_batch_size=2"]) == 0
    assert "best validation loss" in capsys.readouterr().out
    sample = ["lm", "sample", run, "--prime", "the", "--length", "40", "--seed", "7"]
    assert main(sample) == 0
    first = capsys.readouterr()
    assert main(sample) == 0
    assert capsys.readouterr().out == first.out and first.out.startswith("the")
    assert "chars/s" in first.err
    assert main(["lm", "sample", run, "--prime", "ROMEO:"]) == 2
    assert "not in the model's vocabulary" in capsys.readouterr().err
    assert main(["lm", "units", run, "--string", "the cat (sat) on\nthe mat."]) == 0
    assert "inside_brackets" in capsys.readouterr().out
    out = tmp_path / "view"
    assert main(["lm", "activations", run, "--text", str(text_file), "--unit", "3", "--out", str(out)]) == 0
    assert (out / "unit3.html").is_file() and (out / "unit3.png").is_file()


def test_cli_errors(tmp_path, capsys):
    (tmp_path / "tiny.txt").write_text("abc")
    assert main(["lm", "train", "--text", str(tmp_path / "tiny.txt"), "--out", str(tmp_path / "r")]) == 2
    assert "cannot fill" in capsys.readouterr().err
    assert main(["lm", "sample", str(tmp_path / "nothing")]) == 2
    assert "no run directory" in capsys.readouterr().err
    assert main(["lm", "hello", "--steps", "100"]) == 0
    assert 'predicts "o"' in capsys.readouterr().out


def test_cli_music_writes_checked_tunes(tmp_path, capsys):
    folder = tmp_path / "abc"
    folder.mkdir()
    (folder / "t.abc").write_text("\n\n".join(TUNE.replace("X: 1", f"X: {i}") for i in range(60)))
    out = tmp_path / "music"
    args = ["lm", "music", "--abc", str(folder), "--out", str(out), "--tunes", "2", "--epochs", "3", *TINY]
    assert main([*args, "--set", "val_batch_size=2"]) == 0
    text = capsys.readouterr().out
    assert "generated tunes have a valid header" in text
    tunes = split_tunes((out / "tunes.abc").read_text())
    assert len(tunes) == 2 and all(t.startswith("X:") for t in tunes)
