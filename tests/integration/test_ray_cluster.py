"""A two-node Ray cluster on loopback: a head started with ``ray start --head`` on a free port and a second
node joined with ``ray start --address``, one CPU each. Two encoder actors of one CPU each must land one on
each node (read from the report), the collection ends complete, and the teardown stops exactly the two process
groups this test started."""

from __future__ import annotations

import pytest

from lens_vdb import LensEncoder
from lens_vdb.connectors import QdrantConnector, RayOptions
from tests.integration.engines import free_port
from tests.integration.ray_support import TwoNodeCluster, bbc_rows  # skips the module without ray

ROWS = 60


@pytest.fixture()
def cluster():
    import ray

    assert not ray.is_initialized(), "this test joins its own cluster"
    nodes = TwoNodeCluster(free_port())
    try:
        yield nodes
    finally:
        left = nodes.stop()
        assert left == [], f"process groups still alive after the teardown: {left}"


def test_encoder_actors_spread_over_two_nodes(cluster, tmp_path, built_dirs, minilm):
    import ray

    rows = bbc_rows(ROWS, chars=160)
    with QdrantConnector(tmp_path, "two_nodes", encoder=LensEncoder(built_dirs["llama"]), dense=minilm) as store:
        report = store.ingest(rows, batch_size=5, ray=RayOptions(address=cluster.address, encoders=2),
                              show_progress=False)
        assert not ray.is_initialized()  # the run joined the cluster, and left it
        assert (report.ingested, report.failed) == (ROWS, 0)
        assert len(report.encoders) == 2 and list(report.encoders.values()) == [1, 1], report.encoders
        assert store.count() == ROWS
