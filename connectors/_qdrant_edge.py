"""The embedded engine: qdrant-edge (the Qdrant Rust engine in-process, EdgeShard), one shard per collection.

HNSW and quantization really apply, writes go through a write-ahead log, and the shard reopens
fast. The collection spec is kept beside the shard in ``lens_vdb_collection.json`` so that a
mismatch is reported with both values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lens_vdb import LensConnectionError, LensInputError, LensSchemaError
from lens_vdb._deps import require

from ._base import DENSE, LENS, LENS_SPARSE, CollectionSpec, Record
from ._store import QueryVectors, StoredHit

__all__ = ["EdgeStore"]

SPEC_FILE = "lens_vdb_collection.json"


class EdgeStore:
    """A LENS collection in a qdrant-edge shard directory."""

    native_async = False  # in-process engine: async calls run in a worker thread

    def __init__(self, path: str | Path) -> None:
        self.qe = require("qdrant_edge", "qdrant")
        self.path = Path(path)
        self.shard: Any = None

    # ---- schema ----------------------------------------------------------------------------

    def ensure(self, spec: CollectionSpec) -> None:
        for folder in (self.path.parent, self.path):
            if folder.exists() and not folder.is_dir():
                raise LensInputError(f"{folder} is a file; embedded Qdrant keeps its collections in a folder: "
                                     "give a folder (or a server URL).")
        spec_file = self.path / SPEC_FILE
        if spec_file.is_file():
            spec.check_stored(json.loads(spec_file.read_text()), collection=f"The collection at {self.path}",
                              remedy="Use another collection name or path, or delete this one to rebuild it.")
            self.shard = self._open(self.qe.EdgeShard.load, spec)
            return
        if self.path.exists() and any(self.path.iterdir()):
            raise LensSchemaError(f"{self.path} exists and is not a lens-vdb collection; choose an empty path.")
        self.shard = self._open(self.qe.EdgeShard.create, spec)
        spec_file.write_text(json.dumps(spec.to_json(), indent=2))

    def _open(self, how: Any, spec: CollectionSpec) -> Any:
        """Open or create the shard; a shard another process holds (its WAL is locked) is a clear error."""
        try:
            return how(str(self.path), self._config(spec))
        except Exception as exc:  # qdrant-edge raises plain Exception; its text tells the cause
            if "WouldBlock" in str(exc):
                raise LensConnectionError(
                    f"The embedded Qdrant collection at {self.path} is open in another process (its write-ahead "
                    "log is locked). Close that process, or serve the data with a Qdrant server and connect by URL."
                ) from exc
            raise

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

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        return {str(r.id) for r in self.shard.retrieve(list(ids), with_payload=False, with_vector=False)}

    def upsert(self, records: Sequence[Record]) -> None:
        qe = self.qe
        points = []
        for record in records:
            vector: dict[str, Any] = {LENS: record.lens, DENSE: record.dense}
            if record.sparse_indices is not None:
                vector[LENS_SPARSE] = qe.SparseVector(record.sparse_indices, record.sparse_values)
            points.append(qe.Point(record.id, vector, record.payload))
        self.shard.update(qe.UpdateOperation.upsert_points(points))
        self.shard.flush()

    def count(self) -> int:
        return int(self.shard.count(self.qe.CountRequest(exact=True)))

    def query(
        self, vectors: QueryVectors, *, limit: int, prefetch_limits: tuple[int, int], fusion: str, weights: tuple[float, float],
        rrf_k: int, lens_route: str, filter: dict[str, Any] | None,
    ) -> list[StoredHit]:
        qe = self.qe
        condition = self._filter(filter)
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

    def _fusion(self, fusion: str, weights: tuple[float, float], rrf_k: int) -> Any:
        qe = self.qe
        if fusion == "rrf":
            # Qdrant ranks from 0; k + 1 gives the usual 1 / (k + rank) with ranks from 1, as Milvus does
            return qe.Fusion.Rrf(k=rrf_k + 1, weights=list(weights))
        if fusion == "dbsf":
            return qe.Fusion.Dbsf()
        terms = [qe.Expression.Mult([qe.Expression.Constant(w), qe.Expression.Variable(f"$score[{i}]")])
                 for i, w in enumerate(weights)]
        return qe.Formula(qe.Expression.Sum(terms), defaults={"$score[0]": 0.0, "$score[1]": 0.0})

    def _filter(self, filter: dict[str, Any] | None) -> Any:
        if not filter:
            return None
        qe = self.qe
        conditions = []
        for key, value in filter.items():
            match = qe.MatchAny(list(value)) if isinstance(value, (list, tuple, set)) else qe.MatchValue(value)
            conditions.append(qe.FieldCondition(key=f"metadata.{key}", match=match))
        return qe.Filter(must=conditions)

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
