from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def milvus_lite_server():
    """The Milvus Lite server process of ``engines.SERVER`` (started by the first test that uses it),
    stopped by its process id when the session ends."""
    from tests.integration.engines import SERVER

    yield SERVER
    SERVER.stop()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny model's fp32 graph: exported here, or by the transformers 4.57 venv for the 5.x one (tests/graphs.py)."""
    from tests.graphs import graph

    return graph("fp32", tmp_path_factory.mktemp("onnx") / "fp32")
