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

pytestmark = pytest.mark.engine_only  # the engines' and Ray's behaviour: run once, in the 4.57 suite

pytest.importorskip("milvus_lite", reason="needs milvus-lite (lens-vdb[milvus]) to start a Milvus server")

ROWS = 200
ENCODER_ACTOR = "MapBatches(EncodeBatches)"

ray_runtime = pytest.fixture(scope="module")(local_ray)


class Saboteur(threading.Thread):
    """Watches the collection fill up; kills an encoder actor at ``actor_at`` documents stored, the server at
    ``server_at``, and starts the server again on the same port and data directory."""

    def __init__(self, uri: str, collection: str, server, restart, *, actor_at: int, server_at: int) -> None:
        super().__init__(daemon=True)
        self.uri, self.collection, self.server, self.restart = uri, collection, server, restart
        self.actor_at, self.server_at = actor_at, server_at
        self.killed_actor: int | None = None
        self.killed_server = False
        self.stored_at_kills: list[int] = []  # documents stored when each kill happened
        self.done = threading.Event()

    def stored(self) -> int:
        from pymilvus import MilvusClient

        try:
            client = MilvusClient(uri=self.uri, timeout=5)
            try:
                rows = client.query(self.collection, filter="chunk == 0", output_fields=["count(*)"])
                return int(rows[0]["count(*)"])
            finally:
                client.close()
        except Exception:  # not made yet, or the server is down
            return -1

    def run(self) -> None:
        while not self.done.is_set() and not self.killed_server:
            stored = self.stored()
            if self.killed_actor is None and stored >= self.actor_at:
                actors = descendants_named(ENCODER_ACTOR)
                if actors:
                    self.killed_actor = actors[0]
                    os.kill(actors[0], signal.SIGKILL)
                    self.stored_at_kills.append(stored)
            elif self.killed_actor is not None and stored >= self.server_at:
                self.stored_at_kills.append(stored)
                self.server.send_signal(signal.SIGKILL)
                self.server.wait()
                self.killed_server = True
                time.sleep(2)
                self.server = self.restart()
            time.sleep(0.3)


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
            saboteur = Saboteur(uri, "faults", server, lambda: start_milvus_lite_server(data, port),
                                actor_at=20, server_at=80)
            saboteur.start()
            report = connector.ingest(rows, batch_size=5, max_retries=12, ray=RayOptions(encoders=2),
                                      show_progress=False)
            saboteur.done.set()
            saboteur.join()
            assert saboteur.killed_actor is not None and saboteur.killed_server
            assert all(stored < ROWS for stored in saboteur.stored_at_kills), saboteur.stored_at_kills  # mid-run
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
