"""The connector contract shared by every vector store: collection spec, documents, records, hits, reports.

A LENS collection holds one point per chunk of a document, with named vectors

    lens          dense float vector, k dims, cosine (the LENS embedding)
    lens_sparse   optional sparse vector: the LENS embedding pruned to its top-N dims
    dense         dense float vector from any dense embedder, cosine

and a payload ``{"doc_id", "parent", "chunk", "chunks", "span", "text", "metadata", "text_hash",
"model_hash"}``. A document's key (its chunk 0's point id) is a UUIDv5 of its id, or of its text
when it has none; chunk ``i`` has the UUIDv5 of (key, i). Re-ingesting the same data is idempotent.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from lens_vdb import LensInputError, LensSchemaError
from lens_vdb._model.default import DEFAULT_VERSIONS, versioned_name

__all__ = [
    "LENS", "LENS_SPARSE", "DENSE", "CollectionSpec", "Document", "Record", "Hit", "IngestReport",
    "point_id", "chunk_id", "ADOPTABLE",
]

LENS, LENS_SPARSE, DENSE = "lens", "lens_sparse", "dense"
ADOPTABLE = {"sparse_top": 0, "on_disk": False, "float16": False, "int8": False}  # option -> default when new
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
        lens_model: the LENS model's fingerprint (``LensEncoder.fingerprint``: a hash of its head,
            config and backbone tail); ``lens_model_name`` how it was named when the collection was made.
        dense_model: the dense embedder's name (its dimension is ``dense_dim``).
    """

    k: int
    dense_dim: int
    sparse_top: int = 0
    on_disk: bool = False
    float16: bool = False
    int8: bool = False
    lens_model: str = ""
    lens_model_name: str = ""
    dense_model: str = ""

    def __post_init__(self) -> None:
        counts = {"k": (self.k, 1), "dense_dim": (self.dense_dim, 1), "sparse_top": (self.sparse_top, 0)}
        for name, (value, least) in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise LensInputError(f"{name} must be an int >= {least}, got {value!r}")
        for name in ("on_disk", "float16", "int8"):
            if not isinstance(getattr(self, name), bool):
                raise LensInputError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def to_json(self) -> dict[str, Any]:
        """What every engine stores with the collection, so that reopening it can be checked."""
        return asdict(self)

    def check_stored(self, stored: Any, *, collection: str, remedy: str) -> None:
        """Raise :class:`LensSchemaError` naming both values for each field that ``stored`` (the spec an
        engine kept with ``collection``) records and this spec asks otherwise.

        Fields a store did not record (an older lens-vdb wrote fewer), and models this spec does not
        name, are not compared; ``lens_model_name`` is reported with ``lens_model``, never compared.
        """
        if not isinstance(stored, dict):
            return
        asked = {name: value for name, value in asdict(self).items() if name != "lens_model_name"}
        diff = {name: (stored[name], value) for name, value in asked.items()
                if name in stored and stored[name] != value and (name not in _MODELS or (value and stored[name]))}
        models = [_model_difference(name, stored, self) for name in _MODELS if name in diff]
        for name in _MODELS:
            diff.pop(name, None)
        if models or diff:
            said = " ".join(models) + (f" Options differ: (stored, asked) = {diff}." if diff else "")
            raise LensSchemaError(f"{collection} has another schema. {said.strip()} {remedy}")


_MODELS = ("lens_model", "dense_model")


def _model_difference(name: str, stored: dict[str, Any], asked: CollectionSpec) -> str:
    if name == "lens_model":
        written_by = str(stored.get("lens_model_name") or "?")
        said = (f"It holds vectors of LENS model {stored['lens_model']} ({written_by}); this connector's encoder is "
                f"{asked.lens_model} ({asked.lens_model_name}), of the same k, and its vectors cannot share a field "
                "with them.")
        if written_by.startswith("default") and asked.lens_model_name.startswith("default"):
            said += (f" lens-vdb's default model is {versioned_name('default')} now: open a collection an earlier "
                     f"default wrote with encoder='default-<version>' (shipped: "
                     f"{', '.join(f'default-{v}' for v in DEFAULT_VERSIONS)}; 'default' was wordnet-v1 before "
                     "retrieval-v1), or ingest it again.")
        return said
    return (f"Its dense vectors come from {stored['dense_model']!r}; this connector's dense embedder is "
            f"{asked.dense_model!r} (both {asked.dense_dim} dims): two models' vectors cannot share a field.")


@dataclass(frozen=True)
class Document:
    """One input document: an id (may be ``None``), its text, and metadata stored in the payload."""

    id: str | None
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def point_id(self) -> str:
        """The document's key: the point id of its chunk 0, and every chunk's ``parent``."""
        return point_id(self.id, self.text)


def point_id(doc_id: str | None, text: str) -> str:
    """Deterministic UUIDv5 of the document id, else of the text: re-runs write the same records."""
    return str(uuid.uuid5(_NAMESPACE, f"id:{doc_id}" if doc_id is not None else f"text:{text}"))


def chunk_id(key: str, index: int) -> str:
    """The point id of chunk ``index`` of the document keyed ``key``: the key itself for chunk 0."""
    return key if index == 0 else str(uuid.uuid5(_NAMESPACE, f"chunk:{key}:{index}"))


@dataclass(frozen=True)
class Record:
    """One point ready to write: a chunk of a document (or the whole of a short one) with its vectors.

    ``text`` defaults to the document's text and ``span`` to all of it; ``text_hash`` is the hash of
    the whole document's text and ``model_hash`` of what made the vectors (models, task, chunking).
    """

    id: str
    document: Document
    lens: list[float]
    dense: list[float]
    sparse_indices: list[int] | None = None
    sparse_values: list[float] | None = None
    chunk: int = 0
    chunks: int = 1
    span: tuple[int, int] | None = None
    text: str | None = None
    text_hash: str = ""
    model_hash: str = ""

    @property
    def payload(self) -> dict[str, Any]:
        text = self.document.text if self.text is None else self.text
        span = self.span or (0, len(self.document.text))
        return {"doc_id": self.document.id, "parent": self.document.point_id, "chunk": self.chunk,
                "chunks": self.chunks, "span": list(span), "text": text, "metadata": self.document.metadata,
                "text_hash": self.text_hash, "model_hash": self.model_hash}


@dataclass(frozen=True)
class Hit:
    """One search result: a chunk, or with ``group_by_document=True`` a document.

    ``score`` is the fused score of the store's query; ``scores`` the exact cosine of each route
    (``"lens"``, ``"dense"``) recomputed from the stored vectors, and on a ``use_sparse`` search
    also ``"lens_sparse"``, the dot product of the query's and the document's top-N dims that the
    sparse route ranked by; ``explanation`` (on request) lists the LENS clusters query and document
    share most, as ``(cluster, weight, tokens)``. ``chunk`` and ``span`` say which part of the
    document ``text`` is (``span``: character offsets into the document's text). A document hit has
    the fields of its best chunk, ``id`` the document's key, and ``chunks`` its best chunks, best first.
    """

    id: str
    doc_id: str | None
    text: str
    score: float
    scores: dict[str, float]
    metadata: dict[str, Any]
    explanation: list[tuple[int, float, tuple[str, ...]]] | None = None
    chunk: int = 0
    span: tuple[int, int] | None = None
    chunks: tuple[Hit, ...] = ()


@dataclass
class IngestReport:
    """What an ingestion did, counted in documents. ``updated``: stored documents whose text (or
    models, task, chunking) changed, re-encoded and replaced; ``skipped``: stored unchanged, not
    encoded. ``failed_ids`` lists documents whose batch failed after all retries: their own id, or
    for a document given without one its key (UUIDv5 of its text). ``chunks``: points written."""

    ingested: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    chunks: int = 0
    seconds: float = 0.0
    failed_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def docs_per_second(self) -> float:
        """Documents encoded and written per second (new and updated ones)."""
        return (self.ingested + self.updated) / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        return (f"ingested {self.ingested}, skipped {self.skipped} (unchanged), updated {self.updated}, "
                f"failed {self.failed}, {self.chunks} chunk(s) written, {self.retried} store call(s) retried, "
                f"{self.seconds:.1f} s, {self.docs_per_second:.1f} docs/s")
