"""Milvus rows, messages and expressions: what lens-vdb writes to and asks of a Milvus collection.

Kept apart from the store so that the limits (message size, text bytes) are plain module constants.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lens_vdb import LensInputError

from .._base import DENSE, LENS, LENS_SPARSE, Record

__all__ = ["MAX_DIM", "MAX_TEXT_BYTES", "MAX_MESSAGE_BYTES", "MAX_ROWS", "DEFAULT_INDEX", "PAYLOAD_FIELDS",
           "OUTPUT_FIELDS", "SPEC_PROPERTY", "messages", "where", "chunks_expr", "stored_spec", "index_types",
           "locked"]

MAX_DIM = 32768  # Milvus servers refuse more; Milvus Lite accepts it, so lens-vdb enforces it
MAX_TEXT_BYTES = 65535
MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # inserts are chunked well under the 64 MB gRPC cap
MAX_ROWS = 16384  # Milvus' largest query limit
DEFAULT_INDEX = {"lite": "FLAT", "server": "AUTOINDEX"}
PAYLOAD_FIELDS = ["doc_id", "parent", "chunk", "chunks", "span", "text", "metadata", "text_hash", "model_hash"]
OUTPUT_FIELDS = [*PAYLOAD_FIELDS, LENS, DENSE]
SPEC_PROPERTY = "lens_vdb.collection_spec"


def stored_spec(text: str | None) -> dict[str, Any] | None:
    """The spec lens-vdb stored with a collection, if it stored one."""
    try:
        return json.loads(text or "")
    except ValueError:
        return None


def index_types(index_type: str | dict[str, str] | None, default: str) -> dict[str, str]:
    """The index of each dense field: one type for both, or ``{"lens": ..., "dense": ...}`` (others default)."""
    if index_type is None or isinstance(index_type, str):
        return {LENS: index_type or default, DENSE: index_type or default}
    unknown = set(index_type) - {LENS, DENSE}
    if unknown:
        raise LensInputError(f"index_type names {sorted(unknown)}; it takes {LENS!r} and {DENSE!r} (the sparse "
                             "field always uses SPARSE_INVERTED_INDEX).")
    return {LENS: index_type.get(LENS, default), DENSE: index_type.get(DENSE, default)}


def messages(records: Sequence[Record]) -> Iterator[list[dict[str, Any]]]:
    """Rows for Milvus, in messages kept under the gRPC cap (``MAX_MESSAGE_BYTES``)."""
    rows = [{"id": record.id, **record.payload, LENS: record.lens, DENSE: record.dense} for record in records]
    for record, row in zip(records, rows):  # all checked before the first message goes out: nothing half-written
        if len(row["text"].encode()) > MAX_TEXT_BYTES:
            raise LensInputError(f"Document id={record.document.id!r} has over {MAX_TEXT_BYTES} bytes of text in one "
                                 "point, Milvus' VARCHAR limit; ingest it with chunking on.")
        if record.sparse_indices is not None and record.sparse_values is not None:
            row[LENS_SPARSE] = dict(zip(record.sparse_indices, record.sparse_values))
    message: list[dict[str, Any]] = []
    size = 0
    for record, row in zip(records, rows):
        row_bytes = 4 * (len(record.lens) + len(record.dense)) + len(row["text"].encode()) + 1024
        if message and size + row_bytes > MAX_MESSAGE_BYTES:
            yield message
            message, size = [], 0
        message.append(row)
        size += row_bytes
    if message:
        yield message


def where(filter: dict[str, Any] | None, heads_only: bool) -> str:
    """A Milvus expression for a metadata filter checked by ``_checks.check_filter`` (and chunk 0 only)."""
    clauses = ["chunk == 0"] if heads_only else []
    for key, value in (filter or {}).items():
        field = f'metadata["{key}"]'
        if isinstance(value, (list, tuple, set, frozenset)):  # Milvus Lite takes no JSON path left of 'in'
            clauses.append("(" + " or ".join(f"{field} == {json.dumps(v)}" for v in value) + ")")
        else:
            clauses.append(f"{field} == {json.dumps(value)}")
    return " and ".join(clauses)


def chunks_expr(chunks: Mapping[str, int]) -> str:
    """For each ``parent -> n``, the document's points with ``chunk >= n`` (all of them for 0)."""
    every = [key for key, n in chunks.items() if n <= 0]
    clauses = [f"parent in {json.dumps(every)}"] if every else []
    clauses += [f"(parent == {json.dumps(key)} and chunk >= {int(n)})" for key, n in chunks.items() if n > 0]
    return " or ".join(clauses)


def locked(path: Path) -> bool:
    """Whether another process holds Milvus Lite's lock on the database folder ``path``.

    Read from ``/proc/locks`` where there is one (this process's own lock, taken by pymilvus'
    in-process server, is not another process's); else by trying the lock.
    """
    lock = path / "LOCK"
    if not lock.is_file():
        return False
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return _try_lock(lock)
    status = lock.stat()
    file_id = f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == file_id:
            return fields[4] != str(os.getpid())
    return False


def _try_lock(lock: Path) -> bool:
    import fcntl

    with lock.open("rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False
