"""Qdrant servers and clusters through qdrant-client (REST or gRPC), and its local mode.

``location`` is a URL (``http://host:6333``), ``":memory:"``, or a folder for local mode: the
client's Python re-implementation, used in tests as the stand-in for the server code path.
The API key comes from the argument or ``QDRANT_API_KEY`` and is never logged.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from lens_vdb import LensConnectionError, LensError, LensInputError, LensSchemaError
from lens_vdb._deps import require
from lens_vdb._vocabulary import FUSIONS, Fusion

from .._base import DENSE, LENS, LENS_SPARSE, CollectionSpec, Record
from .._store import HEAD_FIELDS, QueryVectors, StoredHit, StoreRecipe
from .filters import QdrantFilters

__all__ = ["ClientStore"]


class ClientStore(QdrantFilters):
    """A LENS collection in a Qdrant server, cluster, or qdrant-client local mode."""

    fusions: tuple[Fusion, ...] = FUSIONS

    def __init__(
        self, location: str, collection: str, *, api_key: str | None = None, prefer_grpc: bool = False,
        shard_number: int | None = None, replication_factor: int | None = None,
        write_consistency_factor: int | None = None, timeout: int = 30,
    ) -> None:
        qc = require("qdrant_client", "qdrant")
        self.qc, self.models = qc, qc.models
        self.collection, self.location = collection, location
        self.name = collection
        self.cluster = {"shard_number": shard_number, "replication_factor": replication_factor,
                        "write_consistency_factor": write_consistency_factor}
        self.remote = location.startswith(("http://", "https://"))
        key = api_key or os.environ.get("QDRANT_API_KEY")
        self.recipe = StoreRecipe(ClientStore, (location, collection), {
            "api_key": key, "prefer_grpc": prefer_grpc, "timeout": timeout, **self.cluster}) if self.remote else None
        self.async_client: Any = None
        self._client: Any = None
        if self.remote:
            self._client = qc.QdrantClient(url=location, api_key=key, prefer_grpc=prefer_grpc, timeout=timeout)
            self.async_client = qc.AsyncQdrantClient(url=location, api_key=key, prefer_grpc=prefer_grpc,
                                                     timeout=timeout)
        elif location == ":memory:":
            self._client = qc.QdrantClient(location=":memory:")
        self.where = f"Qdrant collection {collection!r} at {location.split('@')[-1]}"
        self.native_async = self.remote  # AsyncQdrantClient on servers; local mode allows one client per folder
        # Local mode keeps its points in one SQLite connection and dicts, neither safe to share between threads:
        # the ingest pipeline writes from a thread pool while the caller looks up ids, so calls take turns here.
        self._turn: AbstractContextManager = nullcontext() if self.remote else threading.Lock()

    @property
    def client(self) -> Any:
        """The client; local mode opens its folder on first use (a search on a missing one creates nothing)."""
        if self._client is None:
            try:
                self._client = self.qc.QdrantClient(path=self.location)
            except RuntimeError as exc:
                if "already accessed" not in str(exc):
                    raise
                raise LensConnectionError(
                    f"The local Qdrant folder {self.location} is locked: another process (or another connector in "
                    "this one) has it open. Close it first, or use a Qdrant server to share a collection.") from exc
        return self._client

    # ---- schema ----------------------------------------------------------------------------

    def stored_spec(self) -> dict[str, Any] | None:
        if self._client is None and not (Path(self.location) / "meta.json").is_file():
            return None  # local mode, and no folder made by qdrant-client there: nothing to open
        try:
            with self._turn:
                if not self.client.collection_exists(self.collection):
                    return None
                config = self.client.get_collection(self.collection).config
        except LensConnectionError:
            raise
        except Exception as exc:
            raise LensConnectionError(f"Cannot reach Qdrant at {self.location.split('@')[-1]}: "
                                      f"{exc.__class__.__name__}: {exc}") from exc
        return dict((getattr(config, "metadata", None) or {}).get("lens_vdb") or {})

    def create(self, spec: CollectionSpec) -> None:
        m = self.models
        quantization = (m.ScalarQuantization(scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, quantile=0.99))
                        if spec.int8 else None)
        datatype = m.Datatype.FLOAT16 if spec.float16 else None

        def params(size: int) -> Any:
            return m.VectorParams(size=size, distance=m.Distance.COSINE, on_disk=spec.on_disk or None,
                                  datatype=datatype, quantization_config=quantization)

        sparse = {LENS_SPARSE: m.SparseVectorParams()} if spec.sparse_top else None
        with self._turn:
            self.client.create_collection(
                self.collection, vectors_config={LENS: params(spec.k), DENSE: params(spec.dense_dim)},
                sparse_vectors_config=sparse, metadata={"lens_vdb": spec.to_json()},
                **{k: v for k, v in self.cluster.items() if v is not None},
            )
            if self.remote:  # local mode has no payload indexes (it warns and ignores them)
                self.client.create_payload_index(self.collection, "parent", m.PayloadSchemaType.KEYWORD, wait=True)
                self.client.create_payload_index(self.collection, "chunk", m.PayloadSchemaType.INTEGER, wait=True)

    def open(self, spec: CollectionSpec) -> None:
        with self._turn:
            params = self.client.get_collection(self.collection).config.params
        vectors = params.vectors if isinstance(params.vectors, dict) else {}
        sparse = params.sparse_vectors or {}
        found = {name: (v.size, str(v.distance)) for name, v in vectors.items()}
        cosine = str(self.models.Distance.COSINE)
        wanted = {LENS: (spec.k, cosine), DENSE: (spec.dense_dim, cosine)}
        if found != wanted or (LENS_SPARSE in sparse) != bool(spec.sparse_top):
            raise LensSchemaError(
                f"{self.where} has another schema: vectors {found}, sparse {sorted(sparse)}; asked for vectors "
                f"{wanted}, sparse {[LENS_SPARSE] if spec.sparse_top else []}. Use another collection name, or "
                "delete this one to rebuild it."
            )

    # ---- data ------------------------------------------------------------------------------

    def heads(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self._turn:
            found = self.client.retrieve(self.collection, list(keys), with_payload=list(HEAD_FIELDS), with_vectors=False)
        return {str(p.id): dict(p.payload or {}) for p in found}

    async def aheads(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """:meth:`heads` through AsyncQdrantClient (servers only)."""
        found = await self._async().retrieve(self.collection, list(keys), with_payload=list(HEAD_FIELDS),
                                             with_vectors=False)
        return {str(p.id): dict(p.payload or {}) for p in found}

    def upsert(self, records: Sequence[Record]) -> None:
        points = self._points(records)
        with self._turn:
            self.client.upsert(self.collection, points, wait=True)

    async def aupsert(self, records: Sequence[Record]) -> None:
        """:meth:`upsert` through AsyncQdrantClient (servers only)."""
        await self._async().upsert(self.collection, self._points(records), wait=True)

    def _points(self, records: Sequence[Record]) -> list[Any]:
        m = self.models
        points = []
        for record in records:
            vector: dict[str, Any] = {LENS: record.lens, DENSE: record.dense}
            if record.sparse_indices is not None:
                vector[LENS_SPARSE] = m.SparseVector(indices=record.sparse_indices, values=record.sparse_values)
            points.append(m.PointStruct(id=record.id, vector=vector, payload=record.payload))
        return points

    def delete_ids(self, ids: Sequence[str]) -> None:
        with self._turn:
            self.client.delete(self.collection, points_selector=self.models.PointIdsList(points=list(ids)), wait=True)

    def delete_chunks(self, chunks: Mapping[str, int]) -> None:
        if chunks:
            self._delete(self.chunks_filter(chunks))

    async def adelete_chunks(self, chunks: Mapping[str, int]) -> None:
        """:meth:`delete_chunks` through AsyncQdrantClient (servers only)."""
        if chunks:
            selector = self.models.FilterSelector(filter=self.chunks_filter(chunks))
            await self._async().delete(self.collection, points_selector=selector, wait=True)

    def delete_matching(self, filter: dict[str, Any], *, heads_only: bool) -> None:
        self._delete(self.metadata_filter(filter, heads_only=heads_only))

    def _delete(self, condition: Any) -> None:
        if condition is None:
            raise LensInputError("a delete needs a filter: pass filter={field: value} (or ids=[...]) to delete")
        with self._turn:
            self.client.delete(self.collection, points_selector=self.models.FilterSelector(filter=condition), wait=True)

    def count(self, filter: dict[str, Any] | None = None, *, heads_only: bool = True) -> int:
        with self._turn:
            return int(self.client.count(self.collection, count_filter=self.metadata_filter(filter, heads_only=heads_only),
                                         exact=True).count)

    def points(self, keys: Sequence[str]) -> list[StoredHit]:
        condition, out, offset = self.parents_filter(keys), [], None
        while True:
            with self._turn:
                found, offset = self.client.scroll(self.collection, scroll_filter=condition, limit=256, offset=offset,
                                                   with_payload=True, with_vectors=False)
            out += [StoredHit(str(p.id), 0.0, dict(p.payload or {}), None, None) for p in found]
            if offset is None:
                return out

    def _async(self) -> Any:
        if self.async_client is None:
            raise LensError("the async client is for Qdrant servers (a URL); in local mode, or after close(), the "
                            "store has none and its calls run in a worker thread")
        return self.async_client

    # ---- search ----------------------------------------------------------------------------

    def query(self, vectors: QueryVectors, **options: Any) -> list[StoredHit]:
        request = self._query_request(vectors, **options)
        with self._turn:
            return self._hits(self.client.query_points(self.collection, **request).points)

    async def aquery(self, vectors: QueryVectors, **options: Any) -> list[StoredHit]:
        """:meth:`query` through ``AsyncQdrantClient`` (servers only: local mode allows one client per folder)."""
        request = self._query_request(vectors, **options)
        return self._hits((await self._async().query_points(self.collection, **request)).points)

    def query_groups(self, vectors: QueryVectors, *, group_size: int, **options: Any) -> list[list[StoredHit]]:
        """Qdrant's query groups: the fused query, grouped by ``parent`` by the engine."""
        request = self._query_request(vectors, **options)
        with self._turn:
            result = self.client.query_points_groups(self.collection, group_by="parent", group_size=group_size,
                                                     **request)
        return [self._hits(group.hits) for group in result.groups]

    async def aquery_groups(self, vectors: QueryVectors, *, group_size: int, **options: Any) -> list[list[StoredHit]]:
        """:meth:`query_groups` through ``AsyncQdrantClient`` (servers only)."""
        request = self._query_request(vectors, **options)
        result = await self._async().query_points_groups(self.collection, group_by="parent", group_size=group_size,
                                                         **request)
        return [self._hits(group.hits) for group in result.groups]

    def _query_request(self, vectors: QueryVectors, limit: int, prefetch_limits: tuple[int, int], fusion: Fusion,
                       weights: tuple[float, float], rrf_k: int, lens_route: str,
                       filter: dict[str, Any] | None) -> dict[str, Any]:
        m = self.models
        condition = self.metadata_filter(filter)
        lens_query: Any = (m.SparseVector(indices=vectors.sparse_indices, values=vectors.sparse_values)
                           if lens_route == LENS_SPARSE else vectors.lens)
        prefetch = [
            m.Prefetch(query=lens_query, using=lens_route, limit=prefetch_limits[0], filter=condition),
            m.Prefetch(query=vectors.dense, using=DENSE, limit=prefetch_limits[1], filter=condition),
        ]
        return {"prefetch": prefetch, "query": self._fusion(fusion, weights, rrf_k), "query_filter": condition,
                "limit": limit, "with_payload": True, "with_vectors": [LENS, DENSE]}

    @staticmethod
    def _hits(points: Any) -> list[StoredHit]:
        return [StoredHit(str(p.id), float(p.score), dict(p.payload or {}), (p.vector or {}).get(LENS),
                          (p.vector or {}).get(DENSE)) for p in points]

    def _fusion(self, fusion: Fusion, weights: tuple[float, float], rrf_k: int) -> Any:
        m = self.models
        if fusion == "rrf":
            # Qdrant ranks from 0; k + 1 gives the usual 1 / (k + rank) with ranks from 1, as Milvus does
            return m.RrfQuery(rrf=m.Rrf(k=rrf_k + 1, weights=list(weights)))
        if fusion == "dbsf":
            return m.FusionQuery(fusion=m.Fusion.DBSF)
        terms = [m.MultExpression(mult=[w, f"$score[{i}]"]) for i, w in enumerate(weights)]
        return m.FormulaQuery(formula=m.SumExpression(sum=terms), defaults={"$score[0]": 0.0, "$score[1]": 0.0})

    # ---- filters (QdrantFilters builds them from these) ------------------------------------

    def _condition(self, key: str, value: Any = None, *, any_of: list | None = None, at_least: int | None = None) -> Any:
        m = self.models
        if at_least is not None:
            return m.FieldCondition(key=key, range=m.Range(gte=at_least))
        return m.FieldCondition(key=key, match=m.MatchAny(any=any_of) if any_of is not None else m.MatchValue(value=value))

    def _filter(self, must: list | None = None, should: list | None = None, must_not: list | None = None) -> Any:
        return self.models.Filter(must=must or None, should=should or None, must_not=must_not or None)

    def is_transient(self, error: BaseException) -> bool:
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        if isinstance(error, UnexpectedResponse):
            return error.status_code in (429, 500, 502, 503, 504)
        return isinstance(error, (ResponseHandlingException, ConnectionError, TimeoutError)) or (
            error.__class__.__name__ in ("_InactiveRpcError", "AioRpcError")
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self.async_client is not None:
            # AsyncQdrantClient.close is a coroutine; its HTTP pool is freed with the object otherwise
            self.async_client = None
