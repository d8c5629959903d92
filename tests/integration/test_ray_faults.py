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
    """Watches the collection; at the first documents stored (the encoders are past their model loading and
    the writers at work, with most batches still to come) it kills an encoder actor, then the server, and
    starts the server again on the same port and data directory.

    Both kills wait for the same sign and follow each other at once: a run of this size writes in about two
    seconds, and a later threshold (say 20 documents stored) was missed once on a loaded machine."""

    def __init__(self, uri: str, collection: str, server, restart) -> None:
        super().__init__(daemon=True)
        self.uri, self.collection, self.server, self.restart = uri, collection, server, restart
        self.killed_actor: int | None = None
        self.killed_server = False
        self.stored_at_kill = 0  # documents stored when the kills happened
        self.done = threading.Event()

    def run(self) -> None:
        from pymilvus import MilvusClient

        client = MilvusClient(uri=self.uri, timeout=5)
        try:
            while not self.done.is_set() and not self.killed_server:
                stored = self.stored(client)
                actors = descendants_named(ENCODER_ACTOR) if stored > 0 else []
                if actors:
                    self.kill(actors[0], stored)
                time.sleep(0.1)
        finally:
            client.close()

    def stored(self, client) -> int:
        if not client.has_collection(self.collection):
            return 0
        rows = client.query(self.collection, filter="chunk == 0", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def kill(self, actor: int, stored: int) -> None:
        os.kill(actor, signal.SIGKILL)
        self.killed_actor = actor
        self.server.send_signal(signal.SIGKILL)
        self.server.wait()
        self.killed_server = True
        self.stored_at_kill = stored
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
            assert 0 < saboteur.stored_at_kill < ROWS  # mid-run
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
