"""One contract, every engine: collections that remember their models and options, exist before they are
read, have names that are names, and say so when another process holds them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from lens_vdb import LensConnectionError, LensEncoder, LensInputError, LensSchemaError
from lens_vdb.connectors import MilvusConnector, QdrantConnector
from tests.integration.engines import ENGINE_PARAMS, milvus_uri, open_connector, server_collection

DOCS = [{"id": "a", "text": "The central bank raised interest rates.", "topic": "business"},
        {"id": "b", "text": "The striker scored twice in the derby.", "topic": "sport"}]


@pytest.fixture(scope="module")
def encoder(built_dirs):
    return LensEncoder(built_dirs["llama"])


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    """Another LENS model of the same k (another base and seed): the tiny Llama and Mistral of ``built_dirs``
    share their weights, so they are one model to a fingerprint."""
    from lens_vdb import build_lens_model
    from tests.tiny import make_causal_lm

    base = make_causal_lm(tmp_path_factory.mktemp("other_base"), "llama", seed=1)
    return build_lens_model(base, k=32, seed=1, niter=10).save_pretrained(tmp_path_factory.mktemp("other_lens"))


def qdrant(engine: str) -> bool:
    return engine.startswith("qdrant")


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_reading_a_missing_collection_is_an_error_and_creates_nothing(engine, tmp_path, encoder, minilm):
    with open_connector(engine, tmp_path, encoder=encoder, dense=minilm) as c:
        for call in (lambda: c.search("interest rates"), c.count, lambda: c.delete(["a"]),
                     lambda: c.delete(filter={"topic": "sport"}), lambda: c.get(["a"])):
            with pytest.raises(LensInputError, match=r"does not exist, so there is nothing to \w+ \(nothing was created\)"):
                call()
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"id": "x", "text": "fine"}\nnot json\n')
        with pytest.raises(LensInputError, match="bad.jsonl:2: not valid JSON"):
            c.ingest(bad, show_progress=False)  # a failed ingestion leaves no empty collection either
        assert c.store.stored_spec() is None
    if engine in ("qdrant-edge", "milvus-lite"):  # not even a file
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]
    with open_connector(engine, tmp_path, encoder=encoder, dense=minilm) as c:
        assert c.ingest(DOCS, show_progress=False).ingested == 2 and c.count() == 2  # the first write creates it


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_reopening_adopts_the_stored_options_and_refuses_other_ones(engine, tmp_path, encoder, minilm):
    options = {"sparse_top": 8} | ({"quantization": "int8", "float16": True, "on_disk": True} if qdrant(engine) else {})
    with open_connector(engine, tmp_path, encoder=encoder, dense=minilm, **options) as c:
        c.ingest(DOCS, show_progress=False)
    with open_connector(engine, tmp_path, encoder=encoder, dense=minilm) as c:  # options not given: adopted
        assert c.spec.sparse_top == 8 and c.spec.int8 == c.spec.float16 == c.spec.on_disk == qdrant(engine)
        assert c.search(DOCS[1]["text"], use_sparse=True, fusion="weighted", limit=1)[0].doc_id == "b"
        assert c.ingest(DOCS, show_progress=False).skipped == 2
    with pytest.raises(LensSchemaError, match=r"'sparse_top': \(8, 16\)"):
        open_connector(engine, tmp_path, encoder=encoder, dense=minilm, sparse_top=16)
    with pytest.raises(LensSchemaError, match=r"'sparse_top': \(8, 0\)"):
        open_connector(engine, tmp_path, encoder=encoder, dense=minilm, sparse_top=0)
    if qdrant(engine):
        with pytest.raises(LensSchemaError, match=r"'int8': \(True, False\)"):
            open_connector(engine, tmp_path, encoder=encoder, dense=minilm, quantization="none")


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_reopening_with_another_model_of_the_same_size_names_both(engine, tmp_path, encoder, minilm, built_dirs,
                                                                  other_model):
    with open_connector(engine, tmp_path, encoder=encoder, dense=minilm) as c:
        c.ingest(DOCS, show_progress=False)
    other = LensEncoder(other_model)
    assert other.k == encoder.k and other.fingerprint != encoder.fingerprint
    with pytest.raises(LensSchemaError, match="LENS model") as error:
        open_connector(engine, tmp_path, encoder=other, dense=minilm)
    for named in (encoder.fingerprint, other.fingerprint, str(built_dirs["llama"]), str(other_model)):
        assert named in str(error.value)

    def reversed_minilm(texts):  # another dense model of the same dimension
        return minilm.embed_documents(texts)[:, ::-1]

    with pytest.raises(LensSchemaError, match="dense") as error:
        open_connector(engine, tmp_path, encoder=encoder, dense=reversed_minilm)
    assert minilm.name in str(error.value) and "reversed_minilm" in str(error.value)
    copy = shutil.copytree(built_dirs["llama"], tmp_path / "same-model-elsewhere")
    with open_connector(engine, tmp_path, encoder=LensEncoder(copy), dense=minilm) as c:  # same model, other path
        assert c.ingest(DOCS, show_progress=False).skipped == 2


@pytest.mark.slow
def test_a_collection_an_earlier_default_wrote_says_which_default_reads_it(tmp_path, minilm):
    """The default model moved (wordnet-v1 -> retrieval-v1): a collection records the version, not "default", and
    opening one an earlier default wrote says how to read it."""
    from lens_vdb._model.default import DEFAULT_VERSION

    with open_connector("qdrant-edge", tmp_path, encoder=LensEncoder("default-wordnet-v1"), dense=minilm) as c:
        c.ingest(DOCS, show_progress=False)
    with pytest.raises(LensSchemaError, match="encoder='default-<version>'") as error:  # today's default: why not
        open_connector("qdrant-edge", tmp_path, dense=minilm)
    assert "default-wordnet-v1" in str(error.value) and f"default-{DEFAULT_VERSION} now" in str(error.value)
    with open_connector("qdrant-edge", tmp_path / "new", dense=minilm) as c:
        c.ingest(DOCS, show_progress=False)
        assert c.spec.lens_model_name == f"default-{DEFAULT_VERSION}"
    with open_connector("qdrant-edge", tmp_path, encoder="default-wordnet-v1", dense=minilm) as c:
        assert c.search("Who scored in the derby?", limit=1)[0].doc_id == "b"


BAD_NAMES = ["..", ".", "", "a/b", "../up", "a\\b", "x" * 256, "with space", "caf\u00e9", ".hidden", None]


def test_a_collection_name_is_a_name(tmp_path, encoder, minilm):
    store = tmp_path / "store"
    for name in BAD_NAMES:
        for make in (lambda n: QdrantConnector(store, n, encoder=encoder, dense=minilm),
                     lambda n: QdrantConnector(store, n, engine="client", encoder=encoder, dense=minilm),
                     lambda n: MilvusConnector(store / "m.db", n, encoder=encoder, dense=minilm)):
            with pytest.raises(LensInputError, match="collection"):
                make(name)
    with pytest.raises(LensInputError, match=r"letters, digits and '_', starting with a letter or '_'; got 'a-b'"):
        MilvusConnector(store / "m.db", "a-b", encoder=encoder, dense=minilm)
    assert not store.exists() and sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written anywhere
    with QdrantConnector(store, "news-2024.v1", encoder=encoder, dense=minilm) as c:  # what Qdrant takes
        c.ingest(DOCS, show_progress=False)
    assert sorted(p.name for p in store.iterdir()) == ["news-2024.v1"]


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from lens_vdb import LensEncoder
    from lens_vdb.connectors._dense import MiniLMEmbedder
    from tests.integration.engines import open_connector
    engine, where, model = sys.argv[1:4]
    c = open_connector(engine, Path(where), encoder=LensEncoder(model), dense=MiniLMEmbedder("cpu"))
    c.ingest([{"id": "a", "text": "The central bank raised interest rates."}], show_progress=False)
    print("OPEN", flush=True)
    sys.stdin.readline()  # hold the store until the test is done
""")


@pytest.mark.parametrize("engine", ["qdrant-edge", "qdrant-local", "milvus-lite"])
def test_an_embedded_store_open_in_another_process_is_a_connection_error(engine, tmp_path, encoder, minilm,
                                                                         built_dirs):
    # the other process makes the collection: this one never opens it before (pymilvus keeps a Milvus Lite
    # database it opened, and its lock, for the life of the process, even after the client is closed)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, engine, str(tmp_path), str(built_dirs["llama"])],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "OPEN"
        with pytest.raises(LensConnectionError) as error:
            open_connector(engine, tmp_path, encoder=encoder, dense=minilm)
        message = str(error.value)
        assert str(tmp_path) in message and "another process" in message and "server" in message
    finally:
        holder.communicate("done\n", timeout=60)
    with open_connector(engine, tmp_path, encoder=encoder, dense=minilm) as c:  # released: opens again
        assert c.count() == 1


@pytest.mark.parametrize("engine", ["milvus-lite", pytest.param("milvus-server", marks=ENGINE_PARAMS[3].marks)])
def test_a_collection_made_by_another_connector_meanwhile_is_checked_before_use(engine, tmp_path, encoder, minilm):
    """A connector opened before its collection existed checks the spec another one made it with
    (Milvus takes several clients of one database in a process; the embedded Qdrants take one)."""
    with open_connector(engine, tmp_path, encoder=encoder, dense=minilm) as early:
        with open_connector(engine, tmp_path, encoder=encoder, dense=minilm, sparse_top=8) as maker:
            maker.ingest(DOCS, show_progress=False)
        with pytest.raises(LensSchemaError, match=r"'sparse_top': \(8, 0\)"):
            early.search("interest rates")
    with open_connector(engine, tmp_path, encoder=encoder, dense=minilm) as early:  # adopted: fine
        assert early.count() == 2


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_repr_names_the_location_and_the_collection(engine, tmp_path, encoder, minilm):
    server = engine.endswith("-server")
    name = server_collection("reprs", tmp_path) if server else "reprs"
    location = {"qdrant-server": os.environ.get("QDRANT_URL", ""), "milvus-server": milvus_uri() if engine ==
                "milvus-server" else "", "milvus-lite": str(tmp_path / "milvus.db")}.get(engine, str(tmp_path))
    with open_connector(engine, tmp_path, "reprs", encoder=encoder, dense=minilm) as c:
        assert c.collection.name == name
        expected = (f"QdrantConnector(location={location!r}, collection={name!r}, k={encoder.k})" if qdrant(engine)
                    else f"MilvusConnector(location={location!r}, collection={name!r})")
        assert repr(c) == expected


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_each_store_is_a_store_and_says_whether_it_is_an_async_one_and_which_fusions_it_runs(
        engine, tmp_path, encoder, minilm):
    from lens_vdb.connectors._store import AsyncStore, Store, async_store

    with open_connector(engine, tmp_path, encoder=encoder, dense=minilm) as c:
        assert isinstance(c.store, Store)
        native = engine in ("qdrant-server", "milvus-lite", "milvus-server")  # the engines with an async client
        assert c.store.native_async is native and (async_store(c.store) is c.store) is native
        if native:
            assert isinstance(c.store, AsyncStore)
        if engine == "qdrant-edge":
            assert not isinstance(c.store, AsyncStore)  # no coroutines at all
        assert c.collection.fusions == (("rrf", "dbsf", "weighted") if qdrant(engine) else ("rrf", "weighted"))
