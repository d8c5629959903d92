"""MilvusConnector: LENS + dense vectors in one Milvus collection, on Milvus Lite or a Milvus server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from lens_vdb import LensEncoder

from .._checks import check_collection_name
from .._connector import LensConnector
from .store import MilvusStore

__all__ = ["MilvusConnector"]


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
                 sparse_top: int | None = None, token: str | None = None, shards: int | None = None,
                 consistency_level: Literal["Strong", "Bounded", "Session", "Eventually"] = "Strong",
                 index_type: str | dict[str, str] | None = None, norm_score: bool = False,
                 timeout: float = 30) -> None:
        check_collection_name(collection, "milvus")
        self.location = str(location)
        store = MilvusStore(self.location, collection, token=token, shards=shards,
                            consistency_level=consistency_level, index_type=index_type, timeout=timeout,
                            norm_score=norm_score)
        super().__init__(store, encoder=encoder, dense=dense, task=task, sparse_top=sparse_top)

    def __repr__(self) -> str:
        return f"MilvusConnector(location={self.location.split('@')[-1]!r}, collection={self.collection.name!r})"
