"""Text to token ids, trained on the training texts with Hugging Face ``tokenizers``.

- ``subword`` (default, like the tutorial's ``subwords8k``): byte-level BPE. Every string encodes,
  and ``decode(encode(text)) == text`` exactly (spaces, case and punctuation included).
- ``word``: lower-cased words and punctuation marks, unknown words map to ``<unk>``; decoding joins
  tokens with spaces, so it does not round-trip.

Id 0 is ``<pad>`` in both, and ``vocab_size`` counts it: the default 8,185 is the tutorial's.

Special tokens (``<pad>``, ``<unk>``, a task's ``<s>`` and ``</s>``) come only from the ids the code
adds, never from the text: a user who types "</s>" gets those five characters encoded as text. The
library matches special tokens' spellings in the text by default; :class:`Tokenizer` turns that off
(``encode_special_tokens``) on every tokenizer it makes or loads. The switch is not stored in the
tokenizer's file, so files saved before it load unchanged (same vocabulary, same ids) and read text
the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

from ..errors import ConfigError

PAD, UNK = "<pad>", "<unk>"
KINDS = ("subword", "word")


class Tokenizer:
    def __init__(self, backend: HFTokenizer, kind: str) -> None:
        # the spelling of a special token in the text is text: "<pad>" must not encode to id 0
        backend.encode_special_tokens = True
        self.backend = backend
        self.kind = kind

    @classmethod
    def train(
        cls, texts: Iterable[str], kind: str = "subword", vocab_size: int = 8185, specials: Sequence[str] = ()
    ) -> Tokenizer:
        """``specials``: tokens given the ids after ``<pad>`` (and ``<unk>``), e.g. ``("<s>", "</s>")``;
        text never encodes to them, and :meth:`decode` leaves them out."""
        if kind not in KINDS:
            raise ConfigError(f"tokenizer kind must be one of {KINDS}, got {kind!r}")
        if vocab_size < 300:
            raise ConfigError(
                f"vocab_size must be at least 300 (the bytes and a few merges), got {vocab_size}"
            )
        if kind == "subword":
            backend = HFTokenizer(models.BPE())
            backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            backend.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(
                vocab_size=vocab_size,
                special_tokens=[PAD, *specials],
                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                show_progress=False,
            )
        else:
            backend = HFTokenizer(models.WordLevel(unk_token=UNK))
            backend.normalizer = normalizers.Lowercase()
            backend.pre_tokenizer = pre_tokenizers.Whitespace()
            trainer = trainers.WordLevelTrainer(
                vocab_size=vocab_size, special_tokens=[PAD, UNK, *specials], show_progress=False
            )
        backend.train_from_iterator(texts, trainer=trainer)
        return cls(backend, kind)

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.backend.encode(text).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Many texts at once, in parallel threads: seconds for the 25,000 reviews."""
        return [e.ids for e in self.backend.encode_batch(texts)]

    def decode(self, ids: list[int]) -> str:
        return self.backend.decode(ids, skip_special_tokens=True)

    def token_id(self, token: str) -> int:
        """The id of a token of the vocabulary (a special token, say); a KeyError if it has none."""
        index = self.backend.token_to_id(token)
        if index is None:
            raise KeyError(f"{token!r} is not in the vocabulary")
        return index

    def tokens(self, text: str) -> list[str]:
        """The pieces of ``text``, readable (byte-level markers turned back into characters)."""
        return [self.backend.decode([i]) for i in self.encode(text)]

    def save(self, path: str | Path) -> None:
        self.backend.save(str(path))

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        backend = HFTokenizer.from_file(str(path))
        kind = "word" if isinstance(backend.model, models.WordLevel) else "subword"
        return cls(backend, kind)
