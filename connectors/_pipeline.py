"""The local runner of an ingestion (``_ingest``): one process, encoding overlapped with writing.

The calling thread reads, plans and encodes batch N+1 while a thread pool writes batch N, so the
encoder (the slow part) never waits for the store. A re-run after a crash or Ctrl-C picks up where
it stopped and ends with every document present exactly once (ids are deterministic, see
``_collection`` for the order of writes that makes a kill harmless).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from tqdm.auto import tqdm

from ._base import Document, IngestReport
from ._collection import Collection
from ._ingest import FAILED, SKIPPED, IngestOptions, Item, Planner, Tally, batches, call, doc_name
from ._records import RecordBuilder, text_hash

__all__ = ["ingest_documents"]

_Pending = tuple[Future, list[tuple[Item, str]], int]  # a write, its documents with their status, its chunks


def ingest_documents(collection: Collection, documents: Iterable[Document], build: RecordBuilder,
                     options: IngestOptions, *, total: int | None = None) -> IngestReport:
    """Ingest ``documents`` into ``collection``; ``build`` turns a batch of documents into records.

    A batch whose store calls still fail after ``options.max_retries`` attempts is counted in
    ``report.failed`` with its document ids (never dropped silently); a non-transient error
    (bad input, wrong schema) stops the run at once and is raised. ``total`` sizes the progress bar.
    """
    tally = Tally()
    planner = Planner(collection, build.model_hash, max_retries=options.max_retries, tally=tally)
    start = time.perf_counter()
    read = 0
    pending: list[_Pending] = []
    bar = tqdm(total=total, desc="ingest", unit="doc", disable=not options.show_progress)
    with ThreadPoolExecutor(max_workers=options.write_workers, thread_name_prefix="lens-vdb-write") as pool:
        try:
            for batch in batches(documents, options.batch_size):
                read += len(batch)
                by_key = {d.point_id: d for d in batch}
                new = planner.first_time(Item(d.point_id, d.id, text_hash(d.text)) for d in batch)
                statuses = planner.plan(new)
                changed = [(item, statuses[item.key]) for item in new if statuses[item.key] not in (SKIPPED, FAILED)]
                bar.update(len(batch) - len(changed))
                if changed:
                    records = build([by_key[item.key] for item, _ in changed])
                    future = pool.submit(call, collection, collection.write, records, options.max_retries, tally)
                    pending.append((future, changed, len(records)))
                while len(pending) > options.write_workers:
                    _collect(pending.pop(0), tally, bar)
                written = len(tally.new) + len(tally.updated)
                bar.set_postfix(docs_per_s=f"{written / max(time.perf_counter() - start, 1e-9):.1f}")
            while pending:
                _collect(pending.pop(0), tally, bar)
        finally:
            for future, *_ in pending:  # an exception above: let in-flight writes finish, they are complete batches
                future.cancel()
            bar.close()
    return tally.report(IngestReport(), total=read, seconds=time.perf_counter() - start)


def _collect(item: _Pending, tally: Tally, bar: tqdm) -> None:
    future, documents, chunks = item
    error = future.result()  # non-transient errors propagate from here
    if isinstance(error, BaseException):
        tally.fail([doc_name(document) for document, _ in documents], error)
    else:
        for document, status in documents:
            tally.wrote(document.key, status)
        tally.chunks += chunks
    bar.update(len(documents))
