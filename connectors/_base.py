"""The connector contract shared by every vector store: collection spec, documents, hits, reports.

A LENS collection holds, per document, named vectors in one record:

    lens          dense float vector, k dims, cosine (the LENS embedding)
    lens_sparse   optional sparse vector: the LENS embedding pruned to its top-N dims
    dense         dense float vector from any dense embedder, cosine

and a payload ``{"doc_id", "text", "metadata"}``. Record ids are UUIDv5 of the document id (or
of the text when there is none), so re-ingesting the same data is idempotent.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from lens_vdb import LensInputError, LensSchemaError

__all__ = [
    "LENS", "LENS_SPARSE", "DENSE", "Fusion", "CollectionSpec", "Document", "Record", "Hit", "IngestReport",
    "point_id",
]

LENS, LENS_SPARSE, DENSE = "lens", "lens_sparse", "dense"
Fusion = Literal["rrf", "dbsf", "weighted"]
FUSIONS: tuple[str, ...] = ("rrf", "dbsf", "weighted")
_NAMESPACE = uuid.UUID("5b0e4f3c-5b7a-4c55-9a42-6c1e2d0f1e11")


@dataclass(frozen=True, kw_only=True)
class CollectionSpec:
    """What a collection must look like. Opening an existing one checks it against this spec.

    Attributes:
        k: LENS dimensions.
        dense_dim: dimensions of the dense embedder.
        sparse_top: keep a ``lens_sparse`` vector of the top-N LENS dims (0: no sparse vector).
        on_disk: keep the original vectors on disk (memory-mapped) instead of in RAM.
        float16: store vectors as float16 (half the storage, ~1e-3 relative error).
        int8: int8 scalar quantization for search (originals kept for rescoring).
    """

    k: int
    dense_dim: int
    sparse_top: int = 0
    on_disk: bool = False
    float16: bool = False
    int8: bool = False

    def __post_init__(self) -> None:
        if self.k < 1 or self.dense_dim < 1 or self.sparse_top < 0:
            raise LensInputError(f"Invalid collection spec: k={self.k}, dense_dim={self.dense_dim}, "
                                 f"sparse_top={self.sparse_top}")

    def to_json(self) -> dict[str, Any]:
        """What every engine stores with the collection, so that reopening it can be checked."""
        return asdict(self)

    def check_stored(self, stored: Any, *, collection: str, remedy: str) -> None:
        """Raise :class:`LensSchemaError` naming ``{field: (stored, asked)}`` for each field that
        ``stored`` (the spec an engine kept with ``collection``) records and this spec asks otherwise.

        Fields a store did not record (an older lens-vdb wrote fewer) are not compared.
        """
        if not isinstance(stored, dict):
            return
        diff = {name: (stored[name], value) for name, value in asdict(self).items()
                if name in stored and stored[name] != value}
        if diff:
            raise LensSchemaError(f"{collection} has another schema: (stored, asked) = {diff}. {remedy}")


@dataclass(frozen=True)
class Document:
    """One input document: an id (may be ``None``), its text, and metadata stored in the payload."""

    id: str | None
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def point_id(self) -> str:
        return point_id(self.id, self.text)


def point_id(doc_id: str | None, text: str) -> str:
    """Deterministic UUIDv5 of the document id, else of the text: re-runs write the same records."""
    return str(uuid.uuid5(_NAMESPACE, f"id:{doc_id}" if doc_id is not None else f"text:{text}"))


@dataclass(frozen=True)
class Record:
    """A document with its vectors, ready to write."""

    id: str
    document: Document
    lens: list[float]
    dense: list[float]
    sparse_indices: list[int] | None = None
    sparse_values: list[float] | None = None

    @property
    def payload(self) -> dict[str, Any]:
        return {"doc_id": self.document.id, "text": self.document.text, "metadata": self.document.metadata}


@dataclass(frozen=True)
class Hit:
    """One search result.

    ``score`` is the fused score of the store's query; ``scores`` the exact cosine of each route
    (``"lens"``, ``"dense"``) recomputed from the stored vectors, and on a ``use_sparse`` search
    also ``"lens_sparse"``, the dot product of the query's and the document's top-N dims that the
    sparse route ranked by; ``explanation`` (on request)
    lists the LENS clusters query and document share most, as ``(cluster, weight, tokens)``.
    """

    id: str
    doc_id: str | None
    text: str
    score: float
    scores: dict[str, float]
    metadata: dict[str, Any]
    explanation: list[tuple[int, float, tuple[str, ...]]] | None = None


@dataclass
class IngestReport:
    """What an ingestion did. ``failed_ids`` lists documents whose batch failed after all retries:
    their own id, or for a document given without one its record id (UUIDv5 of its text)."""

    ingested: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    seconds: float = 0.0
    failed_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def docs_per_second(self) -> float:
        return self.ingested / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        return (f"ingested {self.ingested}, skipped {self.skipped} (already stored), failed {self.failed}, "
                f"{self.retried} store call(s) retried, {self.seconds:.1f} s, {self.docs_per_second:.1f} docs/s")
