"""Splitting documents longer than the encoder's window into chunks, by tokens of the LENS tokenizer.

LangChain's ``RecursiveCharacterTextSplitter`` does the splitting (paragraphs, then lines, then
words, then characters), measuring length in tokens. Each chunk gets its character span in the
document; the splitter's own ``start_index`` is not used, as it subtracts a token overlap from a
character offset and can land past the chunk it looks for.

Two windows meet here: the LENS encoder's (``max_length``, 512 tokens for the default model, less
its special tokens and, for a symmetric task, the instruction) and the dense embedder's when it
says what it is (all-MiniLM-L6-v2: 256 word pieces, less ``[CLS]`` and ``[SEP]``). The default
chunk size is the smaller of the two, and a chunk's length is the longer of its two
tokenizations, so every chunk is seen whole by both routes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lens_vdb import LensEncoder, LensError, LensInputError, get_task
from lens_vdb._deps import require

__all__ = ["Chunk", "Chunker"]


@dataclass(frozen=True)
class Chunk:
    """One chunk of a document: its index, its character span ``[start, end)`` and its text."""

    index: int
    start: int
    end: int
    text: str


class Chunker:
    """Split texts into chunks that fit the LENS window (and the dense one, when the embedder tells it).

    Args:
        encoder: the LENS encoder; its tokenizer counts, its ``max_length`` bounds the chunk size.
        dense: the dense embedder; if it has ``max_tokens`` and ``count_tokens(text)`` its window counts too.
        task: the document task (a symmetric task's instruction takes room in the LENS window).
        size: tokens per chunk (default: the smaller window). ``overlap``: tokens shared by neighbours
            (default ``size // 8``).
    """

    def __init__(self, encoder: LensEncoder, dense: Any, *, task: str | None = None, size: int | None = None,
                 overlap: int | None = None) -> None:
        self._lens = _counter(encoder.tokenizer)
        self.lens_window = encoder.max_length - _overhead(encoder, task, self._lens)
        if self.lens_window < 8:
            raise LensInputError(f"The encoder's max_length={encoder.max_length} leaves {self.lens_window} tokens for "
                                 f"a document's text after its special tokens and the {task!r} instruction; raise "
                                 "max_length to chunk documents.")
        self._dense = getattr(dense, "count_tokens", None)
        self.dense_window: int | None = getattr(dense, "max_tokens", None) if self._dense else None
        default = min(self.lens_window, self.dense_window or self.lens_window)
        self.size = _check_size(size, self.lens_window, default)
        self.overlap = self.size // 8 if overlap is None else overlap
        if isinstance(self.overlap, bool) or not isinstance(self.overlap, int) or not 0 <= self.overlap < self.size:
            raise LensInputError(f"chunk_overlap must be an int in [0, chunk_size={self.size}), got {overlap!r}")
        if self.dense_window is not None and self.size > self.dense_window:
            warnings.warn(f"chunk_size={self.size} is over the dense embedder's window ({self.dense_window} tokens): "
                          "its route embeds only the start of longer chunks.", UserWarning, stacklevel=3)
        splitters = require("langchain_text_splitters", "qdrant")  # in the qdrant and milvus extras
        self._splitter = splitters.RecursiveCharacterTextSplitter(
            chunk_size=self.size, chunk_overlap=self.overlap, length_function=self.length, strip_whitespace=True)

    @property
    def config(self) -> dict[str, int]:
        """What decides the chunks, for the model hash: re-chunking differently re-encodes."""
        return {"size": self.size, "overlap": self.overlap}

    def length(self, text: str) -> int:
        """Tokens of ``text``: the longer of its LENS and dense tokenizations."""
        lens = self._lens(text)
        return max(lens, self._dense(text)) if self._dense is not None else lens

    def split(self, text: str) -> list[Chunk]:
        """The chunks of ``text``, each with its span; a text that fits is one chunk, unchanged."""
        if self.length(text) <= self.size:
            return [Chunk(0, 0, len(text), text)]
        chunks: list[Chunk] = []
        start = 0
        for index, piece in enumerate(self._splitter.split_text(text)):
            at = text.find(piece, start)
            if at < 0:  # the splitter only cuts and strips, so every chunk is a substring in order
                raise LensError(f"chunk {index} ({piece[:40]!r}) is not in the text after offset {start}: the "
                                "text splitter changed the text; please report it with the text")
            chunks.append(Chunk(index, at, at + len(piece), piece))
            start = at + 1
        return chunks


def _check_size(size: int | None, window: int, default: int) -> int:
    if size is None:
        return default
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise LensInputError(f"chunk_size must be an int of at least 8 tokens, got {size!r}")
    if size > window:
        raise LensInputError(f"chunk_size={size} is over the LENS window: max_length leaves {window} tokens for "
                             "a document's text, and longer chunks would be cut. Lower chunk_size, or raise the "
                             "encoder's max_length.")
    return size


def _counter(tokenizer: Any) -> Callable[[str], int]:
    """Count tokens as the encoder tokenizes documents (no special tokens added, none parsed from the text)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:  # a slow tokenizer
        return lambda text: len(tokenizer.tokenize(text, split_special_tokens=True))
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(backend.to_str())  # a private copy: the settings below stay ours
    copy.no_truncation()
    copy.no_padding()
    copy.encode_special_tokens = True
    return lambda text: len(copy.encode(text, add_special_tokens=False).ids)


def _overhead(encoder: LensEncoder, task: str | None, count: Callable[[str], int]) -> int:
    """Tokens the encoder adds around a document's text: special tokens, and a symmetric task's instruction."""
    from lens_vdb._inference.features import tokenize_documents, tokenize_queries

    probe, room = "probe", 1 << 20
    resolved = get_task(task) if task is not None else None
    if resolved is not None and resolved.symmetric:
        ids = tokenize_queries(encoder.tokenizer, [probe], resolved.instruction, room).ids[0]
    else:
        ids = tokenize_documents(encoder.tokenizer, [probe], room).ids[0]
    return len(ids) - count(probe)
