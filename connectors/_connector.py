"""The connector all engines share: encode, ingest through the pipeline, update, delete, hybrid search, hits."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence, Sized
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lens_vdb import LensEncoder
from lens_vdb._model.default import versioned_name
from lens_vdb._vocabulary import DEFAULT_BACKEND, Fusion

from ._base import ADOPTABLE, CollectionSpec, Hit, IngestReport
from ._collection import Collection, document_ids
from ._dense import DenseEmbedder, as_dense_embedder, dense_name
from ._documents import DocumentSource, read_documents
from ._ingest import IngestOptions
from ._pipeline import ingest_documents
from ._ray.options import RayOptions, as_ray_options
from ._records import RecordBuilder, record_builder
from ._search import SearchOptions, SearchRequest, prepare, to_document_hit, to_hit
from ._store import QueryVectors, Store, StoredHit

if TYPE_CHECKING:
    from lens_vdb.integrations.langchain import LensRetriever

__all__ = ["LensConnector"]


class LensConnector:
    """Hybrid LENS + dense retrieval over one collection of one engine.

    Subclasses choose the engine (:class:`QdrantConnector`, :class:`MilvusConnector`); everything
    else (encoding, chunking, ingestion, updates, deletes, fusion, hits, explanations) is here, once.

    Opening an existing collection adopts the options it was made with (``sparse_top``,
    ``on_disk``, ``float16``, ``int8``) where they are not given (``None``); a given value that
    differs, or another LENS or dense model, is a :class:`LensSchemaError` naming both. A collection
    that does not exist is created by the first ingestion that writes to it, never by a search,
    a count or a delete (those raise a clear error).

    Attributes:
        collection: the :class:`Collection` (its ``name``, ``spec`` and ``fusions``); every call to the
            engine goes through it.
        store: the engine's :class:`Store` under it. encoder, dense, task, spec: what the collection holds.
    """

    def __init__(self, store: Store, *, encoder: LensEncoder | str | None = None, dense: Any = None,
                 task: str | None = None, sparse_top: int | None = None, on_disk: bool | None = None,
                 float16: bool | None = None, int8: bool | None = None) -> None:
        self.store = store
        try:  # whatever fails here, the engine is released
            # a model named here runs on the one default backend (torch: the exact model, nothing measured or
            # exported on first use); pass LensEncoder(..., backend="auto") for the fastest one here
            self.encoder = encoder if isinstance(encoder, LensEncoder) else LensEncoder(encoder, backend=DEFAULT_BACKEND)
            self.task = task  # a symmetric task (sts, clustering...) instructs documents too
            self.dense: DenseEmbedder = as_dense_embedder(dense)
            asked = {"sparse_top": sparse_top, "on_disk": on_disk, "float16": float16, "int8": int8}

            def spec_for(stored: dict[str, Any] | None) -> CollectionSpec:
                adopted: dict[str, Any] = {name: (value if value is not None else (stored or {}).get(name, ADOPTABLE[name]))
                           for name, value in asked.items()}
                return CollectionSpec(k=self.encoder.k, dense_dim=self.dense.dim, lens_model=self.encoder.fingerprint,
                                      lens_model_name=versioned_name(self.encoder.model_name), dense_model=dense_name(self.dense),
                                      **adopted)

            self.collection = Collection.open(store, spec_for)  # the only object that calls the store
            self.spec = self.collection.spec
            self._builders: dict[tuple, RecordBuilder] = {}
        except BaseException:
            store.close()
            raise

    # ---- ingestion -------------------------------------------------------------------------

    def ingest(self, source: DocumentSource, *, batch_size: int = 32, write_workers: int = 2,
               max_retries: int = 4, show_progress: bool = True, text_field: str = "text",
               id_field: str = "id", chunking: bool = True, chunk_size: int | None = None,
               chunk_overlap: int | None = None, ray: RayOptions | bool | None = None) -> IngestReport:
        """Embed and store documents (texts, dicts, Documents, or a JSONL/CSV/folder path).

        A document longer than the window is split into chunks of ``chunk_size`` tokens (default:
        the smaller of the LENS and dense windows) overlapping by ``chunk_overlap`` (default
        ``chunk_size // 8``), each a point with the document's id, its chunk index and character
        span; ``chunking=False`` stores one point per document, cut at the window (warned once).

        Idempotent, resumable and incremental: a stored document with the same text is skipped
        without encoding; one whose text changed is re-encoded and replaces every chunk of the old
        version (``report.updated``); a re-run after a crash ends with every document present once.
        A collection that does not exist is created just before the first write.

        ``ray=RayOptions(encoders=4, gpus_per_encoder=1)`` (or ``ray=True``) runs the same ingestion on
        Ray Data (``lens-vdb[ray]``): encoder actors on the cluster's nodes, many writers to a server
        engine (the driver alone writes an embedded one); ``source`` may then also be a
        ``ray.data.Dataset`` or Parquet files. It returns a :class:`RayIngestReport` (where the
        actors ran). ``write_workers`` is then the number of concurrent write tasks (and id-lookup
        actors). See :class:`RayOptions`.
        """
        on_ray = as_ray_options(ray)
        run = IngestOptions(batch_size=batch_size, write_workers=write_workers, max_retries=max_retries,
                            show_progress=show_progress)
        build = self._builder(chunking, chunk_size, chunk_overlap)  # the chunking options are checked here
        if on_ray is not None:
            from ._ray.ingest import ingest_with_ray

            return ingest_with_ray(self.collection, build, source, on_ray, run, chunking=bool(chunking),
                                   chunk_size=chunk_size, chunk_overlap=chunk_overlap, text_field=text_field,
                                   id_field=id_field)
        return self._ingest_into(self.collection, source, build, run, text_field=text_field, id_field=id_field)

    def _builder(self, chunking: bool, chunk_size: int | None, chunk_overlap: int | None) -> RecordBuilder:
        """The record builder for these chunking options (made once per options)."""
        key = (bool(chunking), chunk_size, chunk_overlap)
        if key not in self._builders:
            self._builders[key] = record_builder(self.encoder, self.dense, task=self.task,
                                                 sparse_top=self.spec.sparse_top, chunking=bool(chunking),
                                                 chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        return self._builders[key]

    @staticmethod
    def _ingest_into(collection: Collection, source: DocumentSource, build: RecordBuilder, run: IngestOptions, *,
                     text_field: str, id_field: str) -> IngestReport:
        """Read ``source`` and run the local pipeline into ``collection``."""
        total = len(source) if isinstance(source, Sized) and not isinstance(source, (str, bytes)) else None
        documents = read_documents(source, text_field=text_field, id_field=id_field)
        return ingest_documents(collection, documents, build, run, total=total)

    async def aingest(self, source: DocumentSource, *, batch_size: int = 32, write_workers: int = 2,
                      max_retries: int = 4, show_progress: bool = True, text_field: str = "text",
                      id_field: str = "id", chunking: bool = True, chunk_size: int | None = None,
                      chunk_overlap: int | None = None) -> IngestReport:
        """:meth:`ingest` without blocking the event loop.

        The same pipeline runs in a worker thread (reading, encoding, retries, report); on an engine
        with an async client (Qdrant servers: AsyncQdrantClient; Milvus: AsyncMilvusClient) its
        store calls are coroutines run on this event loop, so writes share the application's client
        loop instead of a second connection pool.
        """
        run = IngestOptions(batch_size=batch_size, write_workers=write_workers, max_retries=max_retries,
                            show_progress=show_progress)
        collection = self.collection.on_loop(asyncio.get_running_loop())
        build = await asyncio.to_thread(self._builder, chunking, chunk_size, chunk_overlap)
        return await asyncio.to_thread(self._ingest_into, collection, source, build, run, text_field=text_field,
                                       id_field=id_field)

    def delete(self, ids: Sequence[str] | None = None, *, filter: dict[str, Any] | None = None) -> int:
        """Delete documents with all their chunks: by document id, or by metadata ``filter`` (as in
        :meth:`search`). Returns how many documents were stored. Deleting in a collection that does
        not exist is an error; a later ingestion of the same documents counts them as new."""
        return self.collection.delete(ids, filter)

    # ---- search ----------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 10, fusion: Fusion | None = None,
               weights: tuple[float, float] | None = None, rrf_k: int | None = None, prefetch_limit: int | tuple[int, int] | None = None, use_sparse: bool = False,
               filter: dict[str, Any] | None = None, explain: bool = False, task: str | None = None,
               group_by_document: bool = False, group_size: int = 3) -> list[Hit]:
        """Hybrid search in one engine query: prefetch on ``lens`` (or ``lens_sparse``) and ``dense``, then fuse.

        ``fusion`` not given: the model's own (``encoder.fusion``, measured by ``lens-vdb calibrate`` with this
        dense model; the default model's is a weighted sum), else RRF at 1:1 (``weights`` given alone: RRF with
        them); see :func:`chosen_fusion`. ``fusion``: ``"rrf"`` (reciprocal rank fusion: each route adds ``1 / (rrf_k + rank)``, ranks
        from 1, the same on every engine; per-route ``weights`` on Qdrant),
        ``"dbsf"`` (distribution-based score fusion) or ``"weighted"`` (``w_lens * cos_lens +
        w_dense * cos_dense``; at 1:1 it ranks like the paper's concatenation of the two
        normalised vectors). ``prefetch_limit``: candidates (chunks) per route, one number for both
        or ``(lens, dense)`` (default ``max(5 * limit * group size, 50)``). ``filter`` matches
        metadata fields: ``{"topic": "sport"}`` or ``{"topic": ["sport", "tech"]}``.
        ``group_by_document=True`` returns up to ``limit`` documents rather than chunks, each with its
        ``group_size`` best chunks (``hit.chunks``), grouped by the engine after fusion.
        """
        request = self._prepare(query, SearchOptions(
            limit=limit, fusion=fusion, weights=weights, rrf_k=rrf_k, prefetch_limit=prefetch_limit,
            use_sparse=use_sparse, filter=filter, explain=explain, task=task, group_by_document=group_by_document,
            group_size=group_size))
        if request.group_size is None:
            return self._hits(self.collection.query(request.vectors, **request.options), request)
        return self._groups(self.collection.query_groups(request.vectors, group_size=request.group_size,
                                                         **request.options), request)

    async def asearch(self, query: str, *, limit: int = 10, fusion: Fusion | None = None,
                      weights: tuple[float, float] | None = None, rrf_k: int | None = None,
                      prefetch_limit: int | tuple[int, int] | None = None, use_sparse: bool = False,
                      filter: dict[str, Any] | None = None, explain: bool = False, task: str | None = None,
                      group_by_document: bool = False, group_size: int = 3) -> list[Hit]:
        """:meth:`search` without blocking the event loop.

        The query is encoded in a worker thread (a remote encoder's on its ``httpx.AsyncClient``); the
        engine query goes through the engine's async client where there is one (AsyncQdrantClient on
        Qdrant servers, AsyncMilvusClient on Milvus Lite and servers) and through a worker thread
        otherwise (qdrant-edge, qdrant local mode).
        """
        options = SearchOptions(
            limit=limit, fusion=fusion, weights=weights, rrf_k=rrf_k, prefetch_limit=prefetch_limit,
            use_sparse=use_sparse, filter=filter, explain=explain, task=task, group_by_document=group_by_document,
            group_size=group_size)
        lens = None  # a remote encoder's query vector comes from its AsyncClient, not a thread
        if getattr(self.encoder, "url", None) is not None and isinstance(query, str) and query.strip():
            lens = (await self.encoder.aencode_queries([query], task=task or self.task))[0]
        request = await asyncio.to_thread(self._prepare, query, options, lens)
        if request.group_size is None:
            return self._hits(await self.collection.aquery(request.vectors, **request.options), request)
        groups = await self.collection.aquery_groups(request.vectors, group_size=request.group_size,
                                                     **request.options)
        return self._groups(groups, request)

    def _prepare(self, query: str, options: SearchOptions, lens: Any = None) -> SearchRequest:
        """The checked request of a search of ``query`` (its task, when not given, the connector's; ``lens``: its
        LENS vector when the caller encoded it already)."""
        if not options.task and self.task:
            options = replace(options, task=self.task)
        return prepare(self.encoder, self.dense, self.spec, query, options, lens=lens)

    def _hits(self, stored: list[StoredHit], request: SearchRequest) -> list[Hit]:
        return [to_hit(s, request.vectors, encoder=self.encoder, sparse_top=self.spec.sparse_top,
                       explain=request.explain, query=request.query) for s in stored]

    def _groups(self, groups: list[list[StoredHit]], request: SearchRequest) -> list[Hit]:
        return [to_document_hit(self._hits(group, request), group[0].payload.get("parent") or group[0].id)
                for group in groups if group]

    def as_retriever(self, *, search_type: str = "similarity", search_kwargs: dict[str, Any] | None = None,
                     k: int | None = None, fusion: Fusion | None = None, weights: tuple[float, float] | None = None,
                     filter: dict[str, Any] | None = None, use_sparse: bool | None = None,
                     score_threshold: float | None = None, tags: list[str] | None = None,
                     metadata: dict[str, Any] | None = None) -> LensRetriever:
        """A LangChain retriever over this connector's hybrid search (needs ``lens-vdb[langchain]``).

        Takes LangChain's ``VectorStore.as_retriever`` arguments (``search_type="similarity"`` or
        ``"similarity_score_threshold"``, ``search_kwargs={"k": 4, "filter": {...}, "fusion": "rrf",
        "weights": (1, 1), "use_sparse": False, "score_threshold": x}``, ``tags``, ``metadata``) or the
        same search keywords flat. Defaults: ``k=4``, and the fusion :meth:`search` picks when none is given.
        """
        from lens_vdb.integrations.langchain import LensRetriever

        return LensRetriever.over(self, search_type=search_type, search_kwargs=search_kwargs, tags=tags,
                                  metadata=metadata, k=k, fusion=fusion, weights=weights, filter=filter,
                                  use_sparse=use_sparse, score_threshold=score_threshold)

    # ---- misc ------------------------------------------------------------------------------

    def count(self, *, filter: dict[str, Any] | None = None) -> int:
        """Documents stored in the collection (matching ``filter``); an error if it does not exist."""
        return self.collection.count(filter)

    def get(self, ids: Sequence[str]) -> list[Hit]:
        """Every stored chunk of these documents, by document then chunk (``score`` 0: there is no query)."""
        wanted = {doc_id: n for n, doc_id in enumerate(document_ids(ids))}
        stored = self.collection.points(list(wanted))
        hits = [to_hit(s, QueryVectors([], []), encoder=self.encoder, sparse_top=0, explain=False) for s in stored]
        return sorted(hits, key=lambda h: (wanted.get(h.doc_id or "", len(wanted)), h.chunk))

    def close(self) -> None:
        self.collection.close()

    def __enter__(self) -> LensConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

