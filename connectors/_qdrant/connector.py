"""QdrantConnector: LENS + dense named vectors in one Qdrant collection, embedded or on a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from lens_vdb import LensEncoder, LensInputError

from .._checks import check_collection_name
from .._connector import LensConnector

__all__ = ["QdrantConnector", "DEFAULT_LOCATION"]

DEFAULT_LOCATION = "./lens-vdb-data"  # the embedded store's folder, for the CLI and the Python API alike


class QdrantConnector(LensConnector):
    """Hybrid LENS retrieval on Qdrant.

    ``location`` picks the engine, and nothing else changes when you move:

    - a folder (default ``"./lens-vdb-data"``, as the CLI's): the embedded engine, qdrant-edge (the Qdrant
      Rust engine in-process; HNSW, quantization, a write-ahead log), one shard per collection
      in ``<folder>/<collection>``;
    - ``"http(s)://host:6333"``: a Qdrant server or cluster through qdrant-client (``api_key`` or
      ``QDRANT_API_KEY``; ``prefer_grpc``; ``shard_number``, ``replication_factor`` and
      ``write_consistency_factor`` are passed to collection creation);
    - ``":memory:"``, or a folder with ``engine="client"``: qdrant-client's local mode.

    Args:
        encoder: a :class:`LensEncoder`, a model dir or hub id, or ``None`` for the default model (a name
            runs on the default backend, torch; pass ``LensEncoder(name, backend="auto")`` for the fastest).
        dense: a LangChain ``Embeddings``, a ``callable(list[str])``, or ``None`` for all-MiniLM-L6-v2.
        task: the instruction task for queries; a symmetric task (``"sts"``, ``"clustering"``...)
            embeds documents with it too.
        sparse_top: also store ``lens_sparse``, the top-N LENS dims as a sparse vector (0: off).
        on_disk, float16: storage options for the dense named vectors.
        quantization: ``"int8"`` scalar quantization (originals kept for rescoring), or ``"none"``.
            ``"binary"`` is refused: LENS vectors are non-negative, so every sign bit is 1 and all
            documents collapse onto one code (measured: self-hit@1 of 1/20).

    ``sparse_top``, ``on_disk``, ``float16`` and ``quantization`` left at ``None`` take the values an
    existing collection was made with (and 0 / off for a new one); a value that differs from the
    stored one is a :class:`LensSchemaError`. The collection is created by the first ingestion.
    """

    def __init__(self, location: str | Path = DEFAULT_LOCATION, collection: str = "lens", *,
                 engine: Literal["auto", "edge", "client"] = "auto", encoder: LensEncoder | str | None = None,
                 dense: Any = None, task: str | None = None, sparse_top: int | None = None, on_disk: bool | None = None,
                 float16: bool | None = None, quantization: Literal["int8", "none", "binary"] | None = None,
                 api_key: str | None = None, prefer_grpc: bool = False,
                 shard_number: int | None = None, replication_factor: int | None = None,
                 write_consistency_factor: int | None = None, timeout: int = 30) -> None:
        location = str(location)
        if quantization == "binary":
            raise LensInputError(
                "Binary quantization collapses LENS vectors: they are non-negative, so every sign bit is 1 "
                "(measured self-hit@1: 1/20). Use quantization='int8', float16=True, or sparse_top=N."
            )
        if quantization not in (None, "int8", "none"):
            raise LensInputError(f"quantization must be None, 'int8' or 'none' (or 'binary', refused), got {quantization!r}")
        check_collection_name(collection, "qdrant")
        remote = location.startswith(("http://", "https://"))
        if engine == "edge" and (remote or location == ":memory:"):
            raise LensInputError(f"engine='edge' is embedded and needs a folder, not {location!r}")
        if engine not in ("auto", "edge", "client"):
            raise LensInputError(f"engine must be 'auto', 'edge' or 'client', got {engine!r}")
        if engine == "client" or remote or location == ":memory:":
            from .client import ClientStore

            store: Any = ClientStore(location, collection, api_key=api_key, prefer_grpc=prefer_grpc,
                                     shard_number=shard_number, replication_factor=replication_factor,
                                     write_consistency_factor=write_consistency_factor, timeout=timeout)
        else:
            from .edge import EdgeStore

            store = EdgeStore(Path(location) / collection)
        self.location = location
        super().__init__(store, encoder=encoder, dense=dense, task=task, sparse_top=sparse_top, on_disk=on_disk,
                         float16=float16, int8=None if quantization is None else quantization == "int8")

    def __repr__(self) -> str:
        where = self.location.split("@")[-1]
        return f"QdrantConnector(location={where!r}, collection={self.collection.name!r}, k={self.spec.k})"
