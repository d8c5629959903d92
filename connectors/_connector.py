"""The connector all engines share: encode, ingest through the pipeline, hybrid search, hits."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lens_vdb import LensEncoder, LensInputError, to_sparse

from ._base import FUSIONS, LENS, LENS_SPARSE, CollectionSpec, Document, Hit, IngestReport, Record
from ._dense import DenseEmbedder, as_dense_embedder
from ._documents import DocumentSource, read_documents
from ._pipeline import ingest_documents
from ._store import QueryVectors, Store, StoredHit

if TYPE_CHECKING:
    from lens_vdb.integrations.langchain import LensRetriever

__all__ = ["LensConnector"]


class LensConnector:
    """Hybrid LENS + dense retrieval over one collection of one engine.

    Subclasses choose the engine (:class:`QdrantConnector`, :class:`MilvusConnector`); everything
    else (encoding, ingestion, fusion, hits, explanations) is here, once.
    """

    def __init__(self, store: Store, *, encoder: LensEncoder | str | None = None, dense: Any = None,
                 task: str | None = None, sparse_top: int = 0, on_disk: bool = False, float16: bool = False,
                 int8: bool = False) -> None:
        self.store = store
        try:  # whatever fails here, the engine is released
            # a model named here runs on the fastest backend measured on this machine
            self.encoder = encoder if isinstance(encoder, LensEncoder) else LensEncoder(encoder, backend="auto")
            self.task = task  # a symmetric task (sts, clustering...) instructs documents too
            self.dense: DenseEmbedder = as_dense_embedder(dense)
            self.spec = CollectionSpec(k=self.encoder.k, dense_dim=self.dense.dim, sparse_top=sparse_top,
                                       on_disk=on_disk, float16=float16, int8=int8)
            store.ensure(self.spec)
        except BaseException:
            store.close()
            raise

    # ---- ingestion -------------------------------------------------------------------------

    def ingest(self, source: DocumentSource, *, batch_size: int = 32, write_workers: int = 2,
               max_retries: int = 4, show_progress: bool = True, text_field: str = "text",
               id_field: str = "id") -> IngestReport:
        """Embed and store documents (texts, dicts, Documents, or a JSONL/CSV/folder path).

        Idempotent and resumable: documents already stored (same id, or same text when there is
        no id) are skipped, so a re-run after a crash ends with every document stored once.
        """
        return self._ingest_into(self.store, source, text_field=text_field, id_field=id_field, batch_size=batch_size,
                                 write_workers=write_workers, max_retries=max_retries, show_progress=show_progress)

    def _ingest_into(self, store: Store, source: DocumentSource, *, text_field: str = "text", id_field: str = "id",
                     **pipeline: Any) -> IngestReport:
        """Read ``source`` and run the pipeline into ``store`` (``pipeline``: its batch, retry, progress options)."""
        total = len(source) if hasattr(source, "__len__") and not isinstance(source, (str, bytes)) else None
        documents = read_documents(source, text_field=text_field, id_field=id_field)
        return ingest_documents(store, documents, self._records, total=total, **pipeline)

    async def aingest(self, source: DocumentSource, **options: Any) -> IngestReport:
        """:meth:`ingest` without blocking the event loop.

        The same pipeline runs in a worker thread (reading, encoding, retries, report); on an engine
        with an async client (Qdrant servers: AsyncQdrantClient; Milvus: AsyncMilvusClient) its
        store calls are coroutines run on this event loop, so writes share the application's client
        loop instead of a second connection pool.
        """
        store = self.store
        if getattr(store, "native_async", False):
            store = _OnLoop(store, asyncio.get_running_loop())
        return await asyncio.to_thread(self._ingest_into, store, source, **options)

    def _records(self, documents: list[Document]) -> list[Record]:
        texts = [d.text for d in documents]
        lens = self.encoder.encode_documents(texts, self.task, batch_size=len(texts))
        dense = self.dense.embed_documents(texts)
        self._check_vectors(documents, lens, dense)
        sparse = to_sparse(lens, top_k=self.spec.sparse_top) if self.spec.sparse_top else [None] * len(documents)
        return [
            Record(d.point_id, d, lens_row.tolist(), dense_row.tolist(),
                   s.indices.tolist() if s is not None else None, s.values.tolist() if s is not None else None)
            for d, lens_row, dense_row, s in zip(documents, lens, dense, sparse)
        ]

    def _check_vectors(self, documents: list[Document], lens: np.ndarray, dense: np.ndarray) -> None:
        if dense.shape != (len(documents), self.spec.dense_dim):
            raise LensInputError(f"The dense embedder returned shape {dense.shape}; the collection needs "
                                 f"({len(documents)}, {self.spec.dense_dim}).")
        for name, vectors in ((LENS, lens), ("dense", dense)):
            bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1) | ~vectors.any(axis=1))
            if bad.size:
                doc = documents[int(bad[0])]
                raise LensInputError(f"Document id={doc.id!r} ({doc.text[:40]!r}) has a NaN, infinite or all-zero "
                                     f"{name} vector; nothing of its batch was written.")

    # ---- search ----------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 10, fusion: str = "rrf", weights: tuple[float, float] = (1.0, 1.0),
               rrf_k: int = 60, prefetch_limit: int | tuple[int, int] | None = None, use_sparse: bool = False,
               filter: dict[str, Any] | None = None, explain: bool = False, task: str | None = None) -> list[Hit]:
        """Hybrid search in one engine query: prefetch on ``lens`` (or ``lens_sparse``) and ``dense``, then fuse.

        ``fusion``: ``"rrf"`` (reciprocal rank fusion: each route adds ``1 / (rrf_k + rank)``, ranks
        from 1, the same on every engine; per-route ``weights`` on Qdrant),
        ``"dbsf"`` (distribution-based score fusion) or ``"weighted"`` (``w_lens * cos_lens +
        w_dense * cos_dense``; at 1:1 it ranks like the paper's concatenation of the two
        normalised vectors). ``prefetch_limit``: candidates per route, one number for both or
        ``(lens, dense)`` (default ``max(5 * limit, 50)``). ``filter`` matches metadata fields: ``{"topic": "sport"}`` or
        ``{"topic": ["sport", "tech"]}``.
        """
        vectors, options = self._prepare(query, limit, fusion, weights, rrf_k, prefetch_limit, use_sparse, filter, task)
        return [self._hit(s, vectors, explain) for s in self.store.query(vectors, **options)]

    async def asearch(self, query: str, *, limit: int = 10, fusion: str = "rrf",
                      weights: tuple[float, float] = (1.0, 1.0), rrf_k: int = 60,
                      prefetch_limit: int | tuple[int, int] | None = None,
                      use_sparse: bool = False, filter: dict[str, Any] | None = None, explain: bool = False,
                      task: str | None = None) -> list[Hit]:
        """:meth:`search` without blocking the event loop.

        The query is encoded in a worker thread; the engine query goes through the engine's async
        client where there is one (AsyncQdrantClient on Qdrant servers, AsyncMilvusClient on Milvus
        Lite and servers) and through a worker thread otherwise (qdrant-edge, qdrant local mode).
        """
        vectors, options = await asyncio.to_thread(self._prepare, query, limit, fusion, weights, rrf_k,
                                                   prefetch_limit, use_sparse, filter, task)
        if getattr(self.store, "native_async", False):
            stored = await self.store.aquery(vectors, **options)
        else:
            stored = await asyncio.to_thread(self.store.query, vectors, **options)
        return [self._hit(s, vectors, explain) for s in stored]

    def _prepare(self, query: str, limit: int, fusion: str, weights: tuple[float, float], rrf_k: int,
                 prefetch_limit: int | tuple[int, int] | None, use_sparse: bool, filter: dict[str, Any] | None,
                 task: str | None) -> tuple[QueryVectors, dict[str, Any]]:
        """Validate a search and encode the query: the part shared by sync and async search."""
        if not isinstance(query, str) or not query.strip():
            raise LensInputError(f"query must be a non-empty string, got {query!r:.60}")
        if fusion not in FUSIONS:
            raise LensInputError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if use_sparse and not self.spec.sparse_top:
            raise LensInputError("use_sparse=True needs a collection created with sparse_top > 0.")
        if limit < 1:
            raise LensInputError(f"limit must be positive, got {limit}")
        lens = self.encoder.encode_queries([query], task=task or self.task)[0]
        sparse = to_sparse(lens[None], top_k=self.spec.sparse_top)[0] if use_sparse else None
        vectors = QueryVectors(lens.tolist(), self.dense.embed_query(query).tolist(),
                               sparse.indices.tolist() if sparse is not None else None,
                               sparse.values.tolist() if sparse is not None else None)
        options = {"limit": limit, "prefetch_limits": _prefetch_limits(prefetch_limit, limit), "fusion": fusion,
                   "weights": tuple(weights), "rrf_k": rrf_k, "lens_route": LENS_SPARSE if use_sparse else LENS,
                   "filter": filter}
        return vectors, options

    def _hit(self, stored: StoredHit, vectors: QueryVectors, explain: bool) -> Hit:
        lens, dense = np.asarray(vectors.lens, dtype=np.float32), vectors.dense
        doc_lens = np.asarray(stored.lens, dtype=np.float32) if stored.lens is not None else None
        scores = {}
        if doc_lens is not None:
            scores[LENS] = float(lens @ doc_lens)
            if vectors.sparse_indices is not None:  # what the sparse route ranked: top-N against top-N
                doc_top = to_sparse(doc_lens[None], top_k=self.spec.sparse_top)[0].to_dense(doc_lens.size)
                scores[LENS_SPARSE] = float(doc_top[vectors.sparse_indices] @ np.asarray(vectors.sparse_values))
        if stored.dense is not None:
            scores["dense"] = float(np.dot(dense, stored.dense))
        explanation = None
        if explain and doc_lens is not None:
            explanation = [(e.cluster, e.weight, e.tokens) for e in self.encoder.explain(lens * doc_lens, top=5)]
        payload = stored.payload
        return Hit(stored.id, payload.get("doc_id"), payload.get("text", ""), stored.score, scores,
                   payload.get("metadata") or {}, explanation)

    def as_retriever(self, *, search_type: str = "similarity", search_kwargs: dict[str, Any] | None = None,
                     k: int | None = None, fusion: str | None = None, weights: tuple[float, float] | None = None,
                     filter: dict[str, Any] | None = None, use_sparse: bool | None = None,
                     score_threshold: float | None = None, tags: list[str] | None = None,
                     metadata: dict[str, Any] | None = None) -> LensRetriever:
        """A LangChain retriever over this connector's hybrid search (needs ``lens-vdb[langchain]``).

        Takes LangChain's ``VectorStore.as_retriever`` arguments (``search_type="similarity"`` or
        ``"similarity_score_threshold"``, ``search_kwargs={"k": 4, "filter": {...}, "fusion": "rrf",
        "weights": (1, 1), "use_sparse": False, "score_threshold": x}``, ``tags``, ``metadata``) or the
        same search keywords flat. Defaults: ``k=4``, ``fusion="rrf"``.
        """
        from lens_vdb.integrations.langchain import LensRetriever

        return LensRetriever.over(self, search_type=search_type, search_kwargs=search_kwargs, tags=tags,
                                  metadata=metadata, k=k, fusion=fusion, weights=weights, filter=filter,
                                  use_sparse=use_sparse, score_threshold=score_threshold)

    # ---- misc ------------------------------------------------------------------------------

    def count(self) -> int:
        """Documents stored in the collection."""
        return self.store.count()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> LensConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _prefetch_limits(prefetch_limit: int | tuple[int, int] | None, limit: int) -> tuple[int, int]:
    """Candidates per route, (lens, dense)."""
    if prefetch_limit is None:
        return (max(limit * 5, 50),) * 2
    limits = (prefetch_limit,) * 2 if isinstance(prefetch_limit, int) else tuple(prefetch_limit)
    if len(limits) != 2 or not all(isinstance(n, int) and n >= 1 for n in limits):
        raise LensInputError(f"prefetch_limit must be a positive int or (lens, dense) ints, got {prefetch_limit!r}")
    return limits  # type: ignore[return-value]


class _OnLoop:
    """A store whose lookups and writes run as its async client's coroutines on ``loop``.

    The ingest pipeline calls it from a worker thread and waits for each call; the event loop
    stays free meanwhile. Everything else is the wrapped store's.
    """

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop) -> None:
        self.store, self.loop = store, loop

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        return asyncio.run_coroutine_threadsafe(self.store.aexisting_ids(ids), self.loop).result()

    def upsert(self, records: Sequence[Record]) -> None:
        asyncio.run_coroutine_threadsafe(self.store.aupsert(records), self.loop).result()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)
