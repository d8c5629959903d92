"""The embedded engine: qdrant-edge (the Qdrant Rust engine in-process, EdgeShard), one shard per collection.

HNSW and quantization really apply, writes go through a write-ahead log, and the shard reopens
fast. The collection spec is kept beside the shard in ``lens_vdb_collection.json`` so that a
mismatch is reported with both values. qdrant-edge 0.9 has no query groups: grouping by
document takes every fused candidate of the engine's query and groups them here (the same
candidates and order Qdrant's own groups would see).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lens_vdb import LensConnectionError, LensInputError, LensSchemaError
from lens_vdb._deps import require
from lens_vdb._vocabulary import FUSIONS, Fusion

from .._base import DENSE, LENS, LENS_SPARSE, CollectionSpec, Record
from .._store import HEAD_FIELDS, QueryVectors, StoredHit, group_hits
from .filters import QdrantFilters

__all__ = ["EdgeStore"]

SPEC_FILE = "lens_vdb_collection.json"


class EdgeStore(QdrantFilters):
    """A LENS collection in a qdrant-edge shard directory."""

    native_async = False  # in-process engine: async calls run in a worker thread
    fusions: tuple[Fusion, ...] = FUSIONS
    recipe = None  # one process owns the shard: distributed ingestion writes through the driver

    def __init__(self, path: str | Path) -> None:
        self.qe = require("qdrant_edge", "qdrant")
        self.path = Path(path)
        self.name = self.path.name
        self.where = f"The embedded Qdrant collection {self.path.name!r} at {self.path.parent}"
        self.shard: Any = None

    # ---- schema ----------------------------------------------------------------------------

    def stored_spec(self) -> dict[str, Any] | None:
        for folder in (self.path.parent, self.path):
            if folder.exists() and not folder.is_dir():
                raise LensInputError(f"{folder} is a file; embedded Qdrant keeps its collections in a folder: "
                                     "give a folder (or a server URL).")
        spec_file = self.path / SPEC_FILE
        if spec_file.is_file():
            return dict(json.loads(spec_file.read_text()))
        if self.path.exists() and any(self.path.iterdir()):
            raise LensSchemaError(f"{self.path} exists and is not a lens-vdb collection (it has no {SPEC_FILE}; a "
                                  "creation killed midway leaves such a folder, then delete it); choose another "
                                  "collection name or location.")
        return None

    def open(self, spec: CollectionSpec) -> None:
        if self.shard is None:
            self.shard = self._locked(lambda: self.qe.EdgeShard.load(str(self.path), self._config(spec)))

    def create(self, spec: CollectionSpec) -> None:
        qe = self.qe
        self.shard = self._locked(lambda: qe.EdgeShard.create(str(self.path), self._config(spec)))
        self.shard.update(qe.UpdateOperation.create_field_index("parent", qe.PayloadSchemaType.Keyword))
        self.shard.update(qe.UpdateOperation.create_field_index("chunk", qe.PayloadSchemaType.Integer))
        self.shard.flush()
        (self.path / SPEC_FILE).write_text(json.dumps(spec.to_json(), indent=2))  # written last: a lens-vdb collection

    def _locked(self, open_shard: Any) -> Any:
        try:
            return open_shard()
        except Exception as exc:
            if "WouldBlock" not in str(exc):
                raise
            raise LensConnectionError(
                f"{self.where} is open in another process (or another connector in this one): its write-ahead log "
                f"{self.path / 'wal'} is locked. Close that connector or process first, or use a Qdrant server "
                "(location='http://host:6333') to share a collection.") from exc

    def _config(self, spec: CollectionSpec) -> Any:
        qe = self.qe
        datatype = qe.VectorStorageDatatype.Float16 if spec.float16 else qe.VectorStorageDatatype.Float32
        quantization = qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99) if spec.int8 else None

        def params(size: int) -> Any:
            return qe.EdgeVectorParams(size=size, distance=qe.Distance.Cosine, on_disk=spec.on_disk,
                                       datatype=datatype, quantization_config=quantization)

        sparse = {LENS_SPARSE: qe.EdgeSparseVectorParams()} if spec.sparse_top else None
        return qe.EdgeConfig(vectors={LENS: params(spec.k), DENSE: params(spec.dense_dim)}, sparse_vectors=sparse)

    # ---- data ------------------------------------------------------------------------------

    def heads(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        found = self.shard.retrieve(list(keys), with_payload=True, with_vector=False)
        return {str(r.id): {f: (r.payload or {}).get(f) for f in HEAD_FIELDS} for r in found}

    def upsert(self, records: Sequence[Record]) -> None:
        qe = self.qe
        points = []
        for record in records:
            vector: dict[str, Any] = {LENS: record.lens, DENSE: record.dense}
            if record.sparse_indices is not None:
                vector[LENS_SPARSE] = qe.SparseVector(record.sparse_indices, record.sparse_values)
            points.append(qe.Point(record.id, vector, record.payload))
        self._update(qe.UpdateOperation.upsert_points(points))

    def delete_ids(self, ids: Sequence[str]) -> None:
        self._update(self.qe.UpdateOperation.delete_points(list(ids)))

    def delete_chunks(self, chunks: Mapping[str, int]) -> None:
        if chunks:
            self._update(self.qe.UpdateOperation.delete_points_by_filter(self.chunks_filter(chunks)))

    def delete_matching(self, filter: dict[str, Any], *, heads_only: bool) -> None:
        condition = self.metadata_filter(filter, heads_only=heads_only)
        if condition is None:
            raise LensInputError("a delete needs a filter: pass filter={field: value} (or ids=[...]) to delete")
        self._update(self.qe.UpdateOperation.delete_points_by_filter(condition))

    def _update(self, operation: Any) -> None:
        self.shard.update(operation)
        self.shard.flush()

    def count(self, filter: dict[str, Any] | None = None, *, heads_only: bool = True) -> int:
        condition = self.metadata_filter(filter, heads_only=heads_only)
        return int(self.shard.count(self.qe.CountRequest(exact=True, filter=condition)))

    def points(self, keys: Sequence[str]) -> list[StoredHit]:
        out, offset = [], None
        while True:
            found, offset = self.shard.scroll(self.qe.ScrollRequest(
                offset=offset, limit=256, filter=self.parents_filter(keys), with_payload=True, with_vector=False))
            out += [StoredHit(str(r.id), 0.0, dict(r.payload or {}), None, None) for r in found]
            if offset is None:
                return out

    # ---- search ----------------------------------------------------------------------------

    def query(
        self, vectors: QueryVectors, *, limit: int, prefetch_limits: tuple[int, int], fusion: Fusion, weights: tuple[float, float],
        rrf_k: int, lens_route: str, filter: dict[str, Any] | None,
    ) -> list[StoredHit]:
        qe = self.qe
        condition = self.metadata_filter(filter)
        if lens_route == LENS_SPARSE:
            lens_query = qe.Query.Nearest(qe.SparseVector(vectors.sparse_indices, vectors.sparse_values),
                                          using=LENS_SPARSE)
        else:
            lens_query = qe.Query.Nearest(vectors.lens, using=LENS)
        prefetches = [
            qe.Prefetch(limit=prefetch_limits[0], query=lens_query, filter=condition),
            qe.Prefetch(limit=prefetch_limits[1], query=qe.Query.Nearest(vectors.dense, using=DENSE), filter=condition),
        ]
        request = qe.QueryRequest(limit=limit, prefetches=prefetches, query=self._fusion(fusion, weights, rrf_k),
                                  filter=condition, with_payload=True, with_vector=[LENS, DENSE])
        return [self._hit(point) for point in self.shard.query(request)]

    def query_groups(self, vectors: QueryVectors, *, group_size: int, limit: int, prefetch_limits: tuple[int, int],
                     **options: Any) -> list[list[StoredHit]]:
        """Every fused candidate (at most the two prefetches), grouped by document here, best first."""
        everything = self.query(vectors, limit=sum(prefetch_limits), prefetch_limits=prefetch_limits, **options)
        return group_hits(everything, limit, group_size)

    def _fusion(self, fusion: Fusion, weights: tuple[float, float], rrf_k: int) -> Any:
        qe = self.qe
        if fusion == "rrf":
            # Qdrant ranks from 0; k + 1 gives the usual 1 / (k + rank) with ranks from 1, as Milvus does
            return qe.Fusion.Rrf(k=rrf_k + 1, weights=list(weights))
        if fusion == "dbsf":
            return qe.Fusion.Dbsf()
        terms = [qe.Expression.Mult([qe.Expression.Constant(w), qe.Expression.Variable(f"$score[{i}]")])
                 for i, w in enumerate(weights)]
        return qe.Formula(qe.Expression.Sum(terms), defaults={"$score[0]": 0.0, "$score[1]": 0.0})

    # ---- filters (QdrantFilters builds them from these) ------------------------------------

    def _condition(self, key: str, value: Any = None, *, any_of: list | None = None, at_least: int | None = None) -> Any:
        qe = self.qe
        if at_least is not None:
            return qe.FieldCondition(key=key, range=qe.RangeFloat(gte=at_least))
        return qe.FieldCondition(key=key, match=qe.MatchAny(any_of) if any_of is not None else qe.MatchValue(value))

    def _filter(self, must: list | None = None, should: list | None = None, must_not: list | None = None) -> Any:
        return self.qe.Filter(must=must or None, should=should or None, must_not=must_not or None)

    @staticmethod
    def _hit(point: Any) -> StoredHit:
        vector = point.vector or {}
        return StoredHit(str(point.id), float(point.score), dict(point.payload or {}), vector.get(LENS),
                         vector.get(DENSE))

    def is_transient(self, error: BaseException) -> bool:
        return isinstance(error, (TimeoutError, InterruptedError))

    def close(self) -> None:
        if self.shard is not None:
            self.shard.close()
            self.shard = None
