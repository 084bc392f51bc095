"""Translation end to end on a tiny made-up language: training, scores, the translator's contract
(one output per input, empty lines, long and unseen input), save/load, resume, and the CLI."""

import json
import random
import re
import zipfile

import pytest
import torch
from helpers import train_tiny
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.cli import main
from rnnkit.data.tokenizer import Tokenizer
from rnnkit.data.translation import Pair
from rnnkit.decode import length_penalty
from rnnkit.tasks import translate
from rnnkit.tasks.translate import data as translate_data
from rnnkit.train import checkpoint as ckpt

NUMBERS = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"]
ENGLISH = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def write_tatoeba(folder, pairs=600, seed=0):
    """``fra-eng.zip`` of digit names: "trois un ." -> "three one .", 1 to 5 words."""
    rng = random.Random(seed)
    lines = set()
    while len(lines) < pairs:
        digits = [rng.randrange(10) for _ in range(rng.randint(1, 5))]
        french = " ".join(NUMBERS[d] for d in digits) + " ."
        english = " ".join(ENGLISH[d] for d in digits) + " ."
        lines.add(f"{english}\t{french}")
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "fra-eng.zip", "w") as archive:
        archive.writestr("fra.txt", "\n".join(sorted(lines)) + "\n")
    return folder


TINY = [
    "--set",
    "source_vocab_size=300",
    "--set",
    "target_vocab_size=300",
    "--set",
    "test_pairs=60",
    "--set",
    "validation_pairs=40",
    "--set",
    "model.embed_size=32",
    "--set",
    "model.hidden_size=32",
    "--set",
    "model.decoder_size=64",
    "--set",
    "model.dropout=0.0",
    "--set",
    "train.time_limit=null",
    "--epochs",
    "12",
    "--batch-size",
    "32",
    "--lr",
    "0.01",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("translate")
    data = write_tatoeba(root / "data")
    return data, train_tiny(root, "translate", data, TINY)


def test_training_learns_the_made_up_language(trained):
    _, run = trained
    results = json.loads((run / translate.RESULTS_FILE).read_text())
    assert results["test"]["beam1"]["bleu"] > 90
    assert results["test"]["beam5"]["bleu"] > 90
    assert "tok:13a" in results["test"]["beam5"]["bleu_signature"]
    history = json.loads((run / "history.json").read_text())
    assert history[-1]["val_bleu"] > history[0]["val_bleu"]
    assert {"config.json", "run.json", "best.safetensors", "source_tokenizer.json"} <= {
        p.name for p in run.iterdir()
    }


def test_translator_contract(trained):
    _, run = trained
    translator = translate.Translator.from_run(run)
    lines = ["trois un .", "", "neuf neuf huit .", "   ", "sept ."]
    out = translator.translate(lines, beam=5)
    assert len(out) == len(lines)
    assert [t.text for t in out] == ["three one .", "", "nine nine eight .", "", "seven ."]
    # batched == one at a time, greedy and beam
    for beam in (1, 5):
        together = [t.text for t in translator.translate(lines, beam=beam)]
        assert together == [translator.translate([line], beam=beam)[0].text for line in lines]
    # unseen characters encode (byte-level pieces); a very long line is cut, with the flag set
    odd, long = translator.translate(["ünïcødé ★ 🙂 .", " ".join(["un"] * 10_000)], beam=1)
    assert isinstance(odd.text, str) and not odd.truncated
    assert long.truncated and len(long.source_tokens) == translate.MAX_SOURCE_TOKENS
    # attention rows: one per written piece plus </s>; columns: this source's pieces, even in a
    # batch with a longer source; each row sums to 1
    for beam in (1, 5):
        with_attention, _ = translator.translate(["trois un .", "neuf huit sept six cinq ."], beam, True)
        weights = with_attention.attention
        assert weights.shape == (len(with_attention.target_tokens) + 1, len(with_attention.source_tokens))
        assert weights.sum(axis=1) == pytest.approx(1.0, abs=1e-5)


def test_corpus_scores_are_sacrebleus():
    import sacrebleu

    pairs = [Pair("a", "The cat sat on the mat."), Pair("b", "Do you want to sing with me?")]
    hypotheses = ["The cat sat on a mat.", "Do you want to sing with me?"]
    scores = translate.corpus_scores(hypotheses, pairs, translate.preset("fast"))
    expected = sacrebleu.corpus_bleu(hypotheses, [[p.target for p in pairs]])
    assert scores["bleu"] == pytest.approx(expected.score)
    perfect = translate.corpus_scores([p.target for p in pairs], pairs, translate.preset("fast"))
    assert perfect["bleu"] == pytest.approx(100)


def test_resume_goes_on_and_a_changed_model_is_refused(trained, tmp_path, capsys):
    data, _ = trained
    run = tmp_path / "run"
    short = [*TINY[:-6], "--epochs", "1", "--batch-size", "32", "--lr", "0.01"]
    assert main(["translate", "train", "--data", str(data), "--out", str(run), *short]) == 0
    first = json.loads((run / "history.json").read_text())
    longer = [*TINY[:-6], "--epochs", "2", "--batch-size", "32", "--lr", "0.01"]
    assert main(["translate", "train", "--data", str(data), "--out", str(run), *longer]) == 0
    history = json.loads((run / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2] and history[0] == first[0]
    assert "resuming the translation run" in capsys.readouterr().err
    changed = [*longer, "--set", "model.hidden_size=16"]
    assert main(["translate", "train", "--data", str(data), "--out", str(run), *changed]) == 2
    assert "model.hidden_size" in capsys.readouterr().err


def test_cli_translates_files_line_for_line_and_draws_attention(trained, tmp_path, capsys):
    _, run = trained
    assert main(["translate", str(run), "deux deux ."]) == 0
    assert capsys.readouterr().out == "two two .\n"
    text = tmp_path / "in.txt"
    text.write_text("un .\n\ncinq six .\r\n", encoding="utf-8")
    assert main(["translate", "predict", str(run), "--file", str(text), "--beam", "1"]) == 0
    assert capsys.readouterr().out.split("\n") == ["one .", "", "five six .", ""]
    picture = tmp_path / "attention.png"
    assert main(["translate", str(run), "trois un .", "--attention", str(picture), "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["text"] == "three one ." and picture.stat().st_size > 1000
    long = " ".join(["un"] * 10_000)
    assert main(["translate", str(run), long, "--beam", "1"]) == 0
    assert "only the first 256" in capsys.readouterr().err


def test_cli_attention_figure_goes_to_a_new_folder_in_the_type_its_extension_names(trained, tmp_path, capsys):
    _, run = trained
    capsys.readouterr()
    picture = tmp_path / "new" / "deeper" / "attention.svg"
    assert main(["translate", str(run), "trois un .", "--attention", str(picture)]) == 0
    assert capsys.readouterr() == ("three one .\n", f"attention heatmap: {picture}\n")
    assert picture.read_text().lstrip().startswith("<?xml") and "<svg" in picture.read_text()
    bare = tmp_path / "other" / "attention"  # no extension: a PNG, and the message names its file
    assert main(["translate", str(run), "trois un .", "--attention", str(bare)]) == 0
    assert capsys.readouterr().err == f"attention heatmap: {bare}.png\n"
    assert (tmp_path / "other" / "attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_json_gives_log_prob_beside_score_as_the_translator_does(trained, capsys):
    _, run = trained
    translator = translate.Translator.from_run(run)
    alpha = translator.config.length_penalty
    lines = ["trois un .", "neuf neuf huit sept ."]
    capsys.readouterr()
    for beam in (1, 5):
        assert main(["translate", str(run), *lines, "--beam", str(beam), "--format", "json"]) == 0
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        expected = translator.translate(lines, beam=beam)
        assert [r["log_prob"] for r in records] == pytest.approx([t.log_prob for t in expected])
        assert [r["score"] for r in records] == pytest.approx([t.score for t in expected])
        for record in records:  # score = log_prob / lp(n), n: the pieces written and </s>
            n = len(record["pieces"]) + 1
            assert record["score"] == pytest.approx(record["log_prob"] / length_penalty(n, alpha))
            assert record["log_prob"] <= record["score"] <= 0


def test_cli_a_byte_order_mark_is_not_translated(trained, tmp_path, capsys):
    """A file saved as "UTF-8 with BOM" translates as the same sentence typed on the command line."""
    _, run = trained
    marked = tmp_path / "marked.txt"
    marked.write_bytes(b"\xef\xbb\xbfdeux un .\n")
    capsys.readouterr()
    assert main(["translate", str(run), "deux un .", "--format", "json"]) == 0
    typed = capsys.readouterr().out
    assert main(["translate", str(run), "--file", str(marked), "--format", "json"]) == 0
    assert capsys.readouterr().out == typed and json.loads(typed)["text"] == "two one ."


def test_cli_counts_a_long_file_in_one_line_on_stderr(trained, tmp_path, capsys):
    _, run = trained
    text = tmp_path / "in.txt"
    text.write_text("un .\n" * 1000)
    capsys.readouterr()
    assert main(["translate", str(run), "--file", str(text), "--beam", "1"]) == 0
    out, err = capsys.readouterr()
    assert out == "one .\n" * 1000
    assert re.fullmatch(r"translating: 1,000 sentences in \d+\.\d s\n", err)


def test_cli_evaluate_prints_greedy_and_beam_with_signature(trained, capsys):
    data, run = trained
    assert main(["translate", "evaluate", str(run), "--data", str(data), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "greedy" in out and "beam 5" in out and "nrefs:1|case:mixed" in out
    assert "distinct sources, each scored once against all of its" in out and "BLEU/pair" in out
    assert out.count("translated:") == 2


def test_cli_errors_are_one_line(trained, tmp_path, capsys):
    data, run = trained
    assert main(["translate", "train", "--data", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "no Tatoeba zip" in capsys.readouterr().err
    assert main(["translate", "train", "--data", str(data), "--pair", "deu-eng", "--out", str(tmp_path)]) == 2
    assert "unknown language pair 'deu-eng'" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    ckpt.save_json({"task": "tagging", "rnnkit": "0.1.0"}, other / "run.json")
    assert main(["translate", str(other), "un ."]) == 2
    assert "is a tagging run, not a translation run" in capsys.readouterr().err
    assert main(["translate", str(run), "un .", "--beam", "0"]) == 2
    assert "beam must be >= 1" in capsys.readouterr().err


# -- the tokenizers: text is text, special tokens come only from the ids the code adds ---------------------

SPECIALS = (translate_data.PAD, translate_data.BOS, translate_data.EOS)  # ids 0, 1, 2
SENTENCES = ["trois un .", "Voulez-vous chanter avec moi ?", "Do you want to sing with me?"] * 5
# the special tokens' spellings, their pieces, near misses and any other text, run together
TEXTS = st.lists(
    st.one_of(st.sampled_from([*SPECIALS, "<unk>", "<", ">", "/", "s", "pad", " ", "<s", "/s>"]), st.text()),
    max_size=8,
).map("".join)


@pytest.fixture(scope="module")
def small_tokenizer():
    return translate_data.train_tokenizer(SENTENCES, 300)


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_text_holding_special_token_spellings_round_trips(small_tokenizer, text):
    """ "<pad>", "<s>" or "</s>" typed by a user are characters like any others: before the fix the
    library matched them as the special tokens, so they encoded to ids 0, 1, 2 and vanished."""
    ids = small_tokenizer.encode(text)
    assert not set(ids) & {0, 1, 2}
    assert small_tokenizer.decode(ids) == text
    assert small_tokenizer.encode_batch([text, text]) == [ids, ids]


def test_special_tokens_keep_ids_0_1_2_and_decode_leaves_them_out(small_tokenizer):
    assert [small_tokenizer.token_id(t) for t in SPECIALS] == [0, 1, 2]
    ids = small_tokenizer.encode("un </s> .")
    assert small_tokenizer.decode([1, *ids, 2, 0, 0]) == "un </s> ."
    assert "".join(small_tokenizer.tokens("<s>un<pad>")) == "<s>un<pad>"


def test_tokenizer_files_saved_before_the_fix_load_with_the_same_ids(tmp_path):
    """Run directories store the tokenizers as the library wrote them (nothing of the fix is in the
    file): written here by the library itself, as rnnkit wrote them before, they load through
    ``Tokenizers.load`` with <pad>, <s>, </s> at 0, 1, 2, the vocabulary unchanged, and specials
    typed in the text read as text."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    for name in (translate_data.SOURCE_TOKENIZER, translate_data.TARGET_TOKENIZER):
        backend = HFTokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=list(SPECIALS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        backend.train_from_iterator(SENTENCES, trainer=trainer)
        backend.save(str(tmp_path / name))
        assert backend.encode("un </s>").ids[-1] == 2  # the library's own default: a control id
    loaded = translate.Tokenizers.load(tmp_path)
    for tokenizer in (loaded.source, loaded.target):
        assert [tokenizer.token_id(t) for t in SPECIALS] == [0, 1, 2]
        assert tokenizer.backend.get_vocab() == backend.get_vocab()
        text = "un <pad> deux </s><s> ."
        ids = tokenizer.encode(text)
        assert not set(ids) & {0, 1, 2} and tokenizer.decode(ids) == text


def test_word_tokenizer_reads_special_spellings_as_text():
    """The sentiment word tokenizer too: "<pad>" in a review is words, never the padding id."""
    tokenizer = Tokenizer.train(["the pad was great", "a < b > c"], "word", 300)
    ids = tokenizer.encode("the <pad> was <unk>")
    assert 0 not in ids
    assert ids == tokenizer.encode("the < pad > was < unk >")  # the words and marks they are made of
    assert tokenizer.decode(ids) == "the < pad > was < >"  # "unk" is unknown: <unk>, left out


def test_a_sentence_holding_special_spellings_is_translated_as_text(trained):
    _, run = trained
    translator = translate.Translator.from_run(run)
    for beam in (1, 5):
        out = translator.translate(["un </s> <pad> <s> ."], beam=beam)[0]
        assert "".join(out.source_tokens) == "un </s> <pad> <s> ."
