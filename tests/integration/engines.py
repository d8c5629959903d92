"""Every real engine a connector test runs on, each opened the same way: ``open_connector(engine, tmp, **kw)``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENGINES = ["qdrant-edge", "qdrant-local", "milvus-lite"]
if os.environ.get("QDRANT_URL"):
    ENGINES.append("qdrant-server")
if os.environ.get("MILVUS_URI"):
    ENGINES.append("milvus-server")


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


def engine_params():
    return pytest.mark.parametrize("engine", ENGINES)
