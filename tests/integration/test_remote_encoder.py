"""The remote encoder against a real Triton Inference Server serving a repository written by export_triton.

The server (``tests/integration/triton.py``) runs the tiny model's graph through its Python backend;
the local ONNX backend runs the same graph here. Vectors must agree within 1e-5 for queries and
documents, over the JSON and binary encodings, the blocking and async clients, and batches larger
than the server's. Errors (no server, unknown model, model not ready, a refused request) must be
LensConnectionError / LensModelError naming the URL.
"""

from __future__ import annotations

import asyncio
import warnings

import numpy as np
import pytest

from lens_vdb import LensConnectionError, LensEncoder, LensInputError, LensModelError, RemoteOptions
from lens_vdb.export import TritonOptions, export_triton
from tests.integration.engines import free_port
from tests.integration.triton import TritonServer, requires_triton

pytestmark = [requires_triton, pytest.mark.slow, pytest.mark.filterwarnings("ignore:.*longer than max_length")]

QUERIES = ["bank rates", "who won the cup final at Wembley after extra time?", "   ", "fox " * 400, ""]
DOCUMENTS = ["The Bank of England raised interest rates.", "", "Chelsea won.", "river bank " * 300, "\n\t",
             "A lexicon embedding maps text to weighted vocabulary clusters."] * 3
MAX_BATCH = 4  # the server's: every client batch above it must be split


@pytest.fixture(scope="module")
def server(tmp_path_factory, exported):
    root = tmp_path_factory.mktemp("triton")
    repo = root / "repo"
    export_triton(exported, repo, options=TritonOptions(max_batch_size=MAX_BATCH, preferred_batch_sizes=(2, 4),
                                                          cpu_threads=1))
    broken = export_triton(exported, repo, name="broken")
    (broken / "1" / "model.onnx").write_bytes(b"not a graph")  # Triton lists it, UNAVAILABLE
    server = TritonServer(repo, root / "triton.log", extra=("--exit-on-error=false", "--strict-readiness=false"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def local(exported):
    return LensEncoder(exported, backend="onnx", threads=1)


def _remote(server, exported, **options):
    return LensEncoder(exported, url=server.url(), remote=RemoteOptions(**options))


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_remote_vectors_are_the_local_onnx_backends(server, exported, local, binary):
    remote = _remote(server, exported, binary=binary)
    assert (remote.backend, remote.fingerprint, remote.k) == ("remote", local.fingerprint, local.k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the over-long texts are cut, as locally
        pairs = [
            (remote.encode_queries(QUERIES), local.encode_queries(QUERIES)),
            (remote.encode_queries(QUERIES, "sts"), local.encode_queries(QUERIES, "sts")),
            (remote.encode_queries(QUERIES, instruction=""), local.encode_queries(QUERIES, instruction="")),
            (remote.encode_documents(DOCUMENTS), local.encode_documents(DOCUMENTS)),
            (remote.encode_documents(DOCUMENTS, "clustering"), local.encode_documents(DOCUMENTS, "clustering")),
            (remote.encode_documents(DOCUMENTS, batch_size=3), local.encode_documents(DOCUMENTS)),
        ]
    for got, expected in pairs:
        assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-5
    blank = [i for i, text in enumerate(DOCUMENTS) if not text.strip()]
    assert not pairs[3][0][blank].any() and pairs[3][0][[0, 2]].any()  # blank texts: the zero vector, as locally
    assert remote._backend.binary is binary and remote._backend.info.max_batch_size == MAX_BATCH
    got = remote.encode_documents(DOCUMENTS[:6], sparse=True, top_k=8)
    expected = local.encode_documents(DOCUMENTS[:6], sparse=True, top_k=8)
    for g, e in zip(got, expected):
        assert np.array_equal(g.indices, e.indices) and np.allclose(g.values, e.values, atol=1e-5)
    assert remote.explain(pairs[3][0][0]) == local.explain(pairs[3][1][0])


def test_blank_and_bad_texts_are_refused_as_locally_before_any_request(server, exported):
    remote = _remote(server, exported)
    for bad, error in (("one string", TypeError), ([1, "a"], TypeError), (["\ud800"], LensInputError)):
        with pytest.raises(error):
            remote.encode_documents(bad)
    assert remote._backend.info is None  # nothing was sent


def test_the_async_client_gives_the_same_vectors_and_splits_batches_at_once(server, exported, local):
    remote = _remote(server, exported)

    async def both():
        queries = await remote.aencode_queries(QUERIES[:3])
        documents = await remote.aencode_documents(DOCUMENTS, batch_size=16)
        return queries, documents

    queries, documents = asyncio.run(both())
    assert np.abs(queries - local.encode_queries(QUERIES[:3])).max() <= 1e-5
    assert np.abs(documents - local.encode_documents(DOCUMENTS)).max() <= 1e-5
    assert remote._backend._client is None  # the blocking client was never opened
    # a second event loop gets its own AsyncClient (the first loop's connections died with it)
    again = asyncio.run(remote.aencode_documents(DOCUMENTS[:2]))
    assert np.abs(again - local.encode_documents(DOCUMENTS[:2])).max() <= 1e-5


def test_langchain_and_llamaindex_take_the_remote_encoder_and_await_its_server(server, exported, local):
    pytest.importorskip("langchain_core")
    pytest.importorskip("llama_index.core")
    from lens_vdb.integrations.langchain import LensEmbeddings, LensSparseEmbeddings
    from lens_vdb.integrations.llamaindex import LensEmbedding

    remote = _remote(server, exported)
    embeddings = LensEmbeddings(remote)
    sparse = LensSparseEmbeddings(embeddings, top_k=4)
    llama = LensEmbedding(remote)

    async def calls():
        return (await embeddings.aembed_documents(DOCUMENTS[:3]), await embeddings.aembed_query("bank rates"),
                await sparse.aembed_query("bank rates"), await llama.aget_text_embedding_batch(DOCUMENTS[3:6]),
                await llama.aget_query_embedding("fox"))

    documents, query, sparse_query, nodes, llama_query = asyncio.run(calls())
    assert remote._backend._async and remote._backend._client is None  # all through the AsyncClient
    assert np.abs(np.array(documents) - local.encode_documents(DOCUMENTS[:3])).max() <= 1e-5
    assert np.abs(np.array(query) - local.encode_queries(["bank rates"])[0]).max() <= 1e-5
    assert len(sparse_query.indices) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.abs(np.array(nodes) - local.encode_documents(DOCUMENTS[3:6])).max() <= 1e-5
    assert np.abs(np.array(llama_query) - local.encode_queries(["fox"])[0]).max() <= 1e-5
    assert np.abs(np.array(embeddings.embed_documents(DOCUMENTS[:3])) - np.array(documents)).max() == 0  # the LRU


def test_no_server_is_a_connection_error_naming_the_url_after_the_retries(exported):
    port = free_port()
    remote = LensEncoder(exported, url=f"http://127.0.0.1:{port}/v2/models/lens",
                         remote=RemoteOptions(retries=2, backoff=0.01))
    with pytest.raises(LensConnectionError, match=rf"127\.0\.0\.1:{port}.*ConnectError.*after 3 tries") as caught:
        remote.encode_documents(["a"])
    assert type(caught.value) is LensConnectionError
    with pytest.raises(LensConnectionError, match=rf"127\.0\.0\.1:{port}"):
        asyncio.run(remote.aencode_documents(["a"]))


def test_an_unknown_model_and_a_model_not_ready_are_model_errors_saying_so(server, exported):
    unknown = LensEncoder(exported, url=server.url("nope"))
    with pytest.raises(LensModelError, match=r"has no model at .*/v2/models/nope .*unknown model"):
        unknown.encode_documents(["a"])
    broken = LensEncoder(exported, url=server.url("broken"))
    with pytest.raises(LensModelError, match=r"/v2/models/broken is not ready \(UNAVAILABLE"):
        broken.encode_documents(["a"])


def test_a_refused_request_is_a_model_error_naming_the_url(server, exported):
    backend = _remote(server, exported)._backend
    ids = np.array([[5, 6, 2]], dtype=np.int64)
    with pytest.raises(LensModelError, match=r"/v2/models/lens refused a batch of \[1, 3\].*one shape"):
        backend.run(ids, np.ones((1, 4), np.int64))  # a mask of another shape: model.py refuses it
    with pytest.raises(LensModelError, match=r"/v2/models/lens refused.*all 0"):
        backend.run(ids, np.zeros((1, 3), np.int64))


def test_a_server_running_another_model_is_refused_by_fingerprint(tmp_path, server, exported):
    other = tmp_path / "other"
    other.mkdir()
    for path in exported.iterdir():
        (other / path.name).write_bytes(path.read_bytes())
    (other / "manifest.json").write_text((exported / "manifest.json").read_text().replace(
        '"model_fingerprint": "', '"model_fingerprint": "x'))
    remote = LensEncoder(other, url=server.url())
    with pytest.raises(LensModelError, match=r"is lens-.*but the tokenizer and config .* are from xlens-"):
        remote.encode_documents(["a"])


@pytest.mark.engine_only  # the server's and the store's behaviour: once, in the transformers 4.57 suite
def test_killing_the_server_during_an_ingest_is_a_clear_error_and_a_rerun_completes_it(tmp_path, exported, minilm):
    pytest.importorskip("qdrant_edge")
    from tests.integration.engines import open_connector
    from tests.integration.test_connector_kills import check_exactly

    repo = tmp_path / "repo"
    export_triton(exported, repo, options=TritonOptions(max_batch_size=2, preferred_batch_sizes=(2,), cpu_threads=1))
    server = TritonServer(repo, tmp_path / "triton.log").start()
    rows = [{"id": f"d{i}", "text": f"Article {i}: the bank raised rates and Chelsea won the cup. " * (1 + i % 3)}
            for i in range(12)]

    def killed_at(n):
        for index, row in enumerate(rows):
            if index == n:
                server.kill()  # SIGKILL: mid-ingest, as a crash or a preempted node
            yield row

    try:
        remote = LensEncoder(exported, url=server.url(), remote=RemoteOptions(retries=1, backoff=0.05))
        with open_connector("qdrant-edge", tmp_path / "store", encoder=remote, dense=minilm) as connector:
            with pytest.raises(LensConnectionError, match=rf"Cannot reach the LENS server at {server.root}"):
                connector.ingest(killed_at(6), batch_size=2, write_workers=1, show_progress=False)
            written = connector.count()
            assert 0 < written < len(rows)  # some batches went in before the kill, the rest did not
            server.start()  # the same ports: the same URL
            report = connector.ingest(rows, batch_size=2, show_progress=False)
            assert (report.failed, report.skipped, report.ingested) == (0, written, len(rows) - written)
            check_exactly(connector, rows)  # each document once, every chunk, not one point more
            assert connector.search(rows[7]["text"], limit=1)[0].doc_id == "d7"  # searching encodes remotely too
            hits = asyncio.run(connector.asearch(rows[7]["text"], limit=1))  # on the AsyncClient
            assert hits[0].doc_id == "d7" and remote._backend._async
    finally:
        server.stop()


def test_ray_encoder_actors_are_given_the_remote_encoder_and_call_the_same_server(tmp_path, server, exported, minilm,
                                                                                  local):
    pytest.importorskip("qdrant_edge")
    cloudpickle = pytest.importorskip("ray.cloudpickle")  # how Ray ships the recipe to its actors

    from lens_vdb.connectors import Document
    from lens_vdb.connectors._ray.encode import encoder_recipe
    from lens_vdb.connectors._ray.options import RayOptions
    from tests.integration.engines import open_connector

    remote = _remote(server, exported, token="s3cret-token", retries=1)
    with open_connector("qdrant-edge", tmp_path / "store", encoder=remote, dense=minilm) as connector:
        build = connector._builder(True, None, None)
        recipe = encoder_recipe(build, RayOptions(dense=lambda: minilm), chunking=True, chunk_size=None,
                                chunk_overlap=None)
        assert (recipe.backend, recipe.url, recipe.remote) == ("remote", server.url(), remote.remote)
        actor_build = cloudpickle.loads(cloudpickle.dumps(recipe)).load()  # as an actor receives and loads it
        assert actor_build.encoder.url == server.url() and actor_build.encoder.remote.token == "s3cret-token"
        document = Document("d1", "The Bank of England raised interest rates.")
        (record,) = actor_build([document])
        assert np.abs(np.asarray(record.lens) - local.encode_documents([document.text])[0]).max() <= 1e-5


def test_the_cli_embeds_on_the_server_with_url(server, exported, local, capsys):
    import json

    from lens_vdb.cli import main

    assert main(["embed", "--model", str(exported), "--url", server.url(), "--query", "bank rates"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    expected = local.explain(local.encode_queries(["bank rates"])[0])
    assert [top["cluster"] for top in line["top"]] == [e.cluster for e in expected]


def _encode_copies(objects):
    """In another process (multiprocessing, spawn): the unpickled encoder and framework objects, sync and async."""
    encoder, embeddings, llama, onnx = objects

    async def awaited():
        return (await encoder.aencode_documents(DOCUMENTS[:3]), await embeddings.aembed_documents(DOCUMENTS[3:6]),
                await llama.aget_query_embedding("bank rates"))

    sync = (encoder.encode_queries(QUERIES[:2]), embeddings.embed_query("bank rates"),
            llama.get_text_embedding_batch(DOCUMENTS[:2]), onnx.encode_documents(DOCUMENTS[:2]))
    headers = encoder._backend._client.headers
    return sync, asyncio.run(awaited()), (headers.get("authorization"), headers.get("x-tenant"))


def test_a_copied_or_pickled_remote_encoder_opens_its_own_clients_and_keeps_its_credentials_hidden(
        server, exported, local, caplog):
    import copy
    import logging
    import pickle

    remote = _remote(server, exported, token="s3cret-token", headers={"X-Tenant": "t-hidden"}, retries=1)
    remote.encode_documents(DOCUMENTS[:2])
    asyncio.run(remote.aencode_documents(DOCUMENTS[:2]))  # a blocking client and a closed loop's AsyncClient
    caplog.set_level(logging.DEBUG)
    for clone in (pickle.loads(pickle.dumps(remote)), copy.deepcopy(remote)):
        assert clone._backend._client is None and not clone._backend._async and clone._backend.info is None
        assert (clone.url, clone.remote, clone.fingerprint) == (remote.url, remote.remote, remote.fingerprint)
        assert np.abs(clone.encode_documents(DOCUMENTS) - local.encode_documents(DOCUMENTS)).max() <= 1e-5
        got = asyncio.run(clone.aencode_queries(QUERIES[:2]))
        assert np.abs(got - local.encode_queries(QUERIES[:2])).max() <= 1e-5
        assert clone._backend._client is not remote._backend._client  # its own pooled client, opened on first use
        assert clone._backend._client.headers["authorization"] == "Bearer s3cret-token"
        assert clone._backend._client.headers["x-tenant"] == "t-hidden"
        assert "s3cret" not in repr(clone) + repr(clone._backend) and "t-hidden" not in repr(clone._backend)
    assert caplog.records and "s3cret" not in caplog.text and "t-hidden" not in caplog.text


def test_langchain_and_llamaindex_objects_on_a_remote_encoder_pickle_and_run_in_another_process(
        server, exported, local):
    pytest.importorskip("langchain_core")
    pytest.importorskip("llama_index.core")
    import copy
    import multiprocessing
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    from lens_vdb.integrations.langchain import LensEmbeddings, LensSparseEmbeddings
    from lens_vdb.integrations.llamaindex import LensEmbedding

    remote = _remote(server, exported, token="s3cret-token", headers={"X-Tenant": "t-hidden"})
    embeddings, sparse, llama = LensEmbeddings(remote), LensSparseEmbeddings(remote, top_k=4), LensEmbedding(remote)
    for original in (embeddings, sparse, llama):
        for clone in (pickle.loads(pickle.dumps(original)), copy.deepcopy(original)):
            assert (clone.encoder.backend, clone.url, clone.remote) == ("remote", server.url(), remote.remote)
            assert "s3cret" not in repr(clone) and "t-hidden" not in repr(clone)
        assert "s3cret" not in str(original.model_dump()) + (original.to_json() if original is llama else "")
    clone = pickle.loads(pickle.dumps(embeddings))
    assert np.abs(np.array(clone.embed_documents(DOCUMENTS[:3])) - local.encode_documents(DOCUMENTS[:3])).max() <= 1e-5
    assert pickle.loads(pickle.dumps(sparse)).embed_query("bank rates") == sparse.embed_query("bank rates")
    assert copy.deepcopy(llama).encoder is remote  # a copy in this process shares the encoder and its recent vectors
    # another process: what multiprocessing (and Ray, with cloudpickle) does with them
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        sync, awaited, headers = pool.submit(_encode_copies, (remote, embeddings, llama, local)).result(timeout=300)
    assert headers == ("Bearer s3cret-token", "t-hidden")
    expected = (local.encode_queries(QUERIES[:2]), local.encode_queries(["bank rates"])[0],
                local.encode_documents(DOCUMENTS[:2]), local.encode_documents(DOCUMENTS[:2]),
                local.encode_documents(DOCUMENTS[:3]),
                local.encode_documents(DOCUMENTS[3:6]), local.encode_queries(["bank rates"])[0])
    for got, want in zip((*sync, *awaited), expected):
        assert np.abs(np.asarray(got) - want).max() <= 1e-5
