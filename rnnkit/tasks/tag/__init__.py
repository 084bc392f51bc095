"""Named entities (synced many-to-many): the lecture's "Yesterday, Harry Potter met Hermione Granger."

CoNLL-2003 English: train on ``eng.train``, select on ``eng.testa`` (the validation F1 each epoch),
report on ``eng.testb`` once per run. Tags are read as IOB1, converted to IOB2 and trained in
``scheme`` (IOBES by default); scores are entity-level precision, recall and F1 by ``seqeval``
(its default, conlleval-compatible mode) on IOB2, overall and per type.

The model is :class:`rnnkit.models.tagger.SequenceTagger` (word + character BiLSTM + casing ->
BiLSTM -> CRF). Presets:

- ``fast``: the 30-minute recipe on a 2-core CPU, no pretrained vectors (docs/tag.md).
- ``softmax``: the same model with an independent softmax per word instead of the CRF.
- ``best``: three taggers (seeds 0, 1, 2) as an ensemble, each ``fast`` plus contextual word
  features from a frozen forward and backward language model (``lm``: a ``rnnkit sentiment
  pretrain`` run on IMDB's text, adapted to eng.train's words), ELMo-style
  (:class:`rnnkit.models.wordlm.ContextualWords`); no external embeddings (docs/tag.md).

A run directory holds ``config.json``, ``vocab.json`` (words, characters, tags; with ``lm``, the
language model's tokenizer in ``lm_tokenizer.json``; its weights are part of the tagger's), the weights, the
history and curves, and ``results.json`` (the test scores).

The parts: :mod:`.config` (settings, presets, run directories), :mod:`.data` (vocabularies and
batches), :mod:`.model` (the tagger, its step, a trained run), :mod:`.predict` (tagging text),
:mod:`.metrics` (scores), :mod:`.task` (training).
"""

from .config import (
    LM_CONTEXTS,
    LM_TOKENIZER_FILE,
    MEMBERS_DIR,
    PRESETS,
    RESULTS_FILE,
    RUNS,
    SAMPLES,
    SPLITS,
    VOCAB_FILE,
    TagConfig,
    member_dir,
    preset,
)
from .data import PreparedData, TagDataset, Vocabularies, data_dir, prepare, write_text
from .metrics import confusion, evaluate, evaluate_model, scores
from .model import build_model, language_model, load_run, step
from .predict import EVAL_BATCH, EVAL_TOKENS, MAX_WORDS, Tagger, entities, marked, predict_tags, tokenize
from .task import train

__all__ = [
    "EVAL_BATCH",
    "EVAL_TOKENS",
    "LM_CONTEXTS",
    "LM_TOKENIZER_FILE",
    "MAX_WORDS",
    "MEMBERS_DIR",
    "PRESETS",
    "RESULTS_FILE",
    "RUNS",
    "SAMPLES",
    "SPLITS",
    "VOCAB_FILE",
    "PreparedData",
    "TagConfig",
    "TagDataset",
    "Tagger",
    "Vocabularies",
    "build_model",
    "confusion",
    "data_dir",
    "entities",
    "evaluate",
    "evaluate_model",
    "language_model",
    "load_run",
    "marked",
    "member_dir",
    "predict_tags",
    "prepare",
    "preset",
    "scores",
    "step",
    "tokenize",
    "train",
    "write_text",
]
