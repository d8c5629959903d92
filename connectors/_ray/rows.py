"""The rows a distributed ingestion passes between its Ray stages, as Arrow tables.

One row is one document, from reading to writing, so a write batch always holds whole documents
(every chunk of each: the write order of ``_collection`` needs them together). Documents and
records travel as Python objects in Ray's pickled-object Arrow column (between this run's own
workers only); everything else is a plain Arrow column.

    key       the document's key (its chunk 0's point id)
    id        its id, or null when keyed by text
    hash      the hash of its text
    status    what the run does with it (see below)
    error     why it failed (status ``failed``)
    retried   store calls retried for the batch it came in (on its first row)
    document  the Document (reading -> encoding)
    records   its Records (encoding -> writing)
    node      the Ray node and ``actor`` the encoder actor that encoded it
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from .._ingest import FAILED, NEW, SKIPPED, UPDATED, Item, doc_name

__all__ = ["NEW", "UPDATED", "LOOKUP", "SKIPPED", "FAILED", "to_table", "rows_of", "name_of"]

# a row's status: NEW, UPDATED (to encode), SKIPPED (stored unchanged, or a copy met earlier), FAILED (its
# look-up failed): the plan's (``_ingest``); or LOOKUP: not known yet, the id-lookup stage decides
LOOKUP = "lookup"

_OBJECTS = ("document", "records")
_INTS = ("retried",)


def to_table(rows: Iterable[Mapping[str, Any]], columns: Iterable[str]) -> pa.Table:
    """Rows (dicts) as an Arrow table of ``columns``: objects pickled, counts int64, the rest strings."""
    from ray.data.extensions.object_extension import ArrowPythonObjectArray

    rows = list(rows)
    arrays = {}
    for name in columns:
        values = [row.get(name) for row in rows]
        if name in _OBJECTS:
            arrays[name] = ArrowPythonObjectArray.from_objects(values)
        elif name in _INTS:
            arrays[name] = pa.array([value or 0 for value in values], pa.int64())
        else:
            arrays[name] = pa.array(values, pa.string())
    return pa.table(arrays)


def rows_of(table: pa.Table) -> list[dict[str, Any]]:
    """A batch's rows as dicts (objects unpickled)."""
    return table.to_pylist()


def name_of(row: Mapping[str, Any]) -> str:
    """How a failure names a document: its id, or its key when it has none (as ``ingest`` does)."""
    return doc_name(Item(row["key"], row.get("id"), ""))
