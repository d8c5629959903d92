"""Qdrant servers and clusters through qdrant-client (REST or gRPC), and its local mode.

``location`` is a URL (``http://host:6333``), ``":memory:"``, or a folder for local mode: the
client's Python re-implementation, used in tests as the stand-in for the server code path.
The API key comes from the argument or ``QDRANT_API_KEY`` and is never logged.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from lens_vdb import LensConnectionError, LensSchemaError
from lens_vdb._deps import require

from ._base import DENSE, LENS, LENS_SPARSE, CollectionSpec, Record
from ._store import QueryVectors, StoredHit

__all__ = ["ClientStore"]


class ClientStore:
    """A LENS collection in a Qdrant server, cluster, or qdrant-client local mode."""

    def __init__(
        self, location: str, collection: str, *, api_key: str | None = None, prefer_grpc: bool = False,
        shard_number: int | None = None, replication_factor: int | None = None,
        write_consistency_factor: int | None = None, timeout: int = 30,
    ) -> None:
        qc = require("qdrant_client", "qdrant")
        self.models = qc.models
        self.collection = collection
        self.cluster = {"shard_number": shard_number, "replication_factor": replication_factor,
                        "write_consistency_factor": write_consistency_factor}
        self.remote = location.startswith(("http://", "https://"))
        self.async_client: Any = None
        if self.remote:
            key = api_key or os.environ.get("QDRANT_API_KEY")
            self.client = qc.QdrantClient(url=location, api_key=key, prefer_grpc=prefer_grpc, timeout=timeout)
            self.async_client = qc.AsyncQdrantClient(url=location, api_key=key, prefer_grpc=prefer_grpc,
                                                     timeout=timeout)
        elif location == ":memory:":
            self.client = qc.QdrantClient(location=":memory:")
        else:
            self.client = qc.QdrantClient(path=location)
        self._where = location if not self.remote else location.split("@")[-1]
        self.native_async = self.remote  # AsyncQdrantClient on servers; local mode allows one client per folder
        # Local mode keeps its points in one SQLite connection and dicts, neither safe to share between threads:
        # the ingest pipeline writes from a thread pool while the caller looks up ids, so calls take turns here.
        self._turn: AbstractContextManager = nullcontext() if self.remote else threading.Lock()

    def ensure(self, spec: CollectionSpec) -> None:
        try:
            with self._turn:
                exists = self.client.collection_exists(self.collection)
        except Exception as exc:
            raise LensConnectionError(f"Cannot reach Qdrant at {self._where}: {exc.__class__.__name__}: {exc}") from exc
        if exists:
            self._check(spec)
            return
        m = self.models
        quantization = (m.ScalarQuantization(scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, quantile=0.99))
                        if spec.int8 else None)
        datatype = m.Datatype.FLOAT16 if spec.float16 else None

        def params(size: int) -> Any:
            return m.VectorParams(size=size, distance=m.Distance.COSINE, on_disk=spec.on_disk or None,
                                  datatype=datatype, quantization_config=quantization)

        sparse = {LENS_SPARSE: m.SparseVectorParams()} if spec.sparse_top else None
        self.client.create_collection(
            self.collection, vectors_config={LENS: params(spec.k), DENSE: params(spec.dense_dim)},
            sparse_vectors_config=sparse, metadata={"lens_vdb": spec.to_json()},
            **{k: v for k, v in self.cluster.items() if v is not None},
        )

    def _check(self, spec: CollectionSpec) -> None:
        config = self.client.get_collection(self.collection).config
        spec.check_stored((getattr(config, "metadata", None) or {}).get("lens_vdb"),
                          collection=f"Qdrant collection {self.collection!r}",
                          remedy="Use another collection name, or delete this one to rebuild it.")
        params = config.params
        vectors = params.vectors if isinstance(params.vectors, dict) else {}
        sparse = params.sparse_vectors or {}
        found = {name: (v.size, str(v.distance)) for name, v in vectors.items()}
        wanted = {LENS: (spec.k, str(self.models.Distance.COSINE)), DENSE: (spec.dense_dim, str(self.models.Distance.COSINE))}
        if found != wanted or (LENS_SPARSE in sparse) != bool(spec.sparse_top):
            raise LensSchemaError(
                f"Qdrant collection {self.collection!r} has another schema: vectors {found}, sparse {sorted(sparse)}; "
                f"asked for vectors {wanted}, sparse {[LENS_SPARSE] if spec.sparse_top else []}. Use another "
                "collection name, or delete this one to rebuild it."
            )

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        with self._turn:
            found = self.client.retrieve(self.collection, list(ids), with_payload=False, with_vectors=False)
        return {str(p.id) for p in found}

    async def aexisting_ids(self, ids: Sequence[str]) -> set[str]:
        """:meth:`existing_ids` through AsyncQdrantClient (servers only)."""
        found = await self._async().retrieve(self.collection, list(ids), with_payload=False, with_vectors=False)
        return {str(p.id) for p in found}

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

    def _async(self) -> Any:
        if self.async_client is None:
            raise RuntimeError("the async forms are for Qdrant servers; local mode runs in a worker thread")
        return self.async_client

    def count(self) -> int:
        with self._turn:
            return int(self.client.count(self.collection, exact=True).count)

    def query(
        self, vectors: QueryVectors, *, limit: int, prefetch_limits: tuple[int, int], fusion: str, weights: tuple[float, float],
        rrf_k: int, lens_route: str, filter: dict[str, Any] | None,
    ) -> list[StoredHit]:
        request = self._query_request(vectors, limit, prefetch_limits, fusion, weights, rrf_k, lens_route, filter)
        with self._turn:
            return self._hits(self.client.query_points(self.collection, **request))

    async def aquery(self, vectors: QueryVectors, **options: Any) -> list[StoredHit]:
        """:meth:`query` through ``AsyncQdrantClient`` (servers only: local mode allows one client per folder)."""
        request = self._query_request(vectors, **options)
        return self._hits(await self._async().query_points(self.collection, **request))

    def _query_request(self, vectors: QueryVectors, limit: int, prefetch_limits: tuple[int, int], fusion: str,
                       weights: tuple[float, float], rrf_k: int, lens_route: str,
                       filter: dict[str, Any] | None) -> dict[str, Any]:
        m = self.models
        condition = self._filter(filter)
        lens_query: Any = (m.SparseVector(indices=vectors.sparse_indices, values=vectors.sparse_values)
                           if lens_route == LENS_SPARSE else vectors.lens)
        prefetch = [
            m.Prefetch(query=lens_query, using=lens_route, limit=prefetch_limits[0], filter=condition),
            m.Prefetch(query=vectors.dense, using=DENSE, limit=prefetch_limits[1], filter=condition),
        ]
        return {"prefetch": prefetch, "query": self._fusion(fusion, weights, rrf_k), "query_filter": condition,
                "limit": limit, "with_payload": True, "with_vectors": [LENS, DENSE]}

    @staticmethod
    def _hits(response: Any) -> list[StoredHit]:
        return [StoredHit(str(p.id), float(p.score), dict(p.payload or {}), (p.vector or {}).get(LENS),
                          (p.vector or {}).get(DENSE)) for p in response.points]

    def _fusion(self, fusion: str, weights: tuple[float, float], rrf_k: int) -> Any:
        m = self.models
        if fusion == "rrf":
            # Qdrant ranks from 0; k + 1 gives the usual 1 / (k + rank) with ranks from 1, as Milvus does
            return m.RrfQuery(rrf=m.Rrf(k=rrf_k + 1, weights=list(weights)))
        if fusion == "dbsf":
            return m.FusionQuery(fusion=m.Fusion.DBSF)
        terms = [m.MultExpression(mult=[w, f"$score[{i}]"]) for i, w in enumerate(weights)]
        return m.FormulaQuery(formula=m.SumExpression(sum=terms), defaults={"$score[0]": 0.0, "$score[1]": 0.0})

    def _filter(self, filter: dict[str, Any] | None) -> Any:
        if not filter:
            return None
        m = self.models
        must = []
        for key, value in filter.items():
            match = (m.MatchAny(any=list(value)) if isinstance(value, (list, tuple, set)) else m.MatchValue(value=value))
            must.append(m.FieldCondition(key=f"metadata.{key}", match=match))
        return m.Filter(must=must)

    def is_transient(self, error: BaseException) -> bool:
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        if isinstance(error, UnexpectedResponse):
            return error.status_code in (429, 500, 502, 503, 504)
        return isinstance(error, (ResponseHandlingException, ConnectionError, TimeoutError)) or (
            error.__class__.__name__ in ("_InactiveRpcError", "AioRpcError")
        )

    def close(self) -> None:
        self.client.close()
        if self.async_client is not None:
            # AsyncQdrantClient.close is a coroutine; its HTTP pool is freed with the object otherwise
            self.async_client = None
