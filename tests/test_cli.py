from rnnkit.cli import main


def test_scratch_hello_prints_the_softmax_table(capsys):
    assert main(["scratch", "hello", "--steps", "300"]) == 0
    out = capsys.readouterr().out
    assert 'predicts "o"' in out and "p(h)  p(e)  p(l)  p(o)" in out


def test_scratch_rejects_letters_outside_the_vocabulary(capsys):
    assert main(["scratch", "hello", "--word", "help"]) == 2
    assert "only the letters h, e, l, o" in capsys.readouterr().err


def test_summary_prints_the_lecture_total(capsys):
    assert main(["summary"]) == 0
    assert "Total params: 598,209" in capsys.readouterr().out


def test_masking_demo_passes(capsys):
    assert main(["masking"]) == 0
    assert "padding leaks in" in capsys.readouterr().out


def test_sentiment_summary_shows_the_lecture_total(capsys):
    assert main(["sentiment", "summary", "--preset", "seed"]) == 0
    assert "Total params: 598,209" in capsys.readouterr().out


def test_sentiment_cli_end_to_end(imdb_tarball, tmp_path, capsys):
    run = tmp_path / "run"
    tiny = ["--set", "vocab_size=300", "--set", "model.embed_dim=8", "--set", "model.hidden_sizes=8"]
    args = [
        "sentiment",
        "train",
        "--data",
        str(imdb_tarball),
        "--out",
        str(run),
        "--epochs",
        "2",
        "--lr",
        "0.02",
    ]
    assert main(args + tiny) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert main(["sentiment", "predict", str(run), "wonderful superb film", "awful boring film"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(("positive" in line) != ("negative" in line) for line in lines)

    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine review\n\xff\xfe broken bytes\n")
    assert main(["sentiment", "predict", str(run), "--file", str(bad)]) == 2
    assert "line 2 is not UTF-8" in capsys.readouterr().err
    assert main(["sentiment", "predict", str(run), "   "]) == 2
    assert "empty or only whitespace" in capsys.readouterr().err
    assert main(["sentiment", "predict", str(tmp_path / "nope"), "text"]) == 2
    assert "no run directory" in capsys.readouterr().err
    assert main(["sentiment", "train", "--out", str(run), "--set", "model.bogus=1"]) == 2
    assert "unknown setting 'model.bogus'" in capsys.readouterr().err
