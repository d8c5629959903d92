"""Bulk ingestion written once for every engine: batches, resume, updates, pipelining, retries, progress, report.

The calling thread reads and encodes batch N+1 while a thread pool writes batch N, so the
encoder (the slow part) never waits for the store. Before a batch is encoded, the stored head
of each document (its chunk 0) is looked up: a document stored with the same text hash (and
model hash) is skipped without encoding, one whose text changed is re-encoded and replaced
with all its chunks, and a re-run after a crash or Ctrl-C picks up where it stopped and ends
with every document present exactly once (ids are deterministic, see ``_collection`` for the
order of writes that makes a kill harmless).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential
from tqdm.auto import tqdm

from lens_vdb import LensInputError

from ._base import Document, IngestReport, Record
from ._collection import Collection
from ._records import RecordBuilder, text_hash

__all__ = ["ingest_documents"]

logger = logging.getLogger(__name__)


def _batches(documents: Iterable[Document], size: int) -> Iterator[list[Document]]:
    iterator = iter(documents)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def ingest_documents(
    collection: Collection,
    documents: Iterable[Document],
    build: RecordBuilder,
    *,
    batch_size: int = 32,
    write_workers: int = 2,
    max_retries: int = 4,
    show_progress: bool = True,
    total: int | None = None,
) -> IngestReport:
    """Ingest ``documents`` into ``collection``; ``build`` turns a batch of documents into records.

    A batch whose write still fails after ``max_retries`` attempts is counted in
    ``report.failed`` with its document ids (never dropped silently); a non-transient error
    (bad input, wrong schema) stops the run at once and is raised.
    """
    if batch_size < 1 or write_workers < 1 or max_retries < 1:
        raise ValueError("batch_size, write_workers and max_retries must be positive")
    report = IngestReport()
    start = time.perf_counter()
    pending: list[tuple[Future, list[Document], set[str], list[Record]]] = []
    seen: dict[str, str] = {}  # document key -> hash of its text, for the whole run
    bar = tqdm(total=total, desc="ingest", unit="doc", disable=not show_progress)
    with ThreadPoolExecutor(max_workers=write_workers, thread_name_prefix="lens-vdb-write") as pool:
        try:
            for batch in _batches(documents, batch_size):
                stored = _call(collection, collection.heads, [d.point_id for d in batch], max_retries, report)
                if isinstance(stored, BaseException):  # the store is unreachable: this batch fails, go on
                    _fail(report, [_name(d) for d in batch], stored)
                    bar.update(len(batch))
                    continue
                changed, updated = _changed(_new_in_this_run(batch, seen), stored, seen, build.model_hash)
                report.skipped += len(batch) - len(changed)
                bar.update(len(batch) - len(changed))
                if changed:
                    records = build(changed)
                    future = pool.submit(_call, collection, collection.write, records, max_retries, report)
                    pending.append((future, changed, updated, records))
                while len(pending) > write_workers:
                    _collect(pending.pop(0), report, bar)
                rate = (report.ingested + report.updated) / max(time.perf_counter() - start, 1e-9)
                bar.set_postfix(docs_per_s=f"{rate:.1f}")
            while pending:
                _collect(pending.pop(0), report, bar)
        finally:
            for future, *_ in pending:  # an exception above: let in-flight writes finish, they are complete batches
                future.cancel()
            bar.close()
    report.seconds = time.perf_counter() - start
    if report.failed:
        logger.error("%d document(s) failed to be written: %s", report.failed, report.errors[-1])
    return report


def _new_in_this_run(documents: Sequence[Document], seen: dict[str, str]) -> list[Document]:
    """The documents whose id this run has not met yet; one id given to two different texts is an error."""
    return [document for document in documents
            if first_time(document.point_id, text_hash(document.text), document.id, seen)]


def first_time(key: str, digest: str, doc_id: str | None, seen: dict[str, str]) -> bool:
    """Whether this run meets document ``key`` for the first time (``seen``: key -> text hash so far);
    the same key with another text is a LensInputError naming ``doc_id``."""
    first = seen.get(key)
    if first is None:
        seen[key] = digest
        return True
    if first != digest:
        raise LensInputError(f"Document id={doc_id!r} comes twice in this ingestion with different texts; "
                             "ids must identify one document each (or leave them out to key by text).")
    return False


def stale(head: dict | None, digest: str, model_hash: str) -> bool:
    """Whether a document must be encoded: not stored (``head`` None), or stored with another text or model hash."""
    return head is None or head.get("text_hash") != digest or head.get("model_hash") != model_hash


def _changed(documents: list[Document], stored: dict[str, dict], digests: dict[str, str],
             model_hash: str) -> tuple[list[Document], set[str]]:
    """The documents to encode (new, or stored with another text or model hash) and the keys of the updated ones."""
    changed: list[Document] = []
    updated: set[str] = set()
    for document in documents:
        head = stored.get(document.point_id)
        if stale(head, digests[document.point_id], model_hash):
            changed.append(document)
            if head is not None:
                updated.add(document.point_id)
    return changed, updated


def _call(store: Collection, method: Callable, argument: list, max_retries: int, report: IngestReport):
    """Call a store method with retries; return the last transient error if every attempt failed, raise any other."""

    def count_retry(state) -> None:
        report.retried += 1
        logger.warning("%s failed (%s); retrying", method.__name__, state.outcome.exception())

    retrying = Retrying(
        stop=stop_after_attempt(max_retries),
        wait=wait_exponential(multiplier=0.2, max=5.0),
        retry=retry_if_exception(store.is_transient),
        before_sleep=count_retry,
        reraise=True,
    )
    try:
        return retrying(method, argument)
    except Exception as exc:
        if store.is_transient(exc):
            return exc
        raise


def _name(document: Document) -> str:
    return document.id if document.id is not None else document.point_id


def _fail(report: IngestReport, ids: list[str], error: BaseException) -> None:
    report.failed += len(ids)
    report.failed_ids.extend(ids)
    report.errors.append(f"{error.__class__.__name__}: {error}")


def _collect(item: tuple[Future, list[Document], set[str], list[Record]], report: IngestReport, bar) -> None:
    future, documents, updated, records = item
    error = future.result()  # non-transient errors propagate from here
    if isinstance(error, BaseException):
        _fail(report, [_name(d) for d in documents], error)
    else:
        report.ingested += len(documents) - len(updated)
        report.updated += len(updated)
        report.chunks += len(records)
    bar.update(len(documents))
