"""One contract, every engine: round trip, idempotency, resume, schema, filters, fusion, bad input."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lens_vdb import LensEncoder, LensInputError, LensSchemaError
from lens_vdb.connectors import Document, point_id
from tests.integration.engines import ENGINE_PARAMS, ENGINES, open_connector

TOPICS = ["business", "sport", "tech"]
TEXTS = [
    "The Bank of England raised interest rates to curb inflation.",
    "Chelsea won the cup final after extra time at Wembley.",
    "The new phone has a faster chip and a better camera.",
    "Parliament debated the budget and the tax on fuel.",
    "Stocks fell sharply as investors worried about growth and oil prices.",
    "The striker scored twice as the home side won the derby.",
    "A start-up released an open-source database for vector search.",
    "The central bank kept borrowing costs unchanged this month.",
]


def docs():
    return [{"id": f"d{i}", "text": t, "topic": TOPICS[i % 3]} for i, t in enumerate(TEXTS)]


@pytest.fixture(scope="module")
def encoder(built_dirs):
    return LensEncoder(built_dirs["llama"])


@pytest.fixture(params=ENGINE_PARAMS)
def connector(request, tmp_path, encoder, minilm):
    with open_connector(request.param, tmp_path, encoder=encoder, dense=minilm, task="sts", sparse_top=8) as c:
        yield c


def test_round_trip_stores_vectors_payload_and_metadata(connector):
    report = connector.ingest(docs(), batch_size=3, show_progress=False)
    assert (report.ingested, report.skipped, report.failed) == (8, 0, 0)
    assert connector.count() == 8
    hits = connector.search(TEXTS[2], limit=3)
    assert hits[0].doc_id == "d2" and hits[0].text == TEXTS[2] and hits[0].metadata == {"topic": "tech"}
    assert hits[0].id == point_id("d2", TEXTS[2])
    assert hits[0].scores["lens"] == pytest.approx(1.0, abs=1e-4)
    assert hits[0].scores["dense"] == pytest.approx(1.0, abs=1e-4)
    # the collection records MiniLM by its hub name, as collections written by earlier versions did
    spec = connector.store.stored_spec()
    assert (spec["dense_model"], spec["dense_dim"]) == ("sentence-transformers/all-MiniLM-L6-v2", 384)


def test_reingest_is_idempotent(connector):
    connector.ingest(docs(), show_progress=False)
    again = connector.ingest(docs() + [{"id": "d99", "text": "One more document about tennis."}], show_progress=False)
    assert (again.ingested, again.skipped) == (1, 8)
    assert connector.count() == 9


def test_texts_without_ids_get_content_ids_and_duplicates_are_stored_once(connector):
    report = connector.ingest(["same text here", "same text here", "another text"], show_progress=False)
    assert report.ingested == 2 and connector.count() == 2
    # a duplicate in a later batch of the same run is skipped, not counted twice
    report = connector.ingest(["fresh one", "fresh two", "fresh one"], batch_size=2, show_progress=False)
    assert (report.ingested, report.skipped) == (2, 1) and connector.count() == 4


def test_one_id_for_two_different_texts_is_refused_before_its_batch_is_written(connector):
    rows = [{"id": "a", "text": "first text"}, {"id": "b", "text": "second text"}, {"id": "a", "text": "other text"}]
    with pytest.raises(LensInputError, match=r"id='a' comes twice in this ingestion with different texts"):
        connector.ingest(rows, batch_size=2, show_progress=False)
    assert connector.count() == 2  # the first batch was complete and is kept; the bad one wrote nothing
    with pytest.raises(LensInputError, match=r"id='a' comes twice"):
        connector.ingest(rows[::-1], show_progress=False)  # within one batch too


@pytest.mark.parametrize("fusion", ["rrf", "dbsf", "weighted"])
def test_a_document_matching_both_routes_ranks_first(connector, fusion):
    connector.ingest(docs(), show_progress=False)
    if fusion == "dbsf" and "Milvus" in type(connector).__name__:
        with pytest.raises(LensInputError, match="Milvus has no DBSF"):
            connector.search(TEXTS[0], fusion=fusion)
        return
    for i in (0, 5):
        hits = connector.search(TEXTS[i], fusion=fusion, limit=4)
        assert hits[0].doc_id == f"d{i}"
        assert hits[0].score >= hits[1].score


def test_fused_scores_follow_the_route_scores_and_weights(connector):
    """Queries unlike any stored text, so both routes matter: each fusion's score is recomputed from
    the route cosines and the route ranks, and must be what the engine returned."""
    connector.ingest(docs(), show_progress=False)
    query = "why did the central bank change interest rates this month?"
    for weights in ((1.0, 1.0), (3.0, 0.5)):
        hits = connector.search(query, fusion="weighted", weights=weights, limit=8, prefetch_limit=8)
        assert len(hits) == 8
        for hit in hits:  # weighted at 1:1 is the cosine of the concatenated normalised vectors, times 2
            assert hit.score == pytest.approx(weights[0] * hit.scores["lens"] + weights[1] * hit.scores["dense"],
                                              abs=2e-3)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    hits = connector.search(query, fusion="rrf", rrf_k=10, limit=8, prefetch_limit=8)
    by_lens = [h.doc_id for h in sorted(hits, key=lambda h: -h.scores["lens"])]
    by_dense = [h.doc_id for h in sorted(hits, key=lambda h: -h.scores["dense"])]
    for n_lens, n_dense in ((1, 3), (3, 1)):  # each route its own candidate count
        fused = connector.search(query, fusion="rrf", limit=8, prefetch_limit=(n_lens, n_dense))
        assert {h.doc_id for h in fused} == set(by_lens[:n_lens]) | set(by_dense[:n_dense])
    with pytest.raises(LensInputError, match="prefetch_limit must be"):
        connector.search(query, prefetch_limit=(0, 5))
    rank = {route: {h.doc_id: r for r, h in enumerate(sorted(hits, key=lambda h: -h.scores[route]), 1)}
            for route in ("lens", "dense")}
    for hit in hits:
        expected = sum(1 / (10 + rank[route][hit.doc_id]) for route in ("lens", "dense"))
        assert hit.score == pytest.approx(expected, rel=1e-3), hit.doc_id


def test_sparse_route_and_weights(connector):
    connector.ingest(docs(), show_progress=False)
    fusion = "weighted" if "Milvus" in type(connector).__name__ else "rrf"
    hits = connector.search(TEXTS[4], use_sparse=True, weights=(3.0, 1.0), fusion=fusion, limit=3)
    assert hits[0].doc_id == "d4"
    assert hits[0].scores["lens"] == pytest.approx(1.0, abs=1e-4)
    hits = connector.search("why did the central bank change interest rates?", use_sparse=True,
                            weights=(3.0, 0.5), fusion="weighted", limit=8, prefetch_limit=8)
    for hit in hits:  # the fused score is built from the sparse route's top-N dot product, not the full cosine
        assert 0 < hit.scores["lens_sparse"] < hit.scores["lens"]
        assert hit.score == pytest.approx(3.0 * hit.scores["lens_sparse"] + 0.5 * hit.scores["dense"], abs=2e-3)


def test_filters_really_filter(connector):
    connector.ingest(docs(), show_progress=False)
    hits = connector.search(TEXTS[0], filter={"topic": "sport"}, limit=8)
    assert hits and {h.metadata["topic"] for h in hits} == {"sport"}
    hits = connector.search(TEXTS[0], filter={"topic": ["sport", "tech"]}, limit=8)
    assert {h.metadata["topic"] for h in hits} <= {"sport", "tech"} and len(hits) == 5


def test_explanations_name_shared_clusters(connector):
    connector.ingest(docs(), show_progress=False)
    hit = connector.search(TEXTS[1], explain=True, limit=1)[0]
    assert hit.explanation and all(weight > 0 and tokens for _, weight, tokens in hit.explanation)


def test_bad_input_names_the_document_and_writes_nothing_of_its_batch(connector, minilm):
    assert connector.ingest([], show_progress=False).ingested == 0
    with pytest.raises(LensInputError, match=r"Document #1 \(id='x2'\) has no string 'text'"):
        connector.ingest([{"id": "x1", "text": "fine"}, {"id": "x2", "body": "no text"}], show_progress=False)
    with pytest.raises(LensInputError, match="empty text"):
        connector.ingest(["   "], show_progress=False)
    assert connector.store.stored_spec() is None  # failed ingestions left no (empty) collection behind
    with pytest.raises(LensInputError, match="non-empty string"):
        connector.search("")
    with pytest.raises(LensInputError, match="fusion must be one of"):
        connector.search("x", fusion="max")


def test_the_store_takes_concurrent_writes_and_lookups(connector):
    """The pipeline writes from a thread pool while the caller looks documents up; every engine must take that,
    and the collection, made by the first write, is made once.

    qdrant-client's local mode shares one SQLite connection and fails here ("SystemError: error
    return without exception set") unless its calls take turns.
    """
    from concurrent.futures import ThreadPoolExecutor

    from lens_vdb.connectors._base import Record

    rng = np.random.default_rng(0)
    spec = connector.spec

    def write_then_look_up(i):
        records = []
        for j in range(3):
            document = Document(f"c{i}-{j}", f"concurrent {i} {j}", {"topic": "tech"})
            lens, dense = rng.random(spec.k) + 0.01, rng.random(spec.dense_dim) + 0.01
            records.append(Record(document.point_id, document, (lens / np.linalg.norm(lens)).tolist(),
                                  (dense / np.linalg.norm(dense)).tolist(), [0, 1], [0.5, 0.25]))
        connector.collection.write(records)
        return set(connector.store.heads([r.id for r in records])) == {r.id for r in records}

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert all(pool.map(write_then_look_up, range(48)))
    assert connector.count() == 48 * 3


def test_nan_and_wrong_dimension_from_the_dense_embedder_are_refused(tmp_path, encoder, minilm):
    def flaky(texts):
        out = minilm.embed_documents(texts)
        out[[i for i, t in enumerate(texts) if "poison" in t]] = np.nan
        return out

    for engine in ENGINES:
        with open_connector(engine, tmp_path / engine, encoder=encoder, dense=flaky) as c:
            with pytest.raises(LensInputError, match=r"id='bad'.*NaN"):
                c.ingest([{"id": "ok", "text": "fine"}, {"id": "bad", "text": "poison pill"}], show_progress=False)
            assert c.store.stored_spec() is None  # nothing written, no empty collection left behind
            with pytest.raises(LensInputError, match=r"NaN.*for the query 'poison query'"):
                c.search("poison query")  # the query is checked as the documents are

    def shrinking(texts):
        return minilm.embed_documents(texts)[:, : 384 if texts == ["dimension probe"] else 100]

    with open_connector(ENGINES[0], tmp_path / "dims", encoder=encoder, dense=shrinking) as c:
        with pytest.raises(LensInputError, match=r"shape \(1, 100\).*\(1, 384\)"):
            c.ingest(["text"], show_progress=False)


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_reopening_with_another_schema_is_a_clear_error(tmp_path, engine, encoder, minilm, built_dirs):
    def made(where, **options):
        with open_connector(engine, where, encoder=encoder, dense=minilm, **options) as c:
            c.ingest(docs()[:2], show_progress=False)

    made(tmp_path)
    with pytest.raises(LensSchemaError, match="another schema"):
        open_connector(engine, tmp_path, encoder=encoder, dense=minilm, sparse_top=16)
    # the same vectors but another top-N for lens_sparse would mix two sparse forms in one collection
    made(tmp_path / "sparse", sparse_top=8)
    with pytest.raises(LensSchemaError, match=r"'sparse_top': \(8, 16\)"):
        open_connector(engine, tmp_path / "sparse", encoder=encoder, dense=minilm, sparse_top=16)
    open_connector(engine, tmp_path / "sparse", encoder=encoder, dense=minilm, sparse_top=8).close()


def test_edge_and_client_give_the_same_hits_and_scores(tmp_path, encoder, minilm):
    results = []
    for engine in ("qdrant-edge", "qdrant-local"):
        with open_connector(engine, tmp_path / engine, encoder=encoder, dense=minilm, sparse_top=8) as c:
            c.ingest(docs(), show_progress=False)
            results.append([c.search(q, fusion=f, limit=5) for q in TEXTS[:3] for f in ("rrf", "dbsf", "weighted")])
    for edge_hits, client_hits in zip(*results):
        assert np.allclose([h.score for h in edge_hits], [h.score for h in client_hits], atol=1e-4)
        edge_scores = {h.id: h.scores["lens"] for h in edge_hits}
        for rank, (edge, client) in enumerate(zip(edge_hits, client_hits)):
            if edge.id != client.id:  # only a tie (equal fused scores) may swap places, never the top hit
                assert rank >= 1 and abs(edge.score - client.score) < 1e-4, (rank, edge, client)
        shared = set(edge_scores) & {h.id for h in client_hits}
        assert len(shared) >= len(edge_hits) - 1
        for hit in client_hits:
            if hit.id in edge_scores:
                assert abs(edge_scores[hit.id] - hit.scores["lens"]) < 1e-5


CHILD = textwrap.dedent("""
    import json, sys
    from lens_vdb import LensEncoder
    from lens_vdb.connectors._dense import MiniLMEmbedder
    from tests.integration.engines import open_connector
    from pathlib import Path
    import time
    engine, where, model, path = sys.argv[1:5]
    docs = [json.loads(line) for line in open(path)]
    def slowly():  # the rest arrives slowly: the kill lands mid-run however fast this machine is
        for d in docs:
            yield d
            time.sleep(0.25)
    c = open_connector(engine, Path(where), encoder=LensEncoder(model), dense=MiniLMEmbedder("cpu"))
    c.ingest(docs[:24], batch_size=4, show_progress=False)  # stored (and acknowledged) before the kill
    print("HALFWAY", flush=True)
    c.ingest(slowly(), batch_size=4, show_progress=False)
    print("DONE", flush=True)
""")


@pytest.mark.parametrize("engine", ["qdrant-edge", "qdrant-local", "milvus-lite"])
def test_resume_after_the_ingesting_process_is_killed(tmp_path, engine, encoder, minilm, built_dirs):
    data = tmp_path / "docs.jsonl"
    rows = [{"id": f"n{i}", "text": f"News item {i}: {TEXTS[i % 8]}"} for i in range(40)]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    child = subprocess.Popen([sys.executable, "-c", CHILD, engine, str(tmp_path / "db"), str(built_dirs["llama"]),
                              str(data)], stdout=subprocess.PIPE, text=True, cwd=str(__import__("pathlib").Path.cwd()))
    for line in child.stdout:
        if "HALFWAY" in line:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=120)
    assert child.returncode == -signal.SIGKILL
    with open_connector(engine, tmp_path / "db", encoder=encoder, dense=minilm) as c:
        before = c.count()
        # Milvus Lite may lose writes it acknowledged but had not flushed when killed; the Qdrant engines keep them
        assert (0 if engine == "milvus-lite" else 24) <= before < 40
        report = c.ingest(data, batch_size=4, show_progress=False)
        assert report.skipped == before and report.ingested == 40 - before
        assert c.count() == 40
        assert c.ingest(data, show_progress=False).skipped == 40


def test_documents_are_read_from_jsonl_csv_and_folders(tmp_path, encoder, minilm):
    (tmp_path / "a.jsonl").write_text('{"id": "j1", "text": "from jsonl"}\n\n{"id": "j2", "text": "second"}\n')
    (tmp_path / "b.csv").write_text("id,text,topic\nc1,from csv,tech\n")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f.txt").write_text("from a folder")
    with open_connector("qdrant-edge", tmp_path / "db", encoder=encoder, dense=minilm) as c:
        total = sum(c.ingest(src, show_progress=False).ingested for src in (tmp_path / "a.jsonl", tmp_path / "b.csv", folder))
        assert total == 4 and c.count() == 4
        hit = c.search("from csv", limit=4)
        assert any(h.doc_id == "c1" and h.metadata == {"topic": "tech"} for h in hit)
        assert any(h.doc_id == "sub/f.txt" for h in hit)
        (tmp_path / "bad.jsonl").write_text('{"id": 1, "text": "ok"}\nnot json\n')
        with pytest.raises(LensInputError, match=r"bad.jsonl:2: not valid JSON"):
            c.ingest(tmp_path / "bad.jsonl", show_progress=False)


def test_document_files_are_read_by_the_one_jsonl_reader(tmp_path):
    from lens_vdb.connectors._documents import read_documents

    lines = '{"id": "a", "text": "first", "topic": "tech"}\n\n{"id": "b", "text": "second"}\n'
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + lines.encode())  # what Windows tools write
    with gzip.open(tmp_path / "packed.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(lines)
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfid,text\nc,third\n")
    for name in ("bom.jsonl", "packed.jsonl.gz"):
        read = list(read_documents(tmp_path / name))
        assert [(d.id, d.text, d.metadata) for d in read] == [("a", "first", {"topic": "tech"}), ("b", "second", {})]
    assert [(d.id, d.text) for d in read_documents(tmp_path / "bom.csv")] == [("c", "third")]
    (tmp_path / "list.jsonl").write_text('{"id": "a", "text": "ok"}\n["not", "an", "object"]\n')
    with pytest.raises(LensInputError, match=r"list.jsonl:2: a JSON object is expected, got list"):
        list(read_documents(tmp_path / "list.jsonl"))
    (tmp_path / "untexted.jsonl").write_text('{"id": "a", "text": "ok"}\n\n{"id": "b", "body": "no text"}\n')
    with pytest.raises(LensInputError, match=r"Document \S*untexted.jsonl:3 \(id='b'\) has no string 'text'"):
        list(read_documents(tmp_path / "untexted.jsonl"))
    with pytest.raises(LensInputError, match=r"missing.jsonl' is neither an existing path nor a list of texts"):
        list(read_documents(tmp_path / "missing.jsonl"))  # a Path too, not a TypeError from iterating it
    (tmp_path / "broken.jsonl.gz").write_bytes(b"not gzip")
    with pytest.raises(LensInputError, match=r"Cannot read documents file \S*broken.jsonl.gz"):
        list(read_documents(tmp_path / "broken.jsonl.gz"))


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_async_forms_do_not_block_the_event_loop(tmp_path, encoder, minilm, engine):
    from tests.event_loop import run_counting_ticks

    with open_connector(engine, tmp_path, encoder=encoder, dense=minilm, task="sts") as c:
        report, ticks = run_counting_ticks(lambda: c.aingest(docs(), batch_size=2, show_progress=False))
        assert report.ingested == 8 and ticks > 5
        hits, _ = run_counting_ticks(lambda: c.asearch(TEXTS[3], limit=2))
        assert hits[0].doc_id == "d3" and [h.id for h in hits] == [h.id for h in c.search(TEXTS[3], limit=2)]
        filtered, _ = run_counting_ticks(lambda: c.asearch(TEXTS[3], limit=8, filter={"topic": "sport"}))
        assert {h.metadata["topic"] for h in filtered} == {"sport"}


def test_async_ingest_on_milvus_goes_through_async_milvus_client(tmp_path, encoder, minilm):
    import asyncio

    with open_connector("milvus-lite", tmp_path, encoder=encoder, dense=minilm) as c:
        assert c.store._async is None  # the sync forms never make one
        report = asyncio.run(c.aingest(docs(), batch_size=3, show_progress=False))
        assert report.ingested == 8 and c.count() == 8
        loop_client = c.store._async
        assert loop_client is not None and type(loop_client[1]).__name__ == "AsyncMilvusClient"
        again = asyncio.run(c.aingest(docs(), batch_size=3, show_progress=False))  # lookups through it as well
        assert (again.ingested, again.skipped) == (0, 8) and c.store._async is not loop_client
        changed = docs()
        changed[0]["text"] = "The Bank of England kept interest rates where they were."
        again = asyncio.run(c.aingest(changed, batch_size=3, show_progress=False))  # deletes through it too
        assert (again.updated, again.skipped) == (1, 7) and [h.text for h in c.get(["d0"])] == [changed[0]["text"]]


def test_documents_type_is_accepted(connector):
    report = connector.ingest([Document("x", "a typed document", {"topic": "tech"})], show_progress=False)
    assert report.ingested == 1


def test_binary_quantization_is_refused_and_int8_float16_on_disk_work(tmp_path, encoder, minilm):
    from lens_vdb.connectors import QdrantConnector

    with pytest.raises(LensInputError, match="Binary quantization collapses LENS vectors"):
        QdrantConnector(tmp_path / "b", encoder=encoder, dense=minilm, quantization="binary")
    for engine in [e for e in ENGINES if e.startswith("qdrant")]:
        with open_connector(engine, tmp_path / f"q-{engine}", encoder=encoder, dense=minilm, task="sts",
                            quantization="int8", float16=True, on_disk=True) as c:
            c.ingest(docs(), show_progress=False)
            assert c.search(TEXTS[6], limit=1)[0].doc_id == "d6"


def test_a_dead_server_is_a_connection_error(encoder, minilm):
    from lens_vdb import LensConnectionError
    from lens_vdb.connectors import QdrantConnector

    with pytest.raises(LensConnectionError, match="Cannot reach Qdrant at http://127.0.0.1:9") as error:
        QdrantConnector("http://127.0.0.1:9", encoder=encoder, dense=minilm, api_key="secret-key-123", timeout=2)
    assert "secret-key-123" not in str(error.value)


@pytest.mark.skipif(not os.environ.get("QDRANT_URL"), reason="set QDRANT_URL to test AsyncQdrantClient on a server")
def test_async_forms_on_a_server_use_async_qdrant_client(tmp_path, encoder, minilm):
    import asyncio

    with open_connector("qdrant-server", tmp_path, encoder=encoder, dense=minilm, task="sts") as c:
        assert c.store.async_client is not None

        async def ingest_then_search():  # one event loop, as an application has
            report = await c.aingest(docs(), batch_size=3, show_progress=False)  # writes via AsyncQdrantClient
            return report, await c.asearch(TEXTS[3], limit=2, filter={"topic": "business"})

        report, hits = asyncio.run(ingest_then_search())
        assert report.ingested == 8 and c.count() == 8
        assert hits[0].doc_id == "d3"
