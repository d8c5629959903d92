from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def milvus_lite_server():
    """The Milvus Lite server process of ``engines.SERVER`` (started by the first test that uses it),
    stopped by its process id when the session ends."""
    from tests.integration.engines import SERVER

    yield SERVER
    SERVER.stop()
