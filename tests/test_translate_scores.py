"""Translation scores: each distinct source once, against all of its references (sacrebleu's
multi-reference BLEU and chrF), beside the older one-reference-per-pair figures."""

import pytest
import sacrebleu

from rnnkit.data.translation import Pair
from rnnkit.tasks import translate


def test_a_source_with_several_references_is_scored_once_against_all():
    config = translate.preset("fast")
    pairs = [
        Pair("Va-t'en d'ici !", "Get out of here right now."),
        Pair("Va-t'en d'ici !", "Go away from here right now."),  # a second reference for the same source
        Pair("va-t'en d'ici", "Leave this place at once."),  # and a third, spelled otherwise (same match_key)
        Pair("Je chante avec mes amis.", "I am singing with my friends."),
    ]
    hypotheses = [
        "Go away from here right now.",
        "Go away from here right now.",
        "Go away from here right now.",
        "I sing with my friends.",
    ]
    scores = translate.corpus_scores(hypotheses, pairs, config)
    once = ["Go away from here right now.", "I sing with my friends."]  # each distinct source once
    streams = [
        ["Get out of here right now.", "I am singing with my friends."],
        ["Go away from here right now.", None],
        ["Leave this place at once.", None],
    ]
    multi = sacrebleu.corpus_bleu(once, streams)
    assert scores["bleu"] == pytest.approx(multi.score)
    assert scores["sources"] == 2 and scores["references"] == 4
    assert "nrefs:var" in scores["bleu_signature"] and "nrefs:var" in scores["chrf_signature"]
    chrf = sacrebleu.corpus_chrf(once, streams)
    assert scores["chrf"] == pytest.approx(chrf.score)
    # one reference per pair: the right answer is penalised against the two other references
    single = sacrebleu.corpus_bleu(hypotheses, [[p.target for p in pairs]])
    assert scores["bleu_per_pair"] == pytest.approx(single.score) and single.score < multi.score
    perfect = translate.corpus_scores([p.target for p in pairs], pairs, config)
    assert perfect["bleu"] == pytest.approx(100)


def test_hypotheses_must_match_the_pairs():
    with pytest.raises(ValueError, match="one hypothesis per pair: got 1 for 2 pairs"):
        translate.corpus_scores(["x"], [Pair("a", "b"), Pair("c", "d")], translate.preset("fast"))


def test_an_empty_split_is_a_clear_error():
    with pytest.raises(ValueError, match="no pairs to score: the split is empty"):
        translate.corpus_scores([], [], translate.preset("fast"))


def test_a_run_split_by_source_sentence_is_refused(tmp_path):
    """A run from before the leak-free split (no 'split' in its config.json) reads as split='source':
    scoring it on today's test pairs, some of which it trained on, or resuming it, is refused."""
    from rnnkit.config import to_dict
    from rnnkit.errors import ConfigError
    from rnnkit.train import checkpoint as ckpt

    old = to_dict(translate.preset("fast"))
    del old["split"]
    ckpt.save_json(old, tmp_path / ckpt.CONFIG)
    config = translate.RUNS.load_config(tmp_path)
    assert config.split == "source"
    with pytest.raises(ConfigError, match="split by source sentence"):
        translate.load_splits(config, tmp_path)
    with pytest.raises(ConfigError, match="split: 'source' saved, 'component' asked"):
        translate.RUNS.resumable(config, translate.preset("fast"), tmp_path)
