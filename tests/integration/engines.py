"""Every real engine a connector test runs on, each opened the same way: ``open_connector(engine, tmp, **kw)``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

EMBEDDED = ["qdrant-edge", "qdrant-local", "milvus-lite"]
SERVERS = {"qdrant-server": "QDRANT_URL", "milvus-server": "MILVUS_URI"}
# the engines a test loops over: the embedded ones, and each server whose address is set
ENGINES = EMBEDDED + [name for name, variable in SERVERS.items() if os.environ.get(variable)]
# the engines a test is parametrised over: a server without its address shows up as skipped, with the reason
ENGINE_PARAMS = EMBEDDED + [
    pytest.param(name, marks=pytest.mark.skipif(not os.environ.get(variable),
                                                reason=f"set {variable} to run the contract against a real server"))
    for name, variable in SERVERS.items()
]


def open_connector(engine: str, where: Path, collection: str = "docs", **options):
    from lens_vdb.connectors import MilvusConnector, QdrantConnector

    if engine == "qdrant-edge":
        return QdrantConnector(where, collection, **options)
    if engine == "qdrant-local":
        return QdrantConnector(where, collection, engine="client", **options)
    if engine == "qdrant-server":
        return QdrantConnector(os.environ["QDRANT_URL"], f"{collection}_{where.name}", **options)
    if engine == "milvus-lite":
        where.mkdir(parents=True, exist_ok=True)
        return MilvusConnector(where / "milvus.db", collection, **options)
    if engine == "milvus-server":
        return MilvusConnector(os.environ["MILVUS_URI"], f"{collection}_{where.name}".replace("-", "_"), **options)
    raise ValueError(engine)
