"""The Milvus store: Milvus Lite (``file.db``, the embedded default) and Milvus servers or clusters by URI.

Schema: VARCHAR primary key ``id``, ``doc_id``, ``parent``, INT64 ``chunk`` and ``chunks``, JSON
``span``, ``text``, JSON ``metadata``, ``text_hash``, ``model_hash``, FLOAT_VECTOR ``lens`` (k dims)
and ``dense``, optional SPARSE_FLOAT_VECTOR ``lens_sparse``. Filters go on every
``AnnSearchRequest``: a top-level filter on ``hybrid_search`` is silently ignored by Milvus Lite.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lens_vdb import LensConnectionError, LensInputError, LensSchemaError
from lens_vdb._deps import require
from lens_vdb._vocabulary import Fusion

from .._base import DENSE, LENS, LENS_SPARSE, CollectionSpec, Record
from .._store import HEAD_FIELDS, QueryVectors, StoredHit, StoreRecipe, group_hits
from . import rows as milvus_rows
from .rows import MAX_DIM, MAX_ROWS, MAX_TEXT_BYTES, OUTPUT_FIELDS, PAYLOAD_FIELDS, SPEC_PROPERTY

__all__ = ["MilvusStore", "GRPC_OPTIONS"]

# pymilvus pings idle connections every 10 s; Milvus Lite's gRPC server (embedded, or `python -m milvus_lite
# server`) keeps gRPC's default ping policy and answers with GOAWAY too_many_pings, after which no client of
# that process reconnects ("Fail connecting to server"): measured with a client closed, 40 s idle, and a new
# one. Idle connections are not pinged; pymilvus health-checks a connection when it is used again.
GRPC_OPTIONS = {"grpc.keepalive_permit_without_calls": False}


class MilvusStore:
    """A LENS collection in Milvus Lite or a Milvus server."""

    native_async = True  # asearch and aingest go through AsyncMilvusClient (Milvus Lite and servers alike)
    fusions: tuple[Fusion, ...] = ("rrf", "weighted")  # Milvus has no DBSF

    def __init__(self, uri: str, collection: str, *, token: str | None = None, shards: int | None = None,
                 consistency_level: str = "Strong", index_type: str | dict[str, str] | None = None,
                 timeout: float = 30, norm_score: bool = False) -> None:
        self.pm = require("pymilvus", "milvus")
        self.collection = self.name = collection
        self.uri, self.timeout, self.norm_score = uri, timeout, norm_score
        self.token = token or os.environ.get("MILVUS_TOKEN", "")
        self._async: tuple[Any, Any] | None = None
        self.remote = uri.startswith(("http://", "https://", "tcp://", "grpc://"))
        self.index_types = milvus_rows.index_types(index_type, milvus_rows.DEFAULT_INDEX["server" if self.remote else "lite"])
        self.shards, self.consistency_level = shards, consistency_level
        self._where = uri.split("@")[-1]
        self.where = f"Milvus collection {collection!r} at {self._where}"
        self._client: Any = None
        self.recipe = StoreRecipe(MilvusStore, (uri, collection), {
            "token": self.token, "shards": shards, "consistency_level": consistency_level, "index_type": index_type,
            "timeout": timeout, "norm_score": norm_score}) if self.remote else None
        if self.remote or Path(uri).exists():  # a Milvus Lite file that is not there yet is made by the first write
            self._client = self._connect()

    def _connect(self) -> Any:
        try:
            return self.pm.MilvusClient(uri=self.uri, token=self.token, timeout=self.timeout, grpc_options=GRPC_OPTIONS)
        except Exception as exc:
            if not self.remote and milvus_rows.locked(Path(self.uri)):
                raise LensConnectionError(
                    f"The Milvus Lite database {self.uri} is open in another process: it holds {self.uri}/LOCK. "
                    "Close that process first, or run a Milvus server (or `python -m milvus_lite server`) and "
                    "connect every process to it by URI.") from exc
            raise LensConnectionError(f"Cannot reach Milvus at {self._where}: {exc.__class__.__name__}: {exc}") from exc

    @property
    def client(self) -> Any:
        if self._client is None:
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
            self._client = self._connect()
        return self._client

    # ---- schema ----------------------------------------------------------------------------

    def stored_spec(self) -> dict[str, Any] | None:
        if self._client is None and not Path(self.uri).exists():
            return None  # a Milvus Lite file not made yet (by this process or another): nothing to open
        try:
            if not self.client.has_collection(self.collection):
                return None
        except Exception as exc:
            raise LensConnectionError(f"Cannot reach Milvus at {self._where}: {exc.__class__.__name__}: {exc}") from exc
        described = self.client.describe_collection(self.collection)
        return milvus_rows.stored_spec((described.get("properties") or {}).get(SPEC_PROPERTY)) or {}

    def _check_options(self, spec: CollectionSpec) -> None:
        for name, dim in ((LENS, spec.k), (DENSE, spec.dense_dim)):
            if dim > MAX_DIM:
                raise LensInputError(f"Milvus vectors have at most {MAX_DIM} dims; {name} would have {dim}.")
        if spec.float16 or spec.int8 or spec.on_disk:
            raise LensInputError("float16, int8 and on_disk are Qdrant storage options; on Milvus choose the index "
                                 "with index_type (e.g. 'IVF_SQ8' on a server for int8-style compression).")

    def create(self, spec: CollectionSpec) -> None:
        self._check_options(spec)
        DataType = self.pm.DataType
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=1024, nullable=True)
        schema.add_field("parent", DataType.VARCHAR, max_length=64)
        schema.add_field("chunk", DataType.INT64)
        schema.add_field("chunks", DataType.INT64)
        schema.add_field("span", DataType.JSON)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        schema.add_field("metadata", DataType.JSON)
        schema.add_field("text_hash", DataType.VARCHAR, max_length=64)
        schema.add_field("model_hash", DataType.VARCHAR, max_length=64)
        schema.add_field(LENS, DataType.FLOAT_VECTOR, dim=spec.k)
        schema.add_field(DENSE, DataType.FLOAT_VECTOR, dim=spec.dense_dim)
        index = self.client.prepare_index_params()
        for name in (LENS, DENSE):
            index.add_index(name, index_type=self.index_types[name], metric_type="COSINE")
        if spec.sparse_top:
            schema.add_field(LENS_SPARSE, DataType.SPARSE_FLOAT_VECTOR)
            index.add_index(LENS_SPARSE, index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        options = {"num_shards": self.shards} if self.shards else {}
        # the spec travels as a collection property, so that reopening the collection can check it
        # (Milvus Lite keeps properties but drops descriptions)
        self.client.create_collection(self.collection, schema=schema, index_params=index,
                                      consistency_level=self.consistency_level,
                                      properties={SPEC_PROPERTY: json.dumps(spec.to_json())}, **options)

    def open(self, spec: CollectionSpec) -> None:
        self._check_options(spec)
        fields = {f["name"]: f for f in self.client.describe_collection(self.collection)["fields"]}
        found = {name: fields[name].get("params", {}).get("dim") for name in (LENS, DENSE) if name in fields}
        wanted = {LENS: spec.k, DENSE: spec.dense_dim}
        if found != wanted or (LENS_SPARSE in fields) != bool(spec.sparse_top) or "text" not in fields:
            raise LensSchemaError(
                f"{self.where} has another schema: vectors {found}, sparse {LENS_SPARSE in fields}; asked for "
                f"{wanted}, sparse {bool(spec.sparse_top)}. Use another collection name, or drop this one to rebuild it."
            )
        if not {"parent", "chunk", "text_hash"} <= set(fields):
            raise LensSchemaError(f"{self.where} was made by an older lens-vdb, without the parent, chunk and hash "
                                  "fields that chunking, updates and deletes need; drop it and ingest again.")
        self.client.load_collection(self.collection)  # a reopened collection starts released

    # ---- data ------------------------------------------------------------------------------

    def heads(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        rows = self.client.get(self.collection, ids=list(keys), output_fields=["id", *HEAD_FIELDS])
        return {row["id"]: {f: row.get(f) for f in HEAD_FIELDS} for row in rows}

    async def aheads(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """:meth:`heads` through AsyncMilvusClient."""
        rows = await self._async_client().get(self.collection, ids=list(keys), output_fields=["id", *HEAD_FIELDS])
        return {row["id"]: {f: row.get(f) for f in HEAD_FIELDS} for row in rows}

    def upsert(self, records: Sequence[Record]) -> None:
        for rows in milvus_rows.messages(records):
            self.client.upsert(self.collection, rows)

    async def aupsert(self, records: Sequence[Record]) -> None:
        """:meth:`upsert` through AsyncMilvusClient."""
        for rows in milvus_rows.messages(records):
            await self._async_client().upsert(self.collection, rows)

    def delete_ids(self, ids: Sequence[str]) -> None:
        if ids:
            self.client.delete(self.collection, ids=list(ids))

    def delete_chunks(self, chunks: Mapping[str, int]) -> None:
        if chunks:
            self.client.delete(self.collection, filter=milvus_rows.chunks_expr(chunks))

    async def adelete_chunks(self, chunks: Mapping[str, int]) -> None:
        """:meth:`delete_chunks` through AsyncMilvusClient."""
        if chunks:
            await self._async_client().delete(self.collection, filter=milvus_rows.chunks_expr(chunks))

    def delete_matching(self, filter: dict[str, Any], *, heads_only: bool) -> None:
        expr = milvus_rows.where(filter, heads_only)
        if not expr:
            raise LensInputError("a delete needs a filter: pass filter={field: value} (or ids=[...]) to delete")
        self.client.delete(self.collection, filter=expr)

    def count(self, filter: dict[str, Any] | None = None, *, heads_only: bool = True) -> int:
        rows = self.client.query(self.collection, filter=milvus_rows.where(filter, heads_only), output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def points(self, keys: Sequence[str]) -> list[StoredHit]:
        rows = self.client.query(self.collection, filter=f"parent in {json.dumps(list(keys))}", limit=MAX_ROWS,
                                 output_fields=["id", *PAYLOAD_FIELDS])
        return [StoredHit(row["id"], 0.0, {f: row.get(f) for f in PAYLOAD_FIELDS}, None, None) for row in rows]

    # ---- search ----------------------------------------------------------------------------

    def query(self, vectors: QueryVectors, **options: Any) -> list[StoredHit]:
        requests, ranker, limit = self._search_request(vectors, **options)
        result = self.client.hybrid_search(self.collection, requests, ranker, limit=limit, output_fields=OUTPUT_FIELDS)
        return self._hits(result)

    async def aquery(self, vectors: QueryVectors, **options: Any) -> list[StoredHit]:
        requests, ranker, limit = self._search_request(vectors, **options)
        result = await self._async_client().hybrid_search(self.collection, requests, ranker, limit=limit,
                                                          output_fields=OUTPUT_FIELDS)
        return self._hits(result)

    def query_groups(self, vectors: QueryVectors, *, group_size: int, **options: Any) -> list[list[StoredHit]]:
        """Milvus' ``group_by_field`` on ``parent``: the fused hybrid search, grouped by the engine."""
        requests, ranker, limit = self._search_request(vectors, **options)
        result = self.client.hybrid_search(self.collection, requests, ranker, limit=limit, output_fields=OUTPUT_FIELDS,
                                           group_by_field="parent", group_size=group_size, strict_group_size=False)
        return group_hits(self._hits(result), limit, group_size)

    async def aquery_groups(self, vectors: QueryVectors, *, group_size: int, **options: Any) -> list[list[StoredHit]]:
        """:meth:`query_groups` through AsyncMilvusClient."""
        requests, ranker, limit = self._search_request(vectors, **options)
        result = await self._async_client().hybrid_search(
            self.collection, requests, ranker, limit=limit, output_fields=OUTPUT_FIELDS, group_by_field="parent",
            group_size=group_size, strict_group_size=False)
        return group_hits(self._hits(result), limit, group_size)

    def _async_client(self) -> Any:
        """One AsyncMilvusClient per event loop (a client is bound to the loop it was made in)."""
        import asyncio

        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            client = self.pm.AsyncMilvusClient(uri=self.uri, token=self.token, timeout=self.timeout,
                                               grpc_options=GRPC_OPTIONS)
            self._async = (loop, client)
        return self._async[1]

    def _search_request(
        self, vectors: QueryVectors, *, limit: int, prefetch_limits: tuple[int, int], fusion: Fusion, weights: tuple[float, float],
        rrf_k: int, lens_route: str, filter: dict[str, Any] | None,
    ) -> tuple[list[Any], Any, int]:
        pm = self.pm
        expr = milvus_rows.where(filter, heads_only=False)
        if lens_route == LENS_SPARSE:
            assert vectors.sparse_indices is not None and vectors.sparse_values is not None, "a sparse query"
            lens_request = pm.AnnSearchRequest(data=[dict(zip(vectors.sparse_indices, vectors.sparse_values))],
                                               anns_field=LENS_SPARSE, param={"metric_type": "IP"},
                                               limit=prefetch_limits[0], expr=expr)
        else:
            lens_request = pm.AnnSearchRequest(data=[vectors.lens], anns_field=LENS, param={"metric_type": "COSINE"},
                                               limit=prefetch_limits[0], expr=expr)
        dense_request = pm.AnnSearchRequest(data=[vectors.dense], anns_field=DENSE, param={"metric_type": "COSINE"},
                                            limit=prefetch_limits[1], expr=expr)
        if fusion == "dbsf":
            raise LensInputError("Milvus has no DBSF fusion; use fusion='rrf' or 'weighted'.")
        if fusion == "rrf":
            if tuple(weights) != (1.0, 1.0):
                raise LensInputError("Milvus' RRFRanker takes no weights; use fusion='weighted' to weight the routes.")
            ranker = pm.RRFRanker(rrf_k)
        else:
            ranker = pm.WeightedRanker(*weights, norm_score=self.norm_score)
        return [lens_request, dense_request], ranker, limit

    @staticmethod
    def _hits(result: Any) -> list[StoredHit]:
        hits = []
        for row in result[0]:
            entity = row["entity"]
            payload = {f: entity.get(f) for f in PAYLOAD_FIELDS}
            hits.append(StoredHit(str(row["id"]), float(row["distance"]), payload, entity.get(LENS), entity.get(DENSE)))
        return hits

    def is_transient(self, error: BaseException) -> bool:
        text = f"{error.__class__.__name__} {error}"
        # "no index on collection": a restarted server still building a collection's index another client created
        return any(mark in text for mark in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "Connection refused",
                                             "connect", "Fail connecting", "RpcError", "no index on collection"))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._async = None
