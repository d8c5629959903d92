"""Ingestion written once, for its two runners: the local pipeline (``_pipeline``) and Ray (``_ray/``).

    options   batch size, writers, retries, progress: checked once, for both runners
    batches   documents taken ``batch_size`` at a time
    plan      each document's stored head looked up (its chunk 0): ``new`` (not stored), ``updated``
              (stored with another text or models: re-encoded, replaced) or ``skipped`` (stored unchanged,
              not encoded); one id given two texts in one run is refused
    retry     one policy for every store call (tenacity: exponential backoff, only the errors the store
              calls transient); a batch that still fails is counted failed, never dropped silently
    count     one :class:`Tally` of what was written, failed and retried, turned into the report once

A runner reads, encodes and writes; what it decides and counts comes from here.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from lens_vdb import LensInputError

from ._base import IngestReport
from ._collection import Collection

__all__ = ["IngestOptions", "Item", "Planner", "Tally", "batches", "call", "retrying", "status", "doc_name",
           "NEW", "UPDATED", "SKIPPED", "FAILED"]

logger = logging.getLogger(__name__)

NEW, UPDATED, SKIPPED, FAILED = "new", "updated", "skipped", "failed"
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, kw_only=True)
class IngestOptions:
    """How an ingestion runs, whichever runner runs it.

    Attributes:
        batch_size: documents encoded (and written) together.
        write_workers: concurrent writes (threads locally; write tasks and id-lookup actors on Ray).
        max_retries: attempts of each store call before its batch counts as failed.
        show_progress: a progress bar (locally) or Ray Data's.
    """

    batch_size: int = 32
    write_workers: int = 2
    max_retries: int = 4
    show_progress: bool = True

    def __post_init__(self) -> None:
        for name in ("batch_size", "write_workers", "max_retries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LensInputError(f"{name} must be a positive int, got {value!r}")


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last may be shorter)."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def retrying(max_retries: int, retry_if: Callable[[BaseException], bool],
             on_retry: Callable[[BaseException], None] | None = None) -> Retrying:
    """The one retry policy: up to ``max_retries`` attempts, waits of 0.2 s doubling up to 5 s, retrying only
    the errors ``retry_if`` accepts (``on_retry`` is told each one); the last error is raised as itself."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if on_retry is not None and error is not None:
            on_retry(error)

    return Retrying(stop=stop_after_attempt(max_retries), wait=wait_exponential(multiplier=0.2, max=5.0),
                    retry=retry_if_exception(retry_if), before_sleep=before_sleep, reraise=True)


@dataclass
class Tally:
    """What a run wrote, and what failed or was retried; merged over Ray's write tasks, reported once.

    ``new`` and ``updated`` hold document keys, so a document counts once whatever a runner retried.
    """

    rows: int = 0  # documents the writers saw (Ray: the total when the driver did not count them)
    new: set[str] = field(default_factory=set)
    updated: set[str] = field(default_factory=set)
    failed_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retried: int = 0
    chunks: int = 0
    encoders: dict[str, set[str]] = field(default_factory=dict)  # Ray: node id -> the actors that encoded there

    def wrote(self, key: str, status: str) -> None:
        (self.new if status == NEW else self.updated).add(key)

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

    def report(self, report: IngestReport, *, total: int, seconds: float) -> IngestReport:
        """Fill ``report`` for a run of ``total`` documents: what was not written nor failed was skipped."""
        report.ingested = len(self.new)
        report.updated = len(self.updated - self.new)
        report.failed_ids = list(self.failed_ids)
        report.failed = len(report.failed_ids)
        report.errors = list(self.errors)
        report.retried = self.retried
        report.chunks = self.chunks
        report.skipped = max(total - report.ingested - report.updated - report.failed, 0)
        report.seconds = seconds
        if report.failed:
            logger.error("%d document(s) failed to be written: %s", report.failed, report.errors[-1])
        return report


def call(collection: Collection, method: Callable[[Any], R], argument: Any, max_retries: int,
         tally: Tally) -> R | BaseException:
    """``method(argument)`` (a call of ``collection``) under the retry policy, counting retries in ``tally``;
    returns the last error if every attempt failed on a transient one, and raises any other."""

    def count(error: BaseException) -> None:
        tally.retried += 1
        logger.warning("%s failed (%s); retrying", getattr(method, "__name__", "a store call"), error)

    try:
        return retrying(max_retries, collection.is_transient, count)(method, argument)
    except Exception as exc:
        if collection.is_transient(exc):
            return exc
        raise


def status(head: dict[str, Any] | None, digest: str, model_hash: str) -> str:
    """NEW when not stored (``head`` None), UPDATED when stored with another text or model hash, else SKIPPED."""
    if head is None:
        return NEW
    return UPDATED if head.get("text_hash") != digest or head.get("model_hash") != model_hash else SKIPPED


class Item(NamedTuple):
    """A document as planning sees it: its key (chunk 0's point id), its id (or None), its text's hash."""

    key: str
    id: str | None
    hash: str


def doc_name(item: Item) -> str:
    """How a failure names a document: its id, or its key when it has none."""
    return item.id if item.id is not None else item.key


class Planner:
    """Decides, batch by batch, what a run encodes: the same steps on every runner.

    Args:
        collection: where the stored heads are looked up (an absent collection stores nothing).
        model_hash: the record builder's; a head of another model hash is stale.
        max_retries, tally: the retry policy's attempts, and where retries and failures are counted.
    """

    def __init__(self, collection: Collection, model_hash: str, *, max_retries: int, tally: Tally) -> None:
        self.collection, self.model_hash = collection, model_hash
        self.max_retries, self.tally = max_retries, tally
        self.seen: dict[str, str] = {}  # key -> text hash, for the whole run

    def first_time(self, items: Iterable[Item]) -> list[Item]:
        """The items whose key this run meets for the first time; one key with two texts is a LensInputError."""
        out = []
        for item in items:
            first = self.seen.get(item.key)
            if first is None:
                self.seen[item.key] = item.hash
                out.append(item)
            elif first != item.hash:
                raise LensInputError(f"Document id={item.id!r} comes twice in this ingestion with different texts; "
                                     "ids must identify one document each (or leave them out to key by text).")
        return out

    def plan(self, items: Sequence[Item]) -> dict[str, str]:
        """Each item's status (NEW, UPDATED, SKIPPED) by its stored head, looked up under the retry policy;
        FAILED for every item when the look-up still fails (counted in the tally with the error)."""
        if not items:
            return {}
        stored = call(self.collection, self.collection.heads, [item.key for item in items], self.max_retries,
                      self.tally)
        if isinstance(stored, BaseException):  # the store is unreachable: these documents fail, the run goes on
            self.tally.fail([doc_name(item) for item in items], stored)
            return dict.fromkeys((item.key for item in items), FAILED)
        return {item.key: status(stored.get(item.key), item.hash, self.model_hash) for item in items}
