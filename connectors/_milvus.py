"""Milvus: Milvus Lite (``file.db``, the embedded default) and Milvus servers or clusters by URI.

Schema: VARCHAR primary key ``id``, ``doc_id``, ``text``, JSON ``metadata``, FLOAT_VECTOR ``lens``
(k dims) and ``dense``, optional SPARSE_FLOAT_VECTOR ``lens_sparse``. Filters go on every
``AnnSearchRequest``: a top-level filter on ``hybrid_search`` is silently ignored by Milvus Lite.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from lens_vdb import LensConnectionError, LensEncoder, LensInputError, LensSchemaError
from lens_vdb._deps import require

from ._base import DENSE, LENS, LENS_SPARSE, CollectionSpec, Record
from ._connector import LensConnector
from ._store import QueryVectors, StoredHit

__all__ = ["MilvusConnector", "MilvusStore"]

MAX_DIM = 32768  # Milvus servers refuse more; Milvus Lite accepts it, so lens-vdb enforces it
MAX_TEXT_BYTES = 65535
MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # inserts are chunked well under the 64 MB gRPC cap
DEFAULT_INDEX = {"lite": "FLAT", "server": "AUTOINDEX"}
OUTPUT_FIELDS = ["doc_id", "text", "metadata", LENS, DENSE]
SPEC_PROPERTY = "lens_vdb.collection_spec"


class MilvusStore:
    """A LENS collection in Milvus Lite or a Milvus server."""

    def __init__(self, uri: str, collection: str, *, token: str | None = None, shards: int | None = None,
                 consistency_level: str = "Strong", index_type: str | dict[str, str] | None = None,
                 timeout: float = 30,
                 norm_score: bool = False) -> None:
        pymilvus = require("pymilvus", "milvus")
        self.pm = pymilvus
        self.collection = collection
        self.uri, self.timeout, self.norm_score = uri, timeout, norm_score
        self.token = token or os.environ.get("MILVUS_TOKEN", "")
        self._async: tuple[Any, Any] | None = None
        self.remote = uri.startswith(("http://", "https://", "tcp://", "grpc://"))
        self.index_types = _index_types(index_type, DEFAULT_INDEX["server" if self.remote else "lite"])
        self.shards, self.consistency_level = shards, consistency_level
        self._where = uri.split("@")[-1]
        try:
            self.client = pymilvus.MilvusClient(uri=uri, token=self.token, timeout=timeout)
        except Exception as exc:
            raise LensConnectionError(f"Cannot reach Milvus at {self._where}: {exc.__class__.__name__}: {exc}") from exc

    def ensure(self, spec: CollectionSpec) -> None:
        for name, dim in ((LENS, spec.k), (DENSE, spec.dense_dim)):
            if dim > MAX_DIM:
                raise LensInputError(f"Milvus vectors have at most {MAX_DIM} dims; {name} would have {dim}.")
        if spec.float16 or spec.int8 or spec.on_disk:
            raise LensInputError("float16, int8 and on_disk are Qdrant storage options; on Milvus choose the index "
                                 "with index_type (e.g. 'IVF_SQ8' on a server for int8-style compression).")
        try:
            exists = self.client.has_collection(self.collection)
        except Exception as exc:
            raise LensConnectionError(f"Cannot reach Milvus at {self._where}: {exc.__class__.__name__}: {exc}") from exc
        if exists:
            self._check(spec)
            self.client.load_collection(self.collection)  # a reopened collection starts released
            return
        DataType = self.pm.DataType
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=1024, nullable=True)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        schema.add_field("metadata", DataType.JSON)
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

    def _check(self, spec: CollectionSpec) -> None:
        described = self.client.describe_collection(self.collection)
        spec.check_stored(_stored_spec((described.get("properties") or {}).get(SPEC_PROPERTY)),
                          collection=f"Milvus collection {self.collection!r}",
                          remedy="Use another collection name, or drop this one to rebuild it.")
        fields = {f["name"]: f for f in described["fields"]}
        found = {name: fields[name].get("params", {}).get("dim") for name in (LENS, DENSE) if name in fields}
        wanted = {LENS: spec.k, DENSE: spec.dense_dim}
        if found != wanted or (LENS_SPARSE in fields) != bool(spec.sparse_top) or "text" not in fields:
            raise LensSchemaError(
                f"Milvus collection {self.collection!r} has another schema: vectors {found}, sparse "
                f"{LENS_SPARSE in fields}; asked for {wanted}, sparse {bool(spec.sparse_top)}. Use another "
                "collection name, or drop this one to rebuild it."
            )

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        return {row["id"] for row in self.client.get(self.collection, ids=list(ids), output_fields=["id"])}

    async def aexisting_ids(self, ids: Sequence[str]) -> set[str]:
        """:meth:`existing_ids` through AsyncMilvusClient."""
        rows = await self._async_client().get(self.collection, ids=list(ids), output_fields=["id"])
        return {row["id"] for row in rows}

    def upsert(self, records: Sequence[Record]) -> None:
        for rows in _messages(records):
            self.client.upsert(self.collection, rows)

    async def aupsert(self, records: Sequence[Record]) -> None:
        """:meth:`upsert` through AsyncMilvusClient."""
        for rows in _messages(records):
            await self._async_client().upsert(self.collection, rows)

    def count(self) -> int:
        return int(self.client.query(self.collection, filter="", output_fields=["count(*)"])[0]["count(*)"])

    native_async = True  # asearch goes through AsyncMilvusClient (Milvus Lite and servers alike)

    def query(self, vectors: QueryVectors, **options: Any) -> list[StoredHit]:
        requests, ranker, limit = self._search_request(vectors, **options)
        result = self.client.hybrid_search(self.collection, requests, ranker, limit=limit, output_fields=OUTPUT_FIELDS)
        return self._hits(result)

    async def aquery(self, vectors: QueryVectors, **options: Any) -> list[StoredHit]:
        requests, ranker, limit = self._search_request(vectors, **options)
        result = await self._async_client().hybrid_search(self.collection, requests, ranker, limit=limit,
                                                          output_fields=OUTPUT_FIELDS)
        return self._hits(result)

    def _async_client(self) -> Any:
        """One AsyncMilvusClient per event loop (a client is bound to the loop it was made in)."""
        import asyncio

        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            self._async = (loop, self.pm.AsyncMilvusClient(uri=self.uri, token=self.token, timeout=self.timeout))
        return self._async[1]

    def _search_request(
        self, vectors: QueryVectors, *, limit: int, prefetch_limits: tuple[int, int], fusion: str, weights: tuple[float, float],
        rrf_k: int, lens_route: str, filter: dict[str, Any] | None,
    ) -> tuple[list[Any], Any, int]:
        pm = self.pm
        expr = self._filter(filter)
        if lens_route == LENS_SPARSE:
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
            payload = {"doc_id": entity.get("doc_id"), "text": entity.get("text"), "metadata": entity.get("metadata")}
            hits.append(StoredHit(str(row["id"]), float(row["distance"]), payload, entity.get(LENS), entity.get(DENSE)))
        return hits

    @staticmethod
    def _filter(filter: dict[str, Any] | None) -> str:
        clauses = []
        for key, value in (filter or {}).items():
            if not key.replace("_", "").isalnum():
                raise LensInputError(f"Filter field names are letters, digits and '_'; got {key!r}.")
            field = f'metadata["{key}"]'
            if isinstance(value, (list, tuple, set)):  # Milvus Lite takes no JSON path left of 'in'
                clauses.append("(" + " or ".join(f"{field} == {json.dumps(v)}" for v in value) + ")")
            else:
                clauses.append(f"{field} == {json.dumps(value)}")
        return " and ".join(clauses)

    def is_transient(self, error: BaseException) -> bool:
        text = f"{error.__class__.__name__} {error}"
        return any(mark in text for mark in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "Connection refused",
                                             "connect", "Fail connecting", "RpcError"))

    def close(self) -> None:
        self.client.close()
        self._async = None


class MilvusConnector(LensConnector):
    """Hybrid LENS retrieval on Milvus, with the same contract as :class:`QdrantConnector`.

    ``location`` is a Milvus Lite file (default ``"./lens-vdb-milvus.db"``, the embedded engine) or
    a server URI (``"http://host:19530"``, ``token`` or ``MILVUS_TOKEN``). ``shards`` and
    ``consistency_level`` pass through to collection creation; ``index_type`` defaults to FLAT on
    Milvus Lite and AUTOINDEX on servers, for both dense fields or per field
    (``{"lens": "HNSW", "dense": "IVF_FLAT"}``); the sparse field always uses SPARSE_INVERTED_INDEX.
    Fusion: ``"rrf"`` (RRFRanker(k)) or ``"weighted"`` (WeightedRanker over raw cosines, or
    ``norm_score=True`` to let Milvus normalise them first). ``asearch`` uses AsyncMilvusClient.
    """

    def __init__(self, location: str | Path = "./lens-vdb-milvus.db", collection: str = "lens", *,
                 encoder: LensEncoder | str | None = None, dense: Any = None, task: str | None = None,
                 sparse_top: int = 0, token: str | None = None, shards: int | None = None,
                 consistency_level: Literal["Strong", "Bounded", "Session", "Eventually"] = "Strong",
                 index_type: str | dict[str, str] | None = None, norm_score: bool = False,
                 timeout: float = 30) -> None:
        if not collection.replace("_", "").isalnum():
            raise LensInputError(f"Milvus collection names are letters, digits and '_'; got {collection!r}.")
        self.location, self.collection = str(location), collection
        store = MilvusStore(self.location, collection, token=token, shards=shards,
                            consistency_level=consistency_level, index_type=index_type, timeout=timeout,
                            norm_score=norm_score)
        super().__init__(store, encoder=encoder, dense=dense, task=task, sparse_top=sparse_top)

    def __repr__(self) -> str:
        return f"MilvusConnector(location={self.location.split('@')[-1]!r}, collection={self.collection!r})"


def _stored_spec(text: str | None) -> dict[str, Any] | None:
    """The spec lens-vdb stored with a collection, if it stored one."""
    try:
        return json.loads(text or "")
    except ValueError:
        return None


def _index_types(index_type: str | dict[str, str] | None, default: str) -> dict[str, str]:
    """The index of each dense field: one type for both, or ``{"lens": ..., "dense": ...}`` (others default)."""
    if index_type is None or isinstance(index_type, str):
        return {LENS: index_type or default, DENSE: index_type or default}
    unknown = set(index_type) - {LENS, DENSE}
    if unknown:
        raise LensInputError(f"index_type names {sorted(unknown)}; it takes {LENS!r} and {DENSE!r} (the sparse "
                             "field always uses SPARSE_INVERTED_INDEX).")
    return {LENS: index_type.get(LENS, default), DENSE: index_type.get(DENSE, default)}


def _messages(records: Sequence[Record]) -> Iterator[list[dict[str, Any]]]:
    """Rows for Milvus, in messages kept under the gRPC cap (``MAX_MESSAGE_BYTES``)."""
    for record in records:  # all checked before the first message goes out: nothing half-written
        if len(record.document.text.encode()) > MAX_TEXT_BYTES:
            raise LensInputError(f"Document id={record.document.id!r} has over {MAX_TEXT_BYTES} bytes of text, "
                                 "Milvus' VARCHAR limit; split it into chunks.")
    rows: list[dict[str, Any]] = []
    size = 0
    for record in records:
        row: dict[str, Any] = {"id": record.id, "doc_id": record.document.id, "text": record.document.text,
                               "metadata": record.document.metadata, LENS: record.lens, DENSE: record.dense}
        if record.sparse_indices is not None:
            row[LENS_SPARSE] = dict(zip(record.sparse_indices, record.sparse_values))
        row_bytes = 4 * (len(record.lens) + len(record.dense)) + len(row["text"].encode()) + 1024
        if rows and size + row_bytes > MAX_MESSAGE_BYTES:
            yield rows
            rows, size = [], 0
        rows.append(row)
        size += row_bytes
    if rows:
        yield rows
