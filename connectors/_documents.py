"""Reading documents to ingest: iterables of texts or dicts, JSONL, CSV, or a folder of text files."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from lens_vdb import LensInputError
from lens_vdb._jsonl import JSONL_SUFFIXES, read_jsonl_objects

from ._base import Document

__all__ = ["read_documents", "to_document", "DocumentSource"]

DocumentSource = Iterable[str | Mapping[str, Any] | Document] | str | Path


def read_documents(source: DocumentSource, *, text_field: str = "text", id_field: str = "id") -> Iterator[Document]:
    """Yield :class:`Document` s from ``source``, validating each as it is read.

    ``source`` may be an iterable of strings, dicts (``{"id", "text", "metadata" | other keys}``) or
    Documents; or a path: ``*.jsonl`` or ``*.jsonl.gz`` (one object per line, read by
    :func:`lens_vdb._jsonl.read_jsonl`: a byte-order mark is fine, errors name ``file:line``),
    ``*.csv`` (a header row), or a directory of ``*.txt`` files (the relative path is the id). A
    record without a usable text raises :class:`LensInputError` naming it (its position, or its
    file and line), before anything of its batch is written.
    """
    if isinstance(source, (str, Path)) and Path(source).exists():
        path = Path(source)
        if path.is_dir():
            items: Iterable[tuple[str, Any]] = _read_folder(path)
        elif path.name.endswith(JSONL_SUFFIXES):
            items = ((f"{path}:{number}", value) for number, value in read_jsonl_objects(path, what="documents file"))
        elif path.suffix == ".csv":
            items = _read_csv(path)
        else:
            raise LensInputError(f"Cannot ingest {path}: expected a .jsonl, .jsonl.gz or .csv file, or a folder of "
                                 ".txt files.")
    elif isinstance(source, (str, bytes, Path)):
        shown = str(source) if isinstance(source, Path) else str(source)[:80]  # a path whole, a text cut short
        raise LensInputError(f"{shown!r} is neither an existing path nor a list of texts; wrap a "
                             "single text in a list.")
    else:
        items = ((f"#{position}", item) for position, item in enumerate(source))
    for where, item in items:
        yield to_document(item, where, text_field, id_field)


def to_document(item: Any, where: str, text_field: str = "text", id_field: str = "id") -> Document:
    """One item as a :class:`Document`, or a LensInputError naming it (``where``: ``"#3"``, ``"in part-0.parquet"``)."""
    if isinstance(item, Document):
        document = item
    elif isinstance(item, str):
        document = Document(None, item)
    elif isinstance(item, Mapping):
        text = item.get(text_field)
        if not isinstance(text, str):
            raise LensInputError(f"Document {where} (id={item.get(id_field)!r}) has no string {text_field!r} "
                                 f"field; got {type(text).__name__}.")
        raw_id = item.get(id_field)
        metadata = dict(item.get("metadata") or {})
        metadata.update({k: v for k, v in item.items() if k not in (text_field, id_field, "metadata")})
        document = Document(None if raw_id is None else str(raw_id), text, metadata)
    else:
        raise LensInputError(f"Document {where} is a {type(item).__name__}; expected str, dict or Document.")
    if not document.text.strip():
        raise LensInputError(f"Document {where} (id={document.id!r}) has an empty text; nothing to embed.")
    return document


def _read_csv(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:  # utf-8-sig: a byte-order mark is not a header
        reader = csv.DictReader(handle)
        for row in reader:
            yield f"{path}:{reader.line_num}", row


def _read_folder(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for file in sorted(path.rglob("*.txt")):
        relative = file.relative_to(path).as_posix()
        yield str(file), {"id": relative, "text": file.read_text(encoding="utf-8", errors="replace"),
                          "source": relative}
