"""The writers of a distributed ingestion, and what they count.

A server engine (Qdrant URL, Milvus URI) is written by many Ray write tasks at once (a Ray Data
``Datasink``), each opening its own client; an embedded engine (qdrant-edge folder, Milvus Lite
file, qdrant local mode) belongs to the one process that opened it, so the driver writes it,
consuming the encoded stream while the actors go on encoding. Both write a batch of whole
documents with ``Collection.write`` through the ingest pipeline's ``_call`` (the same write
order, schema checks and retries as ``ingest``). Imported only when a distributed ingestion runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ray.data import Datasink
from ray.data.block import BlockAccessor
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from lens_vdb import LensConnectionError

from .._base import CollectionSpec, IngestReport
from .._collection import Collection
from .._pipeline import _call
from .._store import StoreRecipe
from .rows import FAILED, NEW, UPDATED, name_of, rows_of

__all__ = ["Tally", "write_rows", "write_on_driver", "LensDatasink"]


@dataclass
class Tally:
    """What writers saw and did, merged over every write task; ``finish`` turns it into the report."""

    rows: int = 0
    new: set[str] = field(default_factory=set)
    updated: set[str] = field(default_factory=set)
    failed_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retried: int = 0
    chunks: int = 0
    encoders: dict[str, set[str]] = field(default_factory=dict)  # node id -> ids of the actors that encoded there

    def fail(self, names: list[str], error: BaseException | str) -> None:
        self.failed_ids += names
        self.errors.append(error if isinstance(error, str) else f"{error.__class__.__name__}: {error}")

    def merge(self, other: Tally) -> Tally:
        self.rows += other.rows
        self.new |= other.new
        self.updated |= other.updated
        self.failed_ids += other.failed_ids
        self.errors += other.errors
        self.retried += other.retried
        self.chunks += other.chunks
        for node, actors in other.encoders.items():
            self.encoders.setdefault(node, set()).update(actors)
        return self

    def finish(self, report: IngestReport, total: int) -> None:
        """Count into ``report`` (which may hold the driver's own failures): ``total`` documents in all."""
        report.ingested = len(self.new)
        report.updated = len(self.updated - self.new)
        report.failed_ids += self.failed_ids
        report.failed = len(report.failed_ids)
        report.errors += self.errors
        report.retried += self.retried
        report.chunks = self.chunks
        report.skipped = max(total - report.ingested - report.updated - report.failed, 0)


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
    error = _call(collection, collection.write, records, max_retries, tally)  # counts retries in tally.retried
    if isinstance(error, BaseException):
        tally.fail([name_of(row) for row in todo], error)
        return
    for row in todo:
        (tally.new if row["status"] == NEW else tally.updated).add(row["key"])
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


def open_store(recipe: StoreRecipe, max_retries: int) -> Any:
    """A client of this process's own, retried while the server cannot be reached."""
    retrying = Retrying(stop=stop_after_attempt(max_retries), wait=wait_exponential(multiplier=0.2, max=5.0),
                        retry=retry_if_exception_type(LensConnectionError), reraise=True)
    return retrying(recipe.open)


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
        store = open_store(self.recipe, self.max_retries)
        try:
            Collection(store, self.spec, exists=False)._create_once()
        finally:
            store.close()

    def write(self, blocks: Iterable[Any], ctx: Any) -> Tally:
        tally = Tally()
        store = open_store(self.recipe, self.max_retries)
        try:
            collection = Collection(store, self.spec, exists=False)  # opened (and checked) by its first write
            for block in blocks:
                write_rows(collection, rows_of(BlockAccessor.for_block(block).to_arrow()), self.max_retries, tally)
        finally:
            store.close()
        return tally

    def on_write_complete(self, write_result: Any) -> None:
        self.tally = Tally()
        for tally in write_result.write_returns:
            self.tally.merge(tally)
