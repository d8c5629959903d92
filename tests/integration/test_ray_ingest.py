"""Ingestion on Ray stores what ``ingest`` stores: the same points (ids, vectors, payloads), the same hits.

On a local Ray runtime of 2 CPUs with 2 encoder actors, into each kind of writer: qdrant-edge (a
``ray.data.Dataset`` source, planned and written by the driver), Milvus Lite (a list, planned and
written by the driver), and a Milvus Lite server started as its own process and reached by URI
(Parquet files read by Ray Data's reader, the id-lookup stage, many write tasks at once).
"""

from __future__ import annotations

import numpy as np
import pytest

from lens_vdb import LensEncoder
from lens_vdb.connectors import RayIngestReport, RayOptions
from tests.integration.engines import HAVE_MILVUS_LITE, open_connector
from tests.integration.ray_support import WINDOW, bbc_rows, local_ray, points  # skips the module without ray

pytestmark = pytest.mark.slow  # Ray and its actors: a minute or more

ROWS = 100
QUERIES = ["interest rates and inflation", "the striker scored in the cup final", "a faster mobile phone chip",
           "the election campaign", "box office film awards"]
TWO_ENCODERS = RayOptions(encoders=2)

ray_runtime = pytest.fixture(scope="module")(local_ray)


@pytest.fixture(scope="module")
def encoder(built_dirs):
    return LensEncoder(built_dirs["llama"], max_length=WINDOW)


def source_for(engine, rows, tmp_path):
    """Each writer gets another kind of source, so that every reading path runs once."""
    import ray.data

    if engine == "qdrant-edge":
        return ray.data.from_items(rows)
    if engine == "milvus-server":
        import pyarrow as pa
        import pyarrow.parquet as pq

        folder = tmp_path / "parquet"
        folder.mkdir()
        for part in range(3):  # a folder of Parquet files
            pq.write_table(pa.Table.from_pylist(rows[part::3]), folder / f"part-{part}.parquet")
        return folder
    return rows


def assert_same_points(single, distributed):
    """The same point ids, payloads and vectors (fp tolerance: batches pad differently)."""
    expected, got = points(single), points(distributed)
    assert sorted(got) == sorted(expected)
    for point_id, (lens, dense, payload) in expected.items():
        other_lens, other_dense, other_payload = got[point_id]
        assert other_payload == payload
        np.testing.assert_allclose(other_lens, lens, atol=1e-4)
        np.testing.assert_allclose(other_dense, dense, atol=1e-4)


def assert_same_hits(single, distributed, tolerance=1e-4):
    """The same hits, in the same order but for hits whose fused scores tie within ``tolerance``.

    Weighted fusion: its score is a continuous function of the stored vectors, so fp noise moves it by
    ~1e-6. (The tiny test model's LENS cosines sit within ~1e-5 of each other, so a rank-based fusion
    such as RRF reorders its near-ties under that noise, which says nothing about the stores.)
    """
    for query in QUERIES:
        for grouped in (False, True):
            options = {"fusion": "weighted", "group_by_document": grouped, "prefetch_limit": 100}  # whatever limit
            expected = single.search(query, limit=6, **options)  # one more: a tie may come in at the 5th place
            got = distributed.search(query, limit=5, **options)
            assert [h.score for h in got] == pytest.approx([h.score for h in expected[:5]], abs=tolerance)
            score = {h.id: h.score for h in expected}
            for want, have in zip(expected, got):
                if want.id != have.id:  # only a tie may swap
                    assert abs(score.get(have.id, -1.0) - want.score) <= tolerance, (query, grouped, want, have)


# qdrant-edge runs in both suites (Ray actors load the model under each transformers); the Milvus writers are the
# engines' behaviour (engine_only: the 4.57 suite)
ENGINES = ["qdrant-edge", pytest.param("milvus-lite", marks=pytest.mark.engine_only),
           pytest.param("milvus-server", marks=[pytest.mark.engine_only, pytest.mark.skipif(
               not HAVE_MILVUS_LITE, reason="needs milvus-lite (lens-vdb[milvus]) to start a Milvus server")])]


@pytest.mark.parametrize("engine", ENGINES)
def test_ray_stores_what_ingest_stores(engine, tmp_path, ray_runtime, encoder, minilm):
    rows = bbc_rows(ROWS, chars=300)
    with open_connector(engine, tmp_path / "single", encoder=encoder, dense=minilm) as single:
        expected = single.ingest(rows, batch_size=10, show_progress=False)
        with open_connector(engine, tmp_path / "ray", encoder=encoder, dense=minilm) as distributed:
            report = distributed.ingest(source_for(engine, rows, tmp_path), batch_size=10, ray=TWO_ENCODERS,
                                        show_progress=False)
            assert isinstance(report, RayIngestReport)
            assert (report.ingested, report.skipped, report.failed, report.chunks) == (ROWS, 0, 0, expected.chunks)
            assert expected.chunks > ROWS  # some leads are cut into several chunks
            assert sum(report.encoders.values()) == 2 and report.docs_per_second > 0
            assert distributed.count() == ROWS
            assert_same_points(single, distributed)
            assert_same_hits(single, distributed)


@pytest.mark.engine_only
def test_changed_documents_are_updated_on_ray_and_a_rerun_starts_no_actor(tmp_path, ray_runtime, encoder, minilm):
    rows = bbc_rows(40)
    changed = [dict(row) for row in rows] + [{"id": "new-1", "text": "A brand new story about tennis.",
                                              "topic": "sport"}]
    changed[0]["text"] = rows[0]["text"][:60]  # shorter: its old tail chunks must go
    changed[1]["text"] = rows[1]["text"] + "\n\nA further paragraph on the same story, added later."
    with open_connector("milvus-lite", tmp_path / "single", encoder=encoder, dense=minilm) as single, \
            open_connector("milvus-lite", tmp_path / "ray", encoder=encoder, dense=minilm) as distributed:
        single.ingest(rows, batch_size=8, show_progress=False)
        single.ingest(changed, batch_size=8, show_progress=False)
        assert distributed.ingest(rows, batch_size=8, ray=TWO_ENCODERS, show_progress=False).ingested == 40
        report = distributed.ingest(changed, batch_size=8, ray=TWO_ENCODERS, show_progress=False)
        assert (report.ingested, report.updated, report.skipped, report.failed) == (1, 2, 38, 0)
        assert_same_points(single, distributed)  # no stale chunk of the old versions
        again = distributed.ingest(changed, batch_size=8, ray=TWO_ENCODERS, show_progress=False)
        assert (again.ingested, again.updated, again.skipped, again.encoders) == (0, 0, 41, {})


@pytest.mark.engine_only  # the CLI's Ray options; actors loading the model under 5.x: the test above, in both suites
def test_the_cli_ingests_on_ray(tmp_path, ray_runtime, built_dirs, capsys):
    import json

    from lens_vdb.cli import main

    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in bbc_rows(12, chars=120)))
    where = ["--location", str(tmp_path / "store"), "--model", str(built_dirs["llama"])]
    assert main(["ingest", str(source), "--ray", "--encoders", "1", "--batch-size", "4", *where]) == 0
    out = capsys.readouterr().out
    assert "ingested 12," in out and "1 encoder actor(s) on 1 node(s)" in out
