"""Corpora in the BEIR layout: read with every fault named by file and line, and written.

A BEIR folder holds::

    corpus.jsonl      {"_id": "d1", "title": "...", "text": "...", "metadata": {...}}   one per line
    queries.jsonl     {"_id": "q1", "text": "..."}
    qrels/test.tsv    query-id <TAB> corpus-id <TAB> score      (a header line is optional;
                      the 4-column TREC form "q1 0 d1 2" is read too)

Scores are graded relevance (integers; >= 1 relevant). A document's text is its title and text
joined by a space, as BEIR does. Only queries judged in the split are evaluated; queries whose
judgements are all 0 have nothing to find and are left out (counted in ``dropped_queries``).
The JSONL files are read by lens-vdb's one JSONL reader: a byte-order mark is fine, and
``corpus.jsonl.gz`` / ``queries.jsonl.gz`` are read where the plain file is absent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._errors import LensInputError
from .._jsonl import read_jsonl_objects
from ._corpus import Corpus

__all__ = ["load_beir", "write_beir"]

_LAYOUT = "a BEIR corpus folder holds corpus.jsonl, queries.jsonl (either may be .jsonl.gz) and qrels/<split>.tsv"


def load_beir(directory: str | Path, *, split: str = "test", name: str | None = None,
              label_field: str | None = None) -> Corpus:
    """Read the BEIR folder ``directory`` (its ``qrels/{split}.tsv`` judgements).

    ``label_field`` names a field of each document (top level or in ``metadata``) to use as its
    class for the classification and clustering columns; every document then needs it.
    Raises :class:`~lens_vdb.LensInputError` naming the file and line of the first fault: a
    malformed line, a missing or duplicate id, an empty query or document, a judgement of an
    unknown query or document, a score that is not an integer.
    """
    root = Path(directory)
    corpus_file, queries_file = _jsonl_file(root, "corpus"), _jsonl_file(root, "queries")
    qrels_file = root / "qrels" / f"{split}.tsv"
    for path in (corpus_file, queries_file, qrels_file):
        if not path.is_file():
            raise LensInputError(f"{path} is missing: {_LAYOUT}.")
    doc_ids, documents, labels = [], [], []
    for line, record in _records(corpus_file, {}):
        doc_ids.append(record["_id"])
        title = _text(record, "title", corpus_file, line, required=False)
        text = " ".join(part for part in (title, _text(record, "text", corpus_file, line)) if part.strip())
        if not text.strip():
            raise LensInputError(f"{corpus_file}:{line}: document {record['_id']!r} has no text (title and text "
                                 "are empty); remove it or give it text.")
        documents.append(text)
        if label_field is not None:
            labels.append(_label(record, label_field, corpus_file, line))
    queries: dict[str, str] = {}
    for line, record in _records(queries_file, {}):
        text = _text(record, "text", queries_file, line)
        if not text.strip():
            raise LensInputError(f"{queries_file}:{line}: query {record['_id']!r} has empty text.")
        queries[record["_id"]] = text
    qrels = _read_qrels(qrels_file, queries, set(doc_ids))
    kept = [q for q in queries if any(grade > 0 for grade in qrels.get(q, {}).values())]
    dropped = sum(1 for q in qrels if q not in kept)
    if not kept:
        raise LensInputError(f"{qrels_file} judges no document relevant (score >= 1) for any query; nothing to "
                             "evaluate.")
    return Corpus(name=name or root.name, query_ids=kept, queries=[queries[q] for q in kept], doc_ids=doc_ids,
                  documents=documents, qrels={q: qrels[q] for q in kept},
                  labels=labels if label_field is not None else None, dropped_queries=dropped)


def _jsonl_file(root: Path, stem: str) -> Path:
    """``stem.jsonl``, or ``stem.jsonl.gz`` where only the compressed one exists."""
    plain = root / f"{stem}.jsonl"
    packed = root / f"{stem}.jsonl.gz"
    return packed if packed.is_file() and not plain.is_file() else plain


def _records(path: Path, seen: dict[str, int]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object with a string ``_id``) for each non-blank line; duplicates refused."""
    for number, record in read_jsonl_objects(path, what="BEIR file"):
        identifier = record.get("_id")
        if isinstance(identifier, int) and not isinstance(identifier, bool):
            identifier = record["_id"] = str(identifier)
        if not isinstance(identifier, str) or not identifier:
            raise LensInputError(f"{path}:{number}: the \"_id\" field is missing or not a non-empty string.")
        if identifier in seen:
            raise LensInputError(f"{path}:{number}: duplicate _id {identifier!r} (first at line {seen[identifier]}).")
        seen[identifier] = number
        yield number, record


def _text(record: dict[str, Any], key: str, path: Path, line: int, *, required: bool = True) -> str:
    value = record.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise LensInputError(f"{path}:{line}: {record['_id']!r} needs a string {key!r} field, got {value!r:.40}.")
    return value


def _label(record: dict[str, Any], field: str, path: Path, line: int) -> str:
    metadata = record.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    value = record.get(field, metadata.get(field))
    if value is None:
        raise LensInputError(f"{path}:{line}: document {record['_id']!r} has no {field!r} field (the label field) "
                             "at the top level or in its metadata.")
    return str(value)


def _read_qrels(path: Path, queries: dict[str, str], doc_ids: set[str]) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    first_line: dict[tuple[str, str], int] = {}
    with path.open(encoding="utf-8-sig") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            cells = raw.rstrip("\r\n").split("\t") if "\t" in raw else raw.split()
            if number == 1 and cells[-1].strip().lower() == "score":
                continue  # BEIR's header: query-id, corpus-id, score
            if len(cells) not in (3, 4):
                raise LensInputError(f"{path}:{number}: {len(cells)} columns; a judgement is query-id<TAB>corpus-id"
                                     "<TAB>score (or the TREC form: query-id 0 corpus-id score).")
            query, doc, score = (cells[0], cells[2], cells[3]) if len(cells) == 4 else cells
            query, doc = query.strip(), doc.strip()
            try:
                grade = int(score.strip())
            except ValueError:
                raise LensInputError(f"{path}:{number}: the score {score.strip()!r} is not an integer grade.") from None
            if query not in queries:
                raise LensInputError(f"{path}:{number}: query {query!r} is not in queries.jsonl.")
            if doc not in doc_ids:
                raise LensInputError(f"{path}:{number}: document {doc!r} is not in corpus.jsonl.")
            if (query, doc) in first_line:
                raise LensInputError(f"{path}:{number}: query {query!r} and document {doc!r} are judged twice "
                                     f"(first at line {first_line[query, doc]}).")
            first_line[query, doc] = number
            qrels.setdefault(query, {})[doc] = grade
    return qrels


def write_beir(corpus: Corpus, directory: str | Path, *, split: str = "test") -> Path:
    """Write ``corpus`` as a BEIR folder (labels, if any, go to each document's ``metadata.label``)."""
    root = Path(directory)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for index, (doc_id, text) in enumerate(zip(corpus.doc_ids, corpus.documents)):
            record: dict[str, Any] = {"_id": doc_id, "title": "", "text": text}
            if corpus.labels is not None:
                record["metadata"] = {"label": corpus.labels[index]}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    with (root / "queries.jsonl").open("w", encoding="utf-8") as out:
        for query_id, text in zip(corpus.query_ids, corpus.queries):
            out.write(json.dumps({"_id": query_id, "text": text}, ensure_ascii=False) + "\n")
    with (root / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for query_id in corpus.query_ids:
            for doc_id, grade in corpus.qrels[query_id].items():
                out.write(f"{query_id}\t{doc_id}\t{grade}\n")
    return root
