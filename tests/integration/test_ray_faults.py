"""Faults in the middle of a Ray ingestion into a Milvus server: an encoder actor killed (SIGKILL, by its
process id) and the Milvus server killed then restarted on the same port and data. Ray restarts the actor and
retries its batch, the writers retry their writes; the run ends with every document stored exactly once, and
a re-run ingests nothing, skips all, and starts no actor."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from lens_vdb import LensEncoder
from lens_vdb.connectors import MilvusConnector, RayOptions
from tests.integration.engines import free_port, start_milvus_lite_server
from tests.integration.ray_support import bbc_rows, descendants_named, local_ray  # skips without ray

# run once, in the 4.57 suite (their subject is the engines' and Ray's behaviour); a minute or more
pytestmark = [pytest.mark.engine_only, pytest.mark.slow]

pytest.importorskip("milvus_lite", reason="needs milvus-lite (lens-vdb[milvus]) to start a Milvus server")

ROWS = 200
ENCODER_ACTOR = "MapBatches(EncodeBatches))"  # in the process title Ray gives an encoder actor

ray_runtime = pytest.fixture(scope="module")(local_ray)


class Saboteur(threading.Thread):
    """Kills an encoder actor while it encodes a batch, then the server once the first documents are stored,
    and starts the server again on the same port and data directory.

    Each kill waits for its own sign, polled every 0.1 s: an actor is encoding while Ray titles its process
    ``ray::...EncodeBatches)).submit``; the writes can begin only after every batch was encoded (as they did
    on a loaded machine), so documents stored say nothing about the actors."""

    def __init__(self, uri: str, collection: str, server, restart) -> None:
        super().__init__(daemon=True)
        self.uri, self.collection, self.server, self.restart = uri, collection, server, restart
        self.killed_actor: int | None = None
        self.stored_at_kills: list[int] = []  # documents stored when the actor, then the server, were killed
        self.done = threading.Event()

    @property
    def killed_server(self) -> bool:
        return len(self.stored_at_kills) == 2

    def run(self) -> None:
        from pymilvus import MilvusClient

        client = MilvusClient(uri=self.uri, timeout=5)
        try:
            while not self.done.is_set() and not self.killed_server:
                if self.killed_actor is None:
                    self.kill_an_encoding_actor(client)
                elif (stored := self.stored(client)) > 0:
                    self.kill_the_server(stored)
                time.sleep(0.1)
        finally:
            client.close()

    def stored(self, client) -> int:
        if not client.has_collection(self.collection):
            return 0
        rows = client.query(self.collection, filter="chunk == 0", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def kill_an_encoding_actor(self, client) -> None:
        busy = descendants_named(f"{ENCODER_ACTOR}.submit")
        if busy:
            os.kill(busy[0], signal.SIGKILL)
            self.killed_actor = busy[0]
            self.stored_at_kills.append(self.stored(client))

    def kill_the_server(self, stored: int) -> None:
        self.server.send_signal(signal.SIGKILL)
        self.server.wait()
        self.stored_at_kills.append(stored)
        time.sleep(2)
        self.server = self.restart()


def test_an_encoder_actor_and_the_server_killed_mid_run_lose_and_duplicate_nothing(tmp_path, ray_runtime,
                                                                                    built_dirs, minilm):
    port = free_port()
    data = tmp_path / "milvus-data"
    uri = f"http://127.0.0.1:{port}"
    saboteur = None
    server = start_milvus_lite_server(data, port)
    try:
        rows = bbc_rows(ROWS, chars=120)
        encoder = LensEncoder(built_dirs["llama"])
        with MilvusConnector(uri, "faults", encoder=encoder, dense=minilm, timeout=10) as connector:
            saboteur = Saboteur(uri, "faults", server, lambda: start_milvus_lite_server(data, port))
            saboteur.start()
            report = connector.ingest(rows, batch_size=5, max_retries=12, ray=RayOptions(encoders=2),
                                      show_progress=False)
            saboteur.done.set()
            saboteur.join()
            assert saboteur.killed_actor is not None and saboteur.killed_server
            actor_at, server_at = saboteur.stored_at_kills
            assert actor_at < ROWS and 0 < server_at < ROWS, saboteur.stored_at_kills  # both mid-run
            assert (report.ingested, report.failed, report.skipped) == (ROWS, 0, 0)  # writes to the dead server retried
            assert connector.count() == ROWS
            assert connector.store.count(heads_only=False) == report.chunks  # no point twice, none left over
            stored = {hit.doc_id for hit in connector.get([row["id"] for row in rows])}
            assert stored == {row["id"] for row in rows}
            again = connector.ingest(rows, batch_size=5, ray=RayOptions(encoders=2), show_progress=False)
            assert (again.ingested, again.skipped, again.failed, again.encoders) == (0, ROWS, 0, {})
    finally:
        if saboteur is not None:
            saboteur.done.set()
            server = saboteur.server
        server.kill()
        server.wait()
