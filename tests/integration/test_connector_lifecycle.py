"""One contract, every engine: long documents in chunks, documents grouped in search, updates and deletes."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from lens_vdb import LensEncoder, LensInputError
from lens_vdb._inference.features import tokenize_documents
from lens_vdb.connectors import Document, point_id
from lens_vdb.connectors._base import chunk_id
from tests.integration.engines import ENGINE_PARAMS
from tests.integration.test_connector_contract import TEXTS

WINDOW = 32  # the LENS window of these tests' encoder: short, so that a few sentences make several chunks
SENTENCES = TEXTS[:6]  # the contract's news sentences


def article(first: int, sentences: int) -> str:
    """Paragraphs of two sentences each, starting at sentence ``first``."""
    picked = [f"{SENTENCES[(first + i) % len(SENTENCES)]} Item {first}.{i}." for i in range(sentences)]
    return "\n\n".join(" ".join(picked[i:i + 2]) for i in range(0, len(picked), 2))


def rows():
    return [{"id": "long-a", "text": article(0, 8), "topic": "business"},
            {"id": "long-b", "text": article(1, 6), "topic": "sport"},
            {"id": "short-c", "text": "The film won three awards at the festival.", "topic": "culture"},
            {"id": "short-d", "text": "A chip maker released a faster phone.", "topic": "tech"}]


class CountingMiniLM:
    """The real all-MiniLM-L6-v2, counting the texts it embeds (what ingestion encoded)."""

    def __init__(self, minilm):
        self.minilm, self.embedded = minilm, 0
        self.dim, self.name, self.max_tokens = minilm.dim, minilm.name, minilm.max_tokens

    def count_tokens(self, text):
        return self.minilm.count_tokens(text)

    def embed_documents(self, texts):
        self.embedded += len(texts)
        return self.minilm.embed_documents(texts)

    def embed_query(self, text):
        return self.minilm.embed_query(text)


@pytest.fixture(scope="module")
def short_encoder(built_dirs):
    return LensEncoder(built_dirs["llama"], max_length=WINDOW)


@pytest.fixture(params=ENGINE_PARAMS)
def chunked(request, tmp_path, short_encoder, minilm):
    from tests.integration.engines import open_connector

    with open_connector(request.param, tmp_path, encoder=short_encoder, dense=CountingMiniLM(minilm),
                        sparse_top=8) as c:
        yield c


def stored_chunks(connector, doc_id):
    return connector.get([doc_id])


def unique_chunk(connector, doc_id):
    """The longest chunk of ``doc_id`` whose text no other stored chunk has (a query for it has one answer)."""
    every = [c.text for row in rows() for c in stored_chunks(connector, row["id"])]
    return max((c for c in stored_chunks(connector, doc_id) if every.count(c.text) == 1), key=lambda c: len(c.text))


def test_long_documents_become_chunks_with_spans_and_deterministic_ids(chunked, short_encoder, minilm):
    report = chunked.ingest(rows(), batch_size=3, show_progress=False)
    assert (report.ingested, report.updated, report.skipped) == (4, 0, 0)
    assert chunked.count() == 4  # documents, not chunks
    overlaps, total = 0, 0
    for row in rows():
        chunks = stored_chunks(chunked, row["id"])
        total += len(chunks)
        assert [c.chunk for c in chunks] == list(range(len(chunks)))
        key = point_id(row["id"], "")
        assert [c.id for c in chunks] == [chunk_id(key, c.chunk) for c in chunks]  # ids from (document id, chunk)
        covered = np.zeros(len(row["text"]), dtype=bool)
        for c in chunks:
            assert row["text"][c.span[0]:c.span[1]] == c.text and c.doc_id == row["id"]
            assert c.metadata == {"topic": row["topic"]}
            # each chunk is seen whole by both routes: the LENS window (special tokens included) and MiniLM's
            assert len(tokenize_documents(short_encoder.tokenizer, [c.text], 10**6).ids[0]) <= WINDOW
            assert minilm.count_tokens(c.text) <= minilm.max_tokens
            covered[c.span[0]:c.span[1]] = True
        assert all(covered[i] for i, ch in enumerate(row["text"]) if not ch.isspace())  # nothing of the text lost
        overlaps += sum(b.span[0] < a.span[1] for a, b in zip(chunks, chunks[1:]))
        if row["id"].startswith("short"):
            assert len(chunks) == 1 and chunks[0].text == row["text"] and chunks[0].span == (0, len(row["text"]))
        else:
            assert len(chunks) >= 3
    assert overlaps > 0  # neighbouring chunks share a little text by default
    assert report.chunks == total == chunked.store.count(heads_only=False)
    late = unique_chunk(chunked, "long-a")
    hit = chunked.search(late.text, limit=3, fusion="weighted", weights=(0.0, 1.0))[0]  # the dense route alone
    assert (hit.doc_id, hit.chunk, hit.span) == ("long-a", late.chunk, late.span)  # each chunk is its own point


def test_chunk_options_and_chunking_off(chunked):
    chunked.ingest(rows(), chunk_size=16, chunk_overlap=0, show_progress=False)
    small = stored_chunks(chunked, "long-a")
    assert len(small) > 4 and all(b.span[0] >= a.span[1] for a, b in zip(small, small[1:]))  # no overlap
    chunked.encoder._warned_truncation = False  # the encoder warns once; it is shared by every engine's case
    with pytest.warns(UserWarning, match="longer than max_length"):
        report = chunked.ingest(rows(), chunking=False, show_progress=False)  # today's cut-with-warning
    assert report.updated == 4  # other chunking, other points: every document re-encoded and replaced
    whole = stored_chunks(chunked, "long-a")
    assert len(whole) == 1 and whole[0].text == rows()[0]["text"]
    assert chunked.store.count(heads_only=False) == 4  # no chunk of the chunked versions left
    for bad, match in (({"chunk_size": WINDOW + 1}, "over the LENS window"), ({"chunk_size": 4}, "at least 8"),
                       ({"chunk_size": 16, "chunk_overlap": 16}, r"chunk_overlap must be an int in \[0, chunk_size=16\)")):
        with pytest.raises(LensInputError, match=match):
            chunked.ingest(rows(), show_progress=False, **bad)


def test_search_can_return_documents_with_their_best_chunks(chunked):
    chunked.ingest(rows(), show_progress=False)
    target = unique_chunk(chunked, "long-b")
    leader = chunked.search(target.text, limit=3, group_by_document=True, fusion="weighted", weights=(0.0, 1.0))[0]
    assert (leader.doc_id, leader.chunk, leader.chunks[0].text) == ("long-b", target.chunk, target.text)
    for fusion in ("rrf", "weighted"):
        groups = chunked.search(target.text, limit=3, group_by_document=True, group_size=2, fusion=fusion)
        assert len({g.doc_id for g in groups}) == len(groups) == 3
        assert [g.score for g in groups] == sorted((g.score for g in groups), reverse=True)
        for group in groups:
            assert group.id == point_id(group.doc_id, "") and 1 <= len(group.chunks) <= 2
            assert (group.score, group.chunk, group.text) == (group.chunks[0].score, group.chunks[0].chunk,
                                                              group.chunks[0].text)
            assert all(c.doc_id == group.doc_id for c in group.chunks)
            assert [c.score for c in group.chunks] == sorted((c.score for c in group.chunks), reverse=True)
            assert set(group.chunks[0].scores) >= {"lens", "dense"}  # route scores, as on chunk hits
    filtered = chunked.search(target.text, limit=5, group_by_document=True, filter={"topic": ["sport", "tech"]},
                              use_sparse=True, fusion="weighted")
    assert {g.doc_id for g in filtered} == {"long-b", "short-d"}
    options = {"limit": 3, "group_by_document": True, "group_size": 2, "fusion": "weighted"}
    awaited = asyncio.run(chunked.asearch(target.text, **options))  # the engine's async client where it has one
    assert [(g.doc_id, [c.id for c in g.chunks]) for g in awaited] == \
        [(g.doc_id, [c.id for c in g.chunks]) for g in chunked.search(target.text, **options)]


def test_a_changed_text_replaces_every_chunk_and_an_unchanged_one_is_not_encoded(chunked):
    chunked.ingest(rows(), show_progress=False)
    dense = chunked.dense
    v2 = rows()
    v2[0]["text"] = article(3, 2)   # much shorter: its old tail must go
    v2[1]["text"] = article(2, 10)  # longer
    v2[3]["text"] = "A chip maker released a slower phone."
    before = dense.embedded
    report = chunked.ingest(v2, batch_size=2, show_progress=False)
    assert (report.ingested, report.updated, report.skipped, report.failed) == (0, 3, 1, 0)
    assert dense.embedded - before == report.chunks  # only the changed documents' chunks were encoded
    total = 0
    for row in v2:
        chunks = stored_chunks(chunked, row["id"])
        total += len(chunks)
        assert [c.chunk for c in chunks] == list(range(len(chunks)))
        assert all(row["text"][c.span[0]:c.span[1]] == c.text for c in chunks)  # the latest text, every chunk
    assert chunked.store.count(heads_only=False) == total and chunked.count() == 4
    before = dense.embedded
    again = chunked.ingest(v2, show_progress=False)
    assert (again.ingested, again.updated, again.skipped, again.chunks) == (0, 0, 4, 0)
    assert dense.embedded == before  # unchanged documents cost no encoding


def test_delete_removes_documents_with_all_their_chunks(chunked):
    chunked.ingest(rows(), show_progress=False)
    sizes = {row["id"]: len(stored_chunks(chunked, row["id"])) for row in rows()}
    assert chunked.delete(["long-a", "nope"]) == 1
    assert stored_chunks(chunked, "long-a") == [] and chunked.count() == 3
    assert chunked.store.count(heads_only=False) == sum(sizes.values()) - sizes["long-a"]
    assert chunked.search(article(0, 8), limit=10, group_by_document=True)[0].doc_id != "long-a"
    assert chunked.delete(filter={"topic": ["sport", "tech"]}) == 2
    assert chunked.count() == 1 and chunked.store.count(heads_only=False) == sizes["short-c"]
    assert chunked.delete(filter={"topic": "sport"}) == 0
    assert chunked.count(filter={"topic": "culture"}) == 1
    report = chunked.ingest(rows(), show_progress=False)  # deleted documents come back as new ones
    assert (report.ingested, report.updated, report.skipped) == (3, 0, 1)
    assert chunked.store.count(heads_only=False) == sum(sizes.values())


def test_documents_without_ids_are_keyed_by_text(chunked):
    long = article(4, 6)
    chunked.ingest([long, "a short one"], show_progress=False)
    hits = chunked.search(long.split("\n\n")[1], limit=2, group_by_document=True)
    assert hits[0].doc_id is None and hits[0].id == Document(None, long).point_id and len(hits[0].chunks) >= 1
    assert chunked.ingest([long], show_progress=False).skipped == 1
