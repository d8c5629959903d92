"""What a distributed ingestion encodes: documents read, checked, and looked up before any encoding.

Two kinds of source:

- what ``ingest`` reads (texts, dicts, Documents, JSONL, CSV, a folder of .txt) is read on the
  driver by the same reader, and planned there by the same steps as ``ingest``: one id with two
  texts is refused, and each batch's stored heads are looked up, so only new and changed
  documents go to the cluster (nothing at all when every document is stored);
- a ``ray.data.Dataset`` or Parquet files (read by Ray Data's reader, in parallel) become
  documents in Ray tasks; the driver reads back only their keys and text hashes (``check_ids``),
  and the stored heads are looked up in an id-lookup stage: by actors with their own clients on a
  server engine, by the driver for an embedded one (the only process that may open it).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import ray
import ray.data

from .._base import CollectionSpec, Document
from .._collection import Collection
from .._documents import to_document
from .._ingest import FAILED, SKIPPED, Item, Planner, Tally, batches
from .._records import text_hash
from .._store import StoreRecipe
from .rows import LOOKUP, rows_of, to_table
from .write import open_store

__all__ = ["is_dataset_source", "plan_on_driver", "as_dataset", "read_dataset", "plan_dataset", "keep_planned",
           "LookupHeads", "DOCUMENTS"]

DOCUMENTS = ("key", "id", "hash", "status", "error", "retried", "document")


def is_dataset_source(source: Any) -> bool:
    """A ``ray.data.Dataset``, a ``.parquet`` file, or a folder holding Parquet files."""
    return isinstance(source, ray.data.Dataset) or _parquet(source) is not None


def _parquet(source: Any) -> Path | None:
    if not isinstance(source, (str, Path)) or not Path(source).exists():
        return None
    path = Path(source)
    if path.is_file():
        return path if path.suffix == ".parquet" else None
    return path if next(path.rglob("*.parquet"), None) is not None else None


# ---- sources ingest reads: planned on the driver -------------------------------------------------

def plan_on_driver(documents: Iterable[Document], planner: Planner, *,
                   batch_size: int) -> tuple[int, list[dict[str, Any]]]:
    """``ingest``'s plan, batch by batch, before anything is encoded: (documents read, the rows to encode)."""
    total, rows = 0, []
    for batch in batches(documents, batch_size):
        total += len(batch)
        by_key = {d.point_id: d for d in batch}
        new = planner.first_time(Item(d.point_id, d.id, text_hash(d.text)) for d in batch)
        statuses = planner.plan(new)
        rows += [{"key": item.key, "id": item.id, "status": statuses[item.key], "document": by_key[item.key]}
                 for item in new if statuses[item.key] not in (SKIPPED, FAILED)]
    return total, rows


def as_dataset(rows: list[dict[str, Any]], batch_size: int) -> Any:
    """The planned rows as a Dataset of blocks of ``batch_size`` documents (one encoder batch each)."""
    return ray.data.from_arrow([to_table(rows[i:i + batch_size], DOCUMENTS) for i in range(0, len(rows), batch_size)])


# ---- Datasets and Parquet: documents made in Ray tasks -------------------------------------------

def read_dataset(source: Any, *, text_field: str, id_field: str, batch_size: int) -> Any:
    """The source's rows as document rows (status ``lookup``), each checked as ``ingest`` checks it, in blocks
    of ``batch_size`` documents (a block goes to one actor: a whole file in one block would keep the others idle)."""
    path = _parquet(source)
    if path is not None:
        dataset, where = ray.data.read_parquet(str(path)), f"in {path}"
    else:
        dataset, where = source, "in the Dataset"
    options = {"where": where, "text_field": text_field, "id_field": id_field}
    # Ray's annotation knows no callables that take fn_kwargs, which its map_batches passes them
    documents = dataset.map_batches(_documents, fn_kwargs=options, batch_format="pyarrow")  # type: ignore[arg-type]
    return documents.repartition(target_num_rows_per_block=batch_size)


def _documents(table: pa.Table, *, where: str, text_field: str, id_field: str) -> pa.Table:
    rows = []
    for item in table.to_pylist():
        document = to_document(item, where, text_field, id_field)
        rows.append({"key": document.point_id, "id": document.id, "hash": text_hash(document.text),
                     "status": LOOKUP, "document": document})
    return to_table(rows, DOCUMENTS)


def plan_dataset(documents: Any, planner: Planner, *, look_up: bool, batch_size: int) -> tuple[int, pa.Table | None]:
    """The driver's pass over every document's key and text hash: one id with two texts is refused.

    With ``look_up`` (an embedded engine, which only the driver may open) it also plans, batch by
    batch, and returns the plan: a table of the keys to encode and their status. Returns (documents, plan).
    """
    total, keys, statuses = 0, [], []
    for batch in documents.select_columns(["key", "id", "hash"]).iter_batches(batch_size=batch_size,
                                                                              batch_format="pyarrow"):
        batch_rows = batch.to_pylist()
        total += len(batch_rows)
        new = planner.first_time(Item(row["key"], row["id"], row["hash"]) for row in batch_rows)
        if not look_up:
            continue
        for key, status in planner.plan(new).items():
            if status not in (SKIPPED, FAILED):
                keys.append(key)
                statuses.append(status)
    plan = pa.table({"key": pa.array(keys, pa.string()), "status": pa.array(statuses, pa.string())})
    return total, plan if look_up else None


def keep_planned(documents: Any, plan: pa.Table) -> Any:
    """The documents the driver's plan encodes, with its status; the plan travels once, by reference."""
    # no CPU reserved (the encoder actors may hold them all), so a bounded pool: a filter is cheap
    return documents.map_batches(_keep, fn_kwargs={"plan": ray.put(plan)}, batch_format="pyarrow", num_cpus=0,
                                 compute=ray.data.TaskPoolStrategy(size=2))


def _keep(table: pa.Table, *, plan: Any) -> pa.Table:
    planned = ray.get(plan) if isinstance(plan, ray.ObjectRef) else plan
    where = pc.index_in(table.column("key"), value_set=planned.column("key"))
    kept = table.filter(pc.is_valid(where))
    status = pc.take(planned.column("status"), pc.drop_null(where))
    return kept.set_column(kept.schema.get_field_index("status"), "status", status)


class LookupHeads:
    """The id-lookup stage on a server engine: an actor with its own client looks up each batch's stored heads
    (retried as ``ingest`` retries) and marks each document new, updated or skipped (failed if unreachable)."""

    def __init__(self, recipe: StoreRecipe, spec: CollectionSpec, model_hash: str, max_retries: int) -> None:
        self.collection = Collection(open_store(recipe, max_retries), spec, exists=False, made_elsewhere=True)
        self.model_hash, self.max_retries = model_hash, max_retries

    def __call__(self, table: pa.Table) -> pa.Table:
        rows = rows_of(table)
        tally = Tally()  # this batch's: its retries and failure travel in the rows to the writers, who count them
        planner = Planner(self.collection, self.model_hash, max_retries=self.max_retries, tally=tally)
        statuses = planner.plan([Item(row["key"], row["id"], row["hash"]) for row in rows])
        for row in rows:
            row["status"] = statuses[row["key"]]
            if row["status"] == FAILED:
                row["error"] = tally.errors[-1]
        if rows:
            rows[0]["retried"] = tally.retried
        return to_table(rows, DOCUMENTS)

