"""The asyncio side of :class:`~lens_vdb.LensEncoder`: ``aencode_queries`` and ``aencode_documents``.

A remote backend (``RemoteBackend.arun``) is awaited on the running loop's ``httpx.AsyncClient``, all
of a call's batches at once, for the server's dynamic batcher to join; a local backend, which has
no ``arun``, runs the blocking method in a worker thread. Either way the loop is never blocked, and
the texts are checked and tokenized exactly as by the blocking methods.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._instructions import Task, get_task
from .features import TokenizedBatch, positive_int, tokenize_documents, tokenize_queries, validate_texts
from .sparse import SparseVector

if TYPE_CHECKING:
    from .._model.config import LensConfig

__all__ = ["AsyncEncoding"]


class AsyncEncoding:
    """Mixed into :class:`LensEncoder`, whose attributes and helpers it uses."""

    _backend: Any
    tokenizer: Any
    config: LensConfig
    max_length: int
    encode_queries: Callable[..., Any]
    encode_documents: Callable[..., Any]
    _query_instruction: Callable[[str | Task | None], str]
    _batches: Callable[[TokenizedBatch, int | None], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]
    _finish: Callable[..., Any]

    async def aencode_queries(self, texts: Sequence[str], task: str | Task | None = None, *,
                              instruction: str | None = None, batch_size: int | None = None, sparse: bool = False,
                              top_k: int | None = None, threshold: float = 0.0) -> np.ndarray | list[SparseVector]:
        """:meth:`encode_queries` for asyncio. A remote encoder awaits its server on the running loop's
        ``httpx.AsyncClient`` (a call's batches are sent at once, for the server's dynamic batcher to
        join); a local one runs in a worker thread, so the loop is never blocked."""
        if not hasattr(self._backend, "arun"):
            return await asyncio.to_thread(self.encode_queries, texts, task, instruction=instruction,
                                           batch_size=batch_size, sparse=sparse, top_k=top_k, threshold=threshold)
        texts = validate_texts(texts, what="queries")
        chosen = instruction if instruction is not None else self._query_instruction(task)
        vectors = await self._aencode(texts, lambda t: tokenize_queries(self.tokenizer, t, chosen, self.max_length),
                                      batch_size)
        return self._finish(vectors, sparse, top_k, threshold)

    async def aencode_documents(self, texts: Sequence[str], task: str | Task | None = None, *,
                                batch_size: int | None = None, sparse: bool = False, top_k: int | None = None,
                                threshold: float = 0.0) -> np.ndarray | list[SparseVector]:
        """:meth:`encode_documents` for asyncio (see :meth:`aencode_queries`)."""
        resolved = get_task(task) if task is not None else None
        if resolved is not None and resolved.symmetric:
            return await self.aencode_queries(texts, resolved, batch_size=batch_size, sparse=sparse, top_k=top_k,
                                              threshold=threshold)
        if not hasattr(self._backend, "arun"):
            return await asyncio.to_thread(self.encode_documents, texts, task, batch_size=batch_size,
                                           sparse=sparse, top_k=top_k, threshold=threshold)
        texts = validate_texts(texts, what="documents")
        vectors = await self._aencode(texts, lambda t: tokenize_documents(self.tokenizer, t, self.max_length),
                                      batch_size)
        return self._finish(vectors, sparse, top_k, threshold)

    async def _aencode(self, texts: list[str], tokenize: Callable[[list[str]], TokenizedBatch],
                       batch_size: int | None) -> np.ndarray:
        if batch_size is not None:
            positive_int(batch_size, "batch_size")
        out = np.zeros((len(texts), self.config.k), dtype=np.float32)
        filled = [i for i, text in enumerate(texts) if text.strip()]
        if filled:
            batches = self._batches(tokenize([texts[i] for i in filled]), batch_size)
            parts = await asyncio.gather(*(self._backend.arun(ids, mask) for _, ids, mask in batches))
            vectors = np.zeros((len(filled), self.config.k), dtype=np.float32)
            for (rows, _, _), part in zip(batches, parts):
                vectors[rows] = part
            out[filled] = vectors
        return out
