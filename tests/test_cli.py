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
