"""BEIR-layout corpora: read, written back, and every bad line named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lens_vdb import LensInputError
from lens_vdb.eval import Corpus, bbc_corpus, load_beir, write_beir

DOCS = [
    {"_id": "d1", "title": "Rates", "text": "The bank raised interest rates.", "metadata": {"topic": "business"}},
    {"_id": "d2", "title": "", "text": "Inflation fell in March.", "metadata": {"topic": "business"}},
    {"_id": "d3", "text": "The striker scored twice.", "topic": "sport"},
    {"_id": 4, "title": "Cup", "text": "A late goal won the cup.", "metadata": {"topic": "sport"}},
]
QUERIES = [{"_id": "q1", "text": "interest rates"}, {"_id": "q2", "text": "football goals"},
           {"_id": "q3", "text": "nothing relevant"}, {"_id": "q4", "text": "not in this split"}]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq2\td3\t1\nq2\t4\t2\nq2\td1\t0\nq3\td2\t0\n"


def _write(root: Path, docs=DOCS, queries=QUERIES, qrels=QRELS) -> Path:
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_text(qrels)
    return root


def test_a_beir_folder_reads_with_graded_qrels_distractors_and_labels(tmp_path):
    corpus = load_beir(_write(tmp_path / "news"), label_field="topic")
    assert corpus.name == "news" and corpus.query_ids == ["q1", "q2"]  # q3: only 0 grades; q4: not judged
    assert corpus.dropped_queries == 1
    assert corpus.doc_ids == ["d1", "d2", "d3", "4"]
    assert corpus.documents[0] == "Rates The bank raised interest rates." and corpus.documents[1] == DOCS[1]["text"]
    assert corpus.qrels == {"q1": {"d1": 2, "d2": 1}, "q2": {"d3": 1, "4": 2, "d1": 0}}
    assert corpus.labels == ["business", "business", "sport", "sport"]
    # written back and read again: the same corpus
    again = load_beir(write_beir(corpus, tmp_path / "copy"), name="news", label_field="label")
    assert again == Corpus(name="news", query_ids=corpus.query_ids, queries=corpus.queries, doc_ids=corpus.doc_ids,
                           documents=corpus.documents, qrels=corpus.qrels, labels=corpus.labels)


def test_trec_qrels_and_a_split_are_read(tmp_path):
    root = _write(tmp_path, qrels="q1 0 d1 1\nq2 0 d3 3\n")
    (root / "qrels" / "dev.tsv").write_text("q2\td3\t1\n")
    assert load_beir(root).qrels == {"q1": {"d1": 1}, "q2": {"d3": 3}}
    assert load_beir(root, split="dev").query_ids == ["q2"]


BAD = [
    ("corpus.jsonl", "corpus", DOCS[:1] + [{"_id": "d1", "text": "again"}], r"corpus.jsonl:2: duplicate _id 'd1' "
                                                                            r"\(first at line 1\)"),
    ("queries.jsonl", "queries", QUERIES[:1] + [{"_id": "q9", "text": "  "}], r"queries.jsonl:2: query 'q9' has empty"),
    ("corpus.jsonl", "corpus", DOCS[:2] + [{"_id": "d9", "title": "", "text": ""}], r"corpus.jsonl:3: document 'd9' has "
                                                                                    "no text"),
    ("corpus.jsonl", "corpus", DOCS[:1] + [{"text": "no id"}], r"corpus.jsonl:2: the \"_id\" field is missing"),
    ("queries.jsonl", "queries", [{"_id": "q1", "text": 5}], r"queries.jsonl:1: 'q1' needs a string 'text' field"),
    ("qrels/test.tsv", "qrels", "q1\td7\t1\n", r"test.tsv:1: document 'd7' is not in corpus.jsonl"),
    ("qrels/test.tsv", "qrels", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq8\td1\t1\n", r"test.tsv:3: query 'q8' is not "
                                                                                       "in queries.jsonl"),
    ("qrels/test.tsv", "qrels", "q1\td1\thigh\n", r"test.tsv:1: the score 'high' is not an integer"),
    ("qrels/test.tsv", "qrels", "q1\td1\n", r"test.tsv:1: 2 columns"),
    ("qrels/test.tsv", "qrels", "q1\td1\t1\nq1\td1\t2\n", r"test.tsv:2: .*judged twice \(first at line 1\)"),
    ("qrels/test.tsv", "qrels", "q1\td1\t0\n", r"test.tsv judges no document relevant"),
]


@pytest.mark.parametrize(("name", "part", "content", "message"), BAD, ids=[b[3][:30] for b in BAD])
def test_bad_corpora_are_errors_naming_the_file_and_line(tmp_path, name, part, content, message):
    if part == "qrels":
        root = _write(tmp_path, qrels=content)
    else:
        root = _write(tmp_path, **{"docs" if part == "corpus" else part: content})
    with pytest.raises(LensInputError, match=message) as caught:
        load_beir(root)
    assert str(root / name) in str(caught.value)  # the file, by its path


def test_malformed_json_and_missing_files_are_named(tmp_path):
    root = _write(tmp_path)
    with (root / "corpus.jsonl").open("a") as handle:
        handle.write('{"_id": "d9", "text": "cut off\n')
    with pytest.raises(LensInputError, match=r"corpus.jsonl:5: not valid JSON"):
        load_beir(root)
    (root / "queries.jsonl").write_text('["q1", "a list"]\n')
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    with pytest.raises(LensInputError, match=r"queries.jsonl:1: a JSON object is expected, got list"):
        load_beir(root)
    with pytest.raises(LensInputError, match=r"qrels/dev.tsv is missing: a BEIR corpus folder holds"):
        load_beir(root, split="dev")
    with pytest.raises(LensInputError, match=r"document 'd3' has no 'topic' field|'d3' has no"):
        load_beir(_write(tmp_path / "labels", docs=[DOCS[0], {"_id": "d3", "text": "x"}], qrels="q1\td1\t1\n"),
                  label_field="topic")


def test_corpus_checks_ids_texts_and_judgements():
    base = dict(name="c", query_ids=["q1"], queries=["a"], doc_ids=["d1", "d2"], documents=["x", "y"],
                qrels={"q1": {"d1": 1}})
    Corpus(**base)
    with pytest.raises(LensInputError, match="Duplicate document id 'd1' at positions 0 and 1"):
        Corpus(**base | {"doc_ids": ["d1", "d1"]})
    with pytest.raises(LensInputError, match="Query 'q1' of corpus 'c' is empty"):
        Corpus(**base | {"queries": [" "]})
    with pytest.raises(LensInputError, match=r"judged against documents \['d9'\]"):
        Corpus(**base | {"qrels": {"q1": {"d9": 1}}})
    with pytest.raises(LensInputError, match="has no relevant document"):
        Corpus(**base | {"qrels": {"q1": {"d1": 0}}})
    with pytest.raises(LensInputError, match="1 labels for 2 documents"):
        Corpus(**base | {"labels": ["a"]})
    with pytest.raises(LensInputError, match="needs a document for each query"):
        Corpus.known_item("k", ["a", "b"], ["x"])


def test_bbc_is_a_known_item_instance_of_the_general_form():
    corpus = bbc_corpus(limit=20, doc_words=32)
    assert corpus.size == len(corpus.documents) == 20 and corpus.labels is not None
    assert all(corpus.qrels[q] == {d: 1} for q, d in zip(corpus.query_ids, corpus.doc_ids))
    assert corpus.query_ids[0] == corpus.doc_ids[0] == "business/001"
