"""LlamaIndex integration: ``LensEmbedding`` and sparse functions for Qdrant hybrid mode.

    >>> from lens_vdb.integrations.llamaindex import LensEmbedding, lens_sparse_functions
    >>> embed_model = LensEmbedding()                                  # the offline default model
    >>> doc_fn, query_fn = lens_sparse_functions(top_k=256)
    >>> store = QdrantVectorStore(..., enable_hybrid=True, sparse_doc_fn=doc_fn, sparse_query_fn=query_fn)

Needs ``pip install 'lens-vdb[llamaindex]'``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lens_vdb._deps import require

require("llama_index.core", "llamaindex")

from llama_index.core.base.embeddings.base import BaseEmbedding  # noqa: E402
from pydantic import PrivateAttr  # noqa: E402

from lens_vdb._inference.encoder import LensEncoder  # noqa: E402
from lens_vdb._inference.features import validate_texts  # noqa: E402

from ._shared import embed, make_encoder, sparse_pairs  # noqa: E402

__all__ = ["LensEmbedding", "lens_sparse_functions"]

SparseFn = Callable[[list[str]], tuple[list[list[int]], list[list[float]]]]


class LensEmbedding(BaseEmbedding):
    """LENS embeddings for LlamaIndex: texts as documents, queries with the task instruction."""

    task: str | None = None
    _encoder: LensEncoder = PrivateAttr()

    def __init__(self, model: LensEncoder | str | Path | None = None, *, task: str | None = None,
                 embed_batch_size: int = 32, **encoder_options: Any) -> None:
        super().__init__(model_name=str(model) if not isinstance(model, LensEncoder) else "lens-encoder",
                         embed_batch_size=embed_batch_size, task=task)
        self._encoder = make_encoder(model, batch_size=embed_batch_size, **encoder_options)

    @classmethod
    def class_name(cls) -> str:
        return "LensEmbedding"

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False, **kwargs: Any) -> list[list[float]]:
        """LlamaIndex's batching, after checking every text: an error names its index in ``texts``,
        not in the chunk of ``embed_batch_size`` LlamaIndex would hand over."""
        return super().get_text_embedding_batch(validate_texts(texts, what="texts"), show_progress, **kwargs)

    async def aget_text_embedding_batch(self, texts: list[str], show_progress: bool = False,
                                        **kwargs: Any) -> list[list[float]]:
        return await super().aget_text_embedding_batch(validate_texts(texts, what="texts"), show_progress, **kwargs)

    def _get_query_embedding(self, query: str) -> list[float]:
        return embed(self._encoder, [query], query=True, task=self.task, batch_size=1)[0].tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return embed(self._encoder, texts, query=False, task=self.task, batch_size=self.embed_batch_size).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)


def lens_sparse_functions(model: LensEncoder | str | Path | None = None, *, top_k: int = 256,
                          task: str | None = None, **encoder_options: Any) -> tuple[SparseFn, SparseFn]:
    """``(sparse_doc_fn, sparse_query_fn)`` for ``llama_index.vector_stores.qdrant.QdrantVectorStore``."""
    encoder = make_encoder(model, **encoder_options)

    def documents(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        return sparse_pairs(embed(encoder, texts, query=False, task=task, batch_size=None), top_k)

    def queries(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        return sparse_pairs(embed(encoder, texts, query=True, task=task, batch_size=None), top_k)

    return documents, queries
