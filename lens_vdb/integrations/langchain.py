"""LangChain integration: ``LensEmbeddings``, ``LensSparseEmbeddings`` and ``LensRetriever``.

    >>> from lens_vdb.integrations.langchain import LensEmbeddings
    >>> embeddings = LensEmbeddings()                 # the offline default model
    >>> vector = embeddings.embed_query("what is LENS?")

Needs ``pip install 'lens-vdb[langchain]'``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lens_vdb._deps import require

require("langchain_core", "langchain")
require("langchain_qdrant", "langchain")

from langchain_core.callbacks import CallbackManagerForRetrieverRun  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402
from langchain_qdrant import SparseEmbeddings, SparseVector  # noqa: E402
from pydantic import ConfigDict  # noqa: E402

from lens_vdb._inference.encoder import LensEncoder  # noqa: E402

from ._shared import embed, make_encoder, sparse_pairs  # noqa: E402

__all__ = ["LensEmbeddings", "LensSparseEmbeddings", "LensRetriever"]


class LensEmbeddings(Embeddings):
    """LENS embeddings for LangChain: documents as is, queries with the task instruction.

    Args:
        model: a model dir or hub id, a ready :class:`LensEncoder`, or ``None`` (default model).
        task: instruction task for queries (default ``"retrieval"``); a symmetric task
            (``"sts"``, ``"clustering"``) instructs documents too.
        batch_size, backend, device, dtype, max_length: passed to :class:`LensEncoder`; ``backend``
            defaults to ``"auto"`` (the fastest backend measured on this machine, which also picks
            the precision: give ``dtype`` only with ``backend="torch"``).

    Blank texts embed to the zero vector (nothing to pool); vector stores that normalise
    vectors may refuse them, so drop blank chunks before indexing.
    """

    def __init__(self, model: LensEncoder | str | Path | None = None, *, task: str | None = None,
                 batch_size: int = 32, backend: str = "auto", device: str | None = None, dtype: str | None = None,
                 max_length: int | None = None) -> None:
        self.encoder = make_encoder(model, batch_size=batch_size, backend=backend, device=device, dtype=dtype,
                                    max_length=max_length)
        self.task = task
        self.batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return embed(self.encoder, texts, query=False, task=self.task, batch_size=self.batch_size).tolist()

    def embed_query(self, text: str) -> list[float]:
        if not isinstance(text, str):
            raise TypeError(f"embed_query takes a str, got {type(text).__name__}")
        return embed(self.encoder, [text], query=True, task=self.task, batch_size=1)[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)


class LensSparseEmbeddings(SparseEmbeddings):
    """LENS vectors pruned to their top-k dimensions, as langchain-qdrant sparse embeddings.

    Use it as ``sparse_embedding=`` of ``QdrantVectorStore`` in ``RetrievalMode.HYBRID`` or
    ``SPARSE``.
    """

    def __init__(self, model: LensEncoder | str | Path | None = None, *, top_k: int = 256,
                 task: str | None = None, batch_size: int = 32, **encoder_options: Any) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be positive, got {top_k}")
        self.encoder = make_encoder(model, batch_size=batch_size, **encoder_options)
        self.top_k, self.task, self.batch_size = top_k, task, batch_size

    def _sparse(self, texts: list[str], query: bool) -> list[SparseVector]:
        vectors = embed(self.encoder, texts, query=query, task=self.task, batch_size=self.batch_size)
        indices, values = sparse_pairs(vectors, self.top_k)
        return [SparseVector(indices=i, values=v) for i, v in zip(indices, values)]

    def embed_documents(self, texts: list[str]) -> list[SparseVector]:
        return self._sparse(texts, query=False)

    def embed_query(self, text: str) -> SparseVector:
        if not isinstance(text, str):
            raise TypeError(f"embed_query takes a str, got {type(text).__name__}")
        return self._sparse([text], query=True)[0]

    async def aembed_documents(self, texts: list[str]) -> list[SparseVector]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> SparseVector:
        return await asyncio.to_thread(self.embed_query, text)


class LensRetriever(BaseRetriever):
    """A LangChain retriever over a lens-vdb connector: one server-side hybrid query per call.

    Build it with ``connector.as_retriever(k=4, fusion="rrf", filter=None)``. Each ``Document``
    carries the hit's metadata plus ``id``, ``score`` (fused) and ``scores`` (per route).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    connector: Any  # a lens_vdb.connectors.LensConnector (not imported: the core never imports connectors)
    k: int = 4
    fusion: str = "rrf"
    weights: tuple[float, float] = (1.0, 1.0)
    filter: dict[str, Any] | None = None
    use_sparse: bool = False

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.connector.search(query, limit=self.k, fusion=self.fusion, weights=self.weights, filter=self.filter,
                                use_sparse=self.use_sparse)
        return [Document(page_content=hit.text, id=hit.id,
                         metadata={**hit.metadata, "doc_id": hit.doc_id, "score": hit.score, "scores": hit.scores})
                for hit in hits]

    async def _aget_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return await asyncio.to_thread(self._get_relevant_documents, query, run_manager=run_manager)
