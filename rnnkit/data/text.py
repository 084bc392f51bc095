"""Character-level text: reading a UTF-8 file, the character vocabulary, and the batches of
truncated backpropagation through time (TBPTT).

TBPTT batches, as in char-rnn: the text (N characters) is cut into B equal streams, one per batch
row, and each stream into consecutive chunks of T characters. Batch ``k`` holds chunk ``k`` of every
stream, so row ``b`` of batch ``k + 1`` continues row ``b`` of batch ``k`` and the model may carry its
hidden state from one batch to the next (detached: gradients flow back at most T steps)::

    stream 0: |chunk 0|chunk 1|chunk 2| ...        x = stream[k*T     : (k+1)*T]
    stream 1: |chunk 0|chunk 1|chunk 2| ...        y = stream[k*T + 1 : (k+1)*T + 1]

Under ``torchrun`` each process reads a contiguous block of the streams (:meth:`Shard.block`), the
same block at every step, so each carries the state of its own rows from batch to batch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from .batching import Shard, Share
from .locate import DataError


def read_text(path: str | Path, min_chars: int = 2) -> str:
    """The UTF-8 text of ``path``; a one-line :class:`DataError` if it is missing, not UTF-8 or too short."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no text file at {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start}, line {line}); "
            "convert it first, e.g. iconv -f LATIN1 -t UTF-8"
        ) from None
    if len(text) < min_chars:
        raise DataError(f"{path} has {len(text)} characters; at least {min_chars} are needed")
    return text


class CharVocab:
    """The distinct characters of a text, sorted; ids are positions in that order."""

    def __init__(self, chars: list[str]) -> None:
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("a CharVocab needs distinct single characters")
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """The characters of ``text`` that are not in the vocabulary, in order of appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.index))

    def encode(self, text: str) -> np.ndarray:
        missing = self.unknown(text)
        if missing:
            shown = ", ".join(repr(c) for c in missing[:10])
            raise InputError(
                f"{len(missing)} character(s) not in the model's vocabulary of {len(self)}: {shown}; "
                "use only characters of the training text"
            )
        return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: list[int] | np.ndarray | Tensor) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"chars": self.chars}, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> CharVocab:
        return cls(json.loads(Path(path).read_text(encoding="utf-8"))["chars"])


@dataclass
class TextBatch:
    x: Tensor  # (B, T) ids
    y: Tensor  # (B, T) the next character of each position
    first: bool  # the first chunk of a pass: no state to carry in

    def to(self, device: torch.device) -> TextBatch:
        return TextBatch(self.x.to(device), self.y.to(device), self.first)


class TextStreams:
    """``ids`` as ``batch_size`` parallel streams read in chunks of ``seq_len`` (see the module doc).

    ``batches(offset)`` is the training pass: whole chunks, cut at a shifting offset, the same count
    for every offset. ``full_pass()`` is the evaluation pass: from the start, every character scored,
    the last chunk shorter. ``fix`` names the settings to change if the text is too short.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int, fix: str = "") -> None:
        self.ids = torch.from_numpy(np.asarray(ids, dtype=np.int64))
        self._layout(len(ids), batch_size, seq_len, fix, "characters")

    def _layout(self, count: int, batch_size: int, seq_len: int, fix: str, unit: str) -> None:
        """``count`` ids as ``batch_size`` streams of ``per_stream`` each; refused if too few."""
        self.batch_size, self.seq_len = batch_size, seq_len
        self.per_stream = (count - 1) // batch_size
        if self.per_stream < 1:
            raise DataError(
                f"{count} {unit} cannot fill {batch_size} streams; "
                + (fix or "use a longer text or a smaller batch size")
            )

    def __len__(self) -> int:
        """Chunks per training pass, the same for every offset in [0, seq_len)."""
        return (self.per_stream - self.seq_len + 1) // self.seq_len

    def _streams(self) -> tuple[Tensor, Tensor]:
        B, n = self.batch_size, self.per_stream
        streams = self.ids[: B * n + 1]
        return streams[:-1].view(B, n), streams[1:].view(B, n)  # x, y: (B, n), row b is stream b

    def _rows(self, shard: Shard | None) -> slice:
        if shard is None:
            return slice(None)
        if self.batch_size < shard.world:
            raise DataError(
                f"the text is read as {self.batch_size} streams, fewer than the {shard.world} processes, "
                f"and each process carries the state of its own streams; use a batch size of at least "
                f"{shard.world} (--batch-size, or --set val_batch_size=N for validation)"
            )
        return shard.block(self.batch_size)

    def batches(self, offset: int = 0, shard: Shard | None = None):
        """The chunks of one training pass; ``offset`` (modulo seq_len) shifts where they are cut.
        With a ``shard``: this process's block of streams of each chunk, as a :class:`Share`."""
        if len(self) < 1:
            raise DataError(
                f"streams of {self.per_stream} characters hold no whole chunk of seq_len={self.seq_len} "
                f"at every offset (that needs {2 * self.seq_len - 1}); "
                "use a longer text, a smaller batch size or a shorter seq_len"
            )
        T, (x_all, y_all), rows = self.seq_len, self._streams(), self._rows(shard)
        offset %= T
        for k in range(len(self)):
            start = offset + k * T
            batch = TextBatch(x_all[rows, start : start + T], y_all[rows, start : start + T], first=k == 0)
            yield batch if shard is None else Share(batch)

    def full_pass(self, shard: Shard | None = None):
        """Every position of every stream, in order, in chunks of at most seq_len (evaluation).
        With a ``shard``: this process's block of streams, as :class:`Share` objects."""
        (x_all, y_all), rows = self._streams(), self._rows(shard)
        for k, start in enumerate(range(0, self.per_stream, self.seq_len)):
            end = start + self.seq_len
            batch = TextBatch(x_all[rows, start:end], y_all[rows, start:end], first=k == 0)
            yield batch if shard is None else Share(batch)

    def tokens(self) -> int:
        """Characters scored in one training pass."""
        return len(self) * self.batch_size * self.seq_len


class TokenFile:
    """Token ids on disk, appended a document at a time: a corpus of any size in bounded memory.

    ``<name>.bin`` holds the ids as little-endian uint16 (a vocabulary under 65,536) or uint32;
    :meth:`read` maps it without loading it (``np.memmap``). Documents are separated by the id
    ``separator`` (the end-of-document token), so a language model learns where reviews end.
    :meth:`close` returns once the ids are on disk (flushed and fsynced), so that a record written
    after it (pretrain's ``corpus.json``) can vouch for a whole file even after a power cut."""

    def __init__(self, path: str | Path, vocab_size: int, separator: int) -> None:
        self.path = Path(path)
        self.dtype = np.dtype("<u2") if vocab_size <= 2**16 else np.dtype("<u4")
        self.separator, self.tokens, self.documents = separator, 0, 0
        self._file = self.path.open("wb")

    def add(self, documents: list[list[int]]) -> None:
        for ids in documents:
            array = np.asarray([*ids, self.separator], dtype=self.dtype)
            self._file.write(array.tobytes())
            self.tokens += len(array)
            self.documents += 1

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    @staticmethod
    def read(path: str | Path, vocab_size: int) -> np.ndarray:
        dtype = np.dtype("<u2") if vocab_size <= 2**16 else np.dtype("<u4")
        if Path(path).stat().st_size < 2 * dtype.itemsize:
            raise DataError(f"{path} holds fewer than two tokens")
        return np.memmap(path, dtype=dtype, mode="r")


class TokenStreams(TextStreams):
    """:class:`TextStreams` over token ids on disk (a :class:`TokenFile`), read chunk by chunk:
    each batch gathers its B x (T + 1) ids from the memory map, so memory stays bounded whatever
    the corpus's size. ``reverse``: the corpus read back to front (a backward language model)."""

    def __init__(
        self, ids: np.ndarray, batch_size: int, seq_len: int, fix: str = "", reverse: bool = False
    ) -> None:
        self.ids = ids[::-1] if reverse else ids  # a memory map stays one: nothing is loaded here
        self._layout(len(ids), batch_size, seq_len, fix, "tokens")

    def _chunk(self, rows: slice, start: int, end: int) -> tuple[Tensor, Tensor]:
        streams = np.arange(self.batch_size)[rows]
        end = min(end, self.per_stream)
        index = streams[:, None] * self.per_stream + np.arange(start, end + 1)[None, :]  # (B, T + 1)
        block = torch.from_numpy(np.asarray(self.ids[index], dtype=np.int64))
        return block[:, :-1], block[:, 1:]

    def batches(self, offset: int = 0, shard: Shard | None = None, chunks: range | None = None):
        """As :meth:`TextStreams.batches`; ``chunks``: only these chunks of the pass (a slice of it),
        the first of them marked ``first`` so that the slice starts its streams' state afresh."""
        if len(self) < 1:
            raise DataError(
                f"streams of {self.per_stream} tokens hold no whole chunk of seq_len={self.seq_len} "
                f"at every offset (that needs {2 * self.seq_len - 1}); "
                "use a longer text, a smaller batch size or a shorter seq_len"
            )
        T, rows = self.seq_len, self._rows(shard)
        offset %= T
        for n, k in enumerate(range(len(self)) if chunks is None else chunks):
            x, y = self._chunk(rows, offset + k * T, offset + (k + 1) * T)
            batch = TextBatch(x, y, first=n == 0)
            yield batch if shard is None else Share(batch)

    def full_pass(self, shard: Shard | None = None):
        rows = self._rows(shard)
        for k, start in enumerate(range(0, self.per_stream, self.seq_len)):
            x, y = self._chunk(rows, start, start + self.seq_len)
            batch = TextBatch(x, y, first=k == 0)
            yield batch if shard is None else Share(batch)
