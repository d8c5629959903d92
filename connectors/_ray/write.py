"""The writers of a distributed ingestion, and what they count.

A server engine (Qdrant URL, Milvus URI) is written by many Ray write tasks at once (a Ray Data
``Datasink``), each opening its own client; an embedded engine (qdrant-edge folder, Milvus Lite
file, qdrant local mode) belongs to the one process that opened it, so the driver writes it,
consuming the encoded stream while the actors go on encoding. Both write a batch of whole
documents with ``Collection.write`` through ``_ingest.call`` (the same write
order, schema checks and retries as ``ingest``). Imported only when a distributed ingestion runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from ray.data import Datasink
from ray.data.block import BlockAccessor

from lens_vdb import LensConnectionError

from .._base import CollectionSpec
from .._collection import Collection
from .._ingest import FAILED, NEW, UPDATED, Tally, call, retrying
from .._store import Store, StoreRecipe
from .rows import name_of, rows_of

__all__ = ["write_rows", "write_on_driver", "open_store", "LensDatasink"]


def write_rows(collection: Collection, rows: Iterable[Mapping[str, Any]], max_retries: int, tally: Tally) -> None:
    """Write the encoded documents of one batch in one ``Collection.write``; count every row."""
    todo = []
    for row in rows:
        tally.rows += 1
        tally.retried += row.get("retried") or 0
        if row.get("node"):
            tally.encoders.setdefault(row["node"], set()).add(row["actor"])
        if row["status"] == FAILED:
            tally.fail([name_of(row)], row["error"])
        elif (row["status"] in (NEW, UPDATED) and row.get("records")
              and row["key"] not in tally.new and row["key"] not in tally.updated):
            todo.append(row)
    if not todo:
        return
    records = [record for row in todo for record in row["records"]]
    error = call(collection, collection.write, records, max_retries, tally)  # counts retries in tally.retried
    if isinstance(error, BaseException):
        tally.fail([name_of(row) for row in todo], error)
        return
    for row in todo:
        tally.wrote(row["key"], row["status"])
    tally.chunks += len(records)


def write_on_driver(collection: Collection, encoded: Any, max_retries: int) -> tuple[Tally, float | None]:
    """The single writer of an embedded engine: every encoded block, written as it arrives.

    Returns the tally and when the first encoded block arrived (``time.perf_counter()``).
    """
    tally, first = Tally(), None
    for block in encoded.iter_batches(batch_size=None, batch_format="pyarrow"):
        first = first or time.perf_counter()
        write_rows(collection, rows_of(block), max_retries, tally)
    return tally, first


def open_store(recipe: StoreRecipe, max_retries: int) -> Store:
    """A client of this process's own, opened under the retry policy while the server cannot be reached."""
    return retrying(max_retries, lambda error: isinstance(error, LensConnectionError))(recipe.open)


class LensDatasink(Datasink):
    """Write tasks that each open their own client and write whole documents, retrying as ``ingest`` does.

    The collection is created (or opened and checked) once, on the driver, before the first write
    task: many writers creating it on their first write would race.
    """

    def __init__(self, recipe: StoreRecipe, spec: CollectionSpec, max_retries: int) -> None:
        self.recipe, self.spec, self.max_retries = recipe, spec, max_retries
        self.tally: Tally | None = None
        self.first_write: float | None = None

    def on_write_start(self, schema: Any = None) -> None:
        self.first_write = time.perf_counter()
        collection = Collection(open_store(self.recipe, self.max_retries), self.spec, exists=False)
        try:
            collection.create_once()
        finally:
            collection.close()

    def write(self, blocks: Iterable[Any], ctx: Any) -> Tally:
        tally = Tally()
        # opened (and checked) by its first write
        collection = Collection(open_store(self.recipe, self.max_retries), self.spec, exists=False)
        try:
            for block in blocks:
                write_rows(collection, rows_of(BlockAccessor.for_block(block).to_arrow()), self.max_retries, tally)
        finally:
            collection.close()
        return tally

    def on_write_complete(self, write_result: Any) -> None:
        self.tally = Tally()
        for tally in write_result.write_returns:
            self.tally.merge(tally)
