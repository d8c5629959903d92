"""Every real engine a connector test runs on, each opened the same way: ``open_connector(engine, tmp, **kw)``.

The Milvus server tests run on every run: against ``MILVUS_URI`` when it is set, else against a
Milvus Lite server this suite starts as its own process (``python -m milvus_lite server``) on a free
port, on first use; ``tests/integration/conftest.py`` stops it by its process id at the end of the
session. Qdrant servers cannot run on this machine: their cases skip unless ``QDRANT_URL`` is set.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

EMBEDDED = ["qdrant-edge", "qdrant-local", "milvus-lite"]
HAVE_MILVUS_LITE = importlib.util.find_spec("milvus_lite") is not None
MILVUS_SERVER = bool(os.environ.get("MILVUS_URI")) or HAVE_MILVUS_LITE
QDRANT_SERVER = bool(os.environ.get("QDRANT_URL"))
# the engines a test loops over: the embedded ones, and each server that can be reached
ENGINES = EMBEDDED + ["milvus-server"] * MILVUS_SERVER + ["qdrant-server"] * QDRANT_SERVER
# the engines a test is parametrised over: a server that cannot run shows up as skipped, with the reason
ENGINE_PARAMS = EMBEDDED + [
    pytest.param("milvus-server", marks=pytest.mark.skipif(
        not MILVUS_SERVER, reason="needs milvus-lite (lens-vdb[milvus]) to start a Milvus server, or MILVUS_URI")),
    pytest.param("qdrant-server", marks=pytest.mark.skipif(
        not QDRANT_SERVER, reason="no Qdrant server can run on this machine; set QDRANT_URL to run the contract "
                                  "against one")),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, *, timeout: float) -> None:
    """Stop a server this suite started, by its process id: SIGTERM, then SIGKILL after ``timeout`` seconds."""
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def start_milvus_lite_server(data_dir: Path, port: int, *, timeout: float = 60) -> subprocess.Popen:
    """``python -m milvus_lite server`` on ``port``, once it accepts connections."""
    server = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"the Milvus Lite server did not start on port {port} (exit code {server.poll()})")


class MilvusLiteServer:
    """The suite's Milvus server: a Milvus Lite server process, started on first use, stopped by its pid."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.uri: str | None = None
        self._data: tempfile.TemporaryDirectory | None = None

    def start(self) -> str:
        if self.uri is None:
            self._data = tempfile.TemporaryDirectory(prefix="lens-vdb-milvus-server-")
            port = free_port()
            self.process = start_milvus_lite_server(Path(self._data.name), port)
            self.uri = f"http://127.0.0.1:{port}"
        return self.uri

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=20)
            self.process, self.uri = None, None
        if self._data is not None:
            self._data.cleanup()
            self._data = None


SERVER = MilvusLiteServer()


def milvus_uri() -> str:
    return os.environ.get("MILVUS_URI") or SERVER.start()


def server_collection(collection: str, where: Path) -> str:
    """A collection name unique to ``where`` (each test's folder), for engines shared by the whole session."""
    return f"{collection}_{hashlib.sha1(str(where).encode()).hexdigest()[:12]}".replace("-", "_")


def open_connector(engine: str, where: Path, collection: str = "docs", **options):
    from lens_vdb.connectors import MilvusConnector, QdrantConnector

    if engine == "qdrant-edge":
        return QdrantConnector(where, collection, **options)
    if engine == "qdrant-local":
        return QdrantConnector(where, collection, engine="client", **options)
    if engine == "qdrant-server":
        return QdrantConnector(os.environ["QDRANT_URL"], server_collection(collection, where), **options)
    if engine == "milvus-lite":
        where.mkdir(parents=True, exist_ok=True)
        return MilvusConnector(where / "milvus.db", collection, **options)
    if engine == "milvus-server":
        return MilvusConnector(milvus_uri(), server_collection(collection, where), **options)
    raise ValueError(engine)
