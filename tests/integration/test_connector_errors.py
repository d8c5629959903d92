"""Every bad input a clear error, the same on every engine, nothing half-written.

Each bad input below is tried on every engine (the Milvus server included); the error type and
message must be one and the same everywhere, a LensInputError, and the collection unchanged.
"""

from __future__ import annotations

import pytest

from lens_vdb import LensEncoder, LensError, LensInputError
from tests.integration.engines import ENGINES, open_connector

DOCS = [{"id": f"d{i}", "text": text, "topic": topic} for i, (text, topic) in enumerate([
    ("The central bank raised interest rates.", "business"), ("The striker scored twice in the derby.", "sport"),
    ("The new phone has a faster chip.", "tech")])]

BAD_SEARCHES = [
    {"fusion": "weighted", "weights": (1.0,)},  # one weight (Qdrant dropped the dense route; Milvus raised its own)
    {"fusion": "weighted", "weights": (1.0, 2.0, 3.0)},
    {"fusion": "weighted", "weights": (float("nan"), 1.0)},
    {"fusion": "weighted", "weights": (-1.0, 1.0)},
    {"fusion": "weighted", "weights": (0.0, 0.0)},
    {"fusion": "weighted", "weights": "ab"},
    {"fusion": "weighted", "weights": 1.0},
    {"fusion": "dbsf", "weights": (2.0, 1.0)},
    {"rrf_k": -1}, {"rrf_k": 0}, {"rrf_k": 1.5}, {"rrf_k": 20000},
    {"filter": {"topic": 1.5}}, {"filter": {"topic": None}}, {"filter": {"topic": {"$eq": "sport"}}},
    {"filter": {"topic": []}}, {"filter": {"topic": ["sport", 1]}}, {"filter": {"topic": [True]}},
    {"filter": {"topic.name": "sport"}}, {"filter": {"to pic": "sport"}}, {"filter": {3: "sport"}},
    {"filter": {}}, {"filter": ["topic"]}, {"filter": "topic=sport"},
    {"limit": 0}, {"limit": True}, {"limit": "3"},
    {"group_by_document": True, "group_size": 0},
    {"prefetch_limit": (0, 5)}, {"prefetch_limit": True},
    {"fusion": "max"},
]
BAD_CALLS = {
    "search ''": lambda c: c.search(""),
    "search None": lambda c: c.search(None),
    "use_sparse without lens_sparse": lambda c: c.search("x", use_sparse=True),
    "delete nothing": lambda c: c.delete(),
    "delete both": lambda c: c.delete(["d0"], filter={"topic": "sport"}),
    "delete one id as str": lambda c: c.delete("d0"),
    "delete a float id": lambda c: c.delete([1.5]),
    "delete by a float": lambda c: c.delete(filter={"topic": 1.5}),
    "delete by {}": lambda c: c.delete(filter={}),
    "count by a float": lambda c: c.count(filter={"topic": 2.5}),
    "get one id as str": lambda c: c.get("d0"),
    "chunk_size too big": lambda c: c.ingest(DOCS, chunk_size=100000, show_progress=False),
    "chunk_overlap too big": lambda c: c.ingest(DOCS, chunk_size=64, chunk_overlap=64, show_progress=False),
    "a text that is no text": lambda c: c.ingest([{"id": "x", "text": 3}], show_progress=False),
    "batch_size 0": lambda c: c.ingest(DOCS, batch_size=0, show_progress=False),
    "write_workers True": lambda c: c.ingest(DOCS, write_workers=True, show_progress=False),
    "max_retries 0 on Ray": lambda c: c.ingest(DOCS, max_retries=0, ray=True, show_progress=False),
}


@pytest.fixture(scope="module")
def connectors(tmp_path_factory, built_dirs, minilm):
    encoder = LensEncoder(built_dirs["llama"])
    opened = {}
    for engine in ENGINES:
        c = open_connector(engine, tmp_path_factory.mktemp(engine), encoder=encoder, dense=minilm)
        c.ingest(DOCS, show_progress=False)
        opened[engine] = c
    yield opened
    for c in opened.values():
        c.close()


def outcome(call):
    try:
        call()
    except LensError as error:
        return type(error).__name__, str(error)
    except Exception as error:  # anything else is a defect: report it as such
        return f"not a LensError: {type(error).__name__}", str(error)
    return "no error", ""


@pytest.mark.parametrize("bad", BAD_SEARCHES, ids=repr)
def test_a_bad_search_is_the_same_input_error_on_every_engine(connectors, bad):
    outcomes = {engine: outcome(lambda c=c: c.search("interest rates", **bad)) for engine, c in connectors.items()}
    kinds = {kind for kind, _ in outcomes.values()}
    assert kinds == {"LensInputError"}, outcomes
    assert len({message for _, message in outcomes.values()}) == 1, outcomes


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_a_bad_call_is_the_same_input_error_on_every_engine_and_changes_nothing(connectors, name):
    outcomes = {engine: outcome(lambda c=c: BAD_CALLS[name](c)) for engine, c in connectors.items()}
    assert {kind for kind, _ in outcomes.values()} == {"LensInputError"}, outcomes
    assert len({message for _, message in outcomes.values()}) == 1, outcomes
    for c in connectors.values():
        assert c.count() == 3 and [h.text for h in c.get(["d0"])] == [DOCS[0]["text"]]


def test_the_checks_name_what_is_wrong(connectors):
    c = next(iter(connectors.values()))
    for bad, match in (({"fusion": "weighted", "weights": (1.0,)}, "weights must be two finite, non-negative"),
                       ({"rrf_k": -1}, r"rrf_k must be an int in \[1, 16384\], got -1"),
                       ({"filter": {"topic": 1.5}}, "Filter value for 'topic' is a float"),
                       ({"filter": {"topic": ["sport", 1]}}, "only strings or only integers")):
        with pytest.raises(LensInputError, match=match):
            c.search("x", **bad)


def test_bad_collection_options_are_input_errors(tmp_path, built_dirs, minilm):
    from lens_vdb.connectors import MilvusConnector, QdrantConnector

    encoder = LensEncoder(built_dirs["llama"])
    for bad, match in (({"sparse_top": -1}, "sparse_top must be an int >= 0, got -1"),
                       ({"sparse_top": "8"}, "sparse_top must be an int >= 0, got '8'"),
                       ({"sparse_top": True}, "sparse_top must be an int"),
                       ({"float16": "yes"}, "float16 must be True or False"),
                       ({"quantization": "int4"}, "quantization must be None, 'int8' or 'none'")):
        with pytest.raises(LensInputError, match=match):
            QdrantConnector(tmp_path / "q", encoder=encoder, dense=minilm, **bad)
    with pytest.raises(LensInputError, match="sparse_top must be an int >= 0, got -1"):
        MilvusConnector(tmp_path / "m.db", encoder=encoder, dense=minilm, sparse_top=-1)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
