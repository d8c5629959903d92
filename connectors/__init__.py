"""Vector-store connectors (``lens_vdb.connectors``): LENS and dense named vectors in one collection.

    >>> from lens_vdb.connectors import QdrantConnector
    >>> with QdrantConnector("./data") as store:           # embedded qdrant-edge; or "http://host:6333"
    ...     store.ingest(["first text", "second text"])
    ...     hits = store.search("a query", fusion="rrf", explain=True)

Engines load lazily: importing this package imports no vector-store client (nor Ray).

    >>> store.ingest("corpus/", ray=RayOptions(encoders=4, gpus_per_encoder=1))  # the same job on Ray Data

Where things live (private modules; the public names are below in ``__all__``):

    _connector.py    LensConnector: encode, ingest, search, delete, over one Collection
    _collection.py   Collection: the only caller of the store, and the order of writes a kill cannot break
    _store.py        the Store and AsyncStore protocols every engine implements
    _ingest.py       the one ingestion path: options, batches, the new/updated/skipped plan, retries, the tally
    _pipeline.py     its local runner (threads); _ray/ its Ray runner (options, source, encode, write, cluster)
    _search.py       search options and checks, query vectors, hits; _checks.py the shared input checks
    _records.py      documents -> records (chunking in _chunking.py, dense embedders in _dense.py)
    _qdrant/         QdrantConnector, EdgeStore (qdrant-edge), ClientStore (qdrant-client), Qdrant filters
    _milvus/         MilvusConnector, MilvusStore, Milvus rows and expressions
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lens_vdb._lazy import lazy_exports

__all__ = ["LensConnector", "QdrantConnector", "MilvusConnector", "CollectionSpec", "Document", "Hit", "IngestReport",
           "RayOptions", "RayIngestReport", "point_id", "ConnectorRetriever"]

_LAZY = {
    "LensConnector": "._connector",
    "QdrantConnector": "._qdrant.connector",
    "MilvusConnector": "._milvus.connector",
    "CollectionSpec": "._base",
    "Document": "._base",
    "Hit": "._base",
    "IngestReport": "._base",
    "point_id": "._base",
    "RayOptions": "._ray.options",
    "RayIngestReport": "._ray.ingest",
    "ConnectorRetriever": "._evaluate",
}


if TYPE_CHECKING:  # type checkers see the real classes; at run time they load on first use
    from ._base import CollectionSpec, Document, Hit, IngestReport, point_id
    from ._connector import LensConnector
    from ._evaluate import ConnectorRetriever
    from ._milvus.connector import MilvusConnector
    from ._qdrant.connector import QdrantConnector
    from ._ray.ingest import RayIngestReport
    from ._ray.options import RayOptions


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
