"""One collection over its life: made by its first write, written and deleted in an order a kill cannot break.

A document is its chunk 0 (the *head*, whose point id is the document's key) and its other
chunks. The head carries the hash of the document's text, and it is written last:

    write:   1. chunks 1..n-1          (upsert; overwrites the same ids of an older version)
             2. chunks >= n            (deleted: an older, longer version's tail, or a killed run's leftovers)
             3. chunk 0 with the hash  (upsert: the document is now this version)

Until step 3, the head still holds the old hash (or is absent), so a re-run after a kill sees the
document as changed (or new) and does all three steps again. A delete removes the head first,
then every chunk: a run killed in between leaves a document a re-run sees as absent, and its
chunks are gone after the delete (or an ingest of the document) is run again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from lens_vdb import LensInputError

from ._base import CollectionSpec, Record, point_id
from ._checks import check_filter
from ._store import Store

__all__ = ["Collection", "document_ids", "REMEDY"]

REMEDY = "Open it with the options and models it was made with, use another collection name, or delete it to rebuild it."


class Collection:
    """A :class:`Store` and its spec, with the collection's existence: created once, by the first write.

    ``on(store)`` gives the same collection through another view of the store (the async client's).
    """

    def __init__(self, store: Store, spec: CollectionSpec, *, exists: bool) -> None:
        self.store, self.spec = store, spec
        self._state: dict[str, Any] = {"exists": exists, "lock": threading.Lock()}

    def on(self, store: Any) -> Collection:
        view = Collection.__new__(Collection)
        view.store, view.spec, view._state = store, self.spec, self._state
        return view

    @property
    def exists(self) -> bool:
        return bool(self._state["exists"])

    def is_transient(self, error: BaseException) -> bool:
        return self.store.is_transient(error)

    def require(self, doing: str) -> None:
        """Raise a clear error, creating nothing, when the collection does not exist (checked again:
        another process may have made it since this connector opened)."""
        if self.exists:
            return
        stored = self.store.stored_spec()
        if stored is None:
            raise LensInputError(f"{self.store.where} does not exist, so there is nothing to {doing} (nothing was "
                                 "created). Ingest documents into it first, or check the location and collection name.")
        self._open(stored)

    # ---- ingestion --------------------------------------------------------------------------

    def heads(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored head fields of these documents (none while the collection does not exist)."""
        return self.store.heads(keys) if self.exists else {}

    def write(self, records: Sequence[Record]) -> None:
        """Write whole documents (every chunk of each) in the order above; creates the collection first."""
        if not records:
            return
        self._create_once()
        heads = [r for r in records if r.chunk == 0]
        tails = [r for r in records if r.chunk > 0]
        if tails:
            self.store.upsert(tails)
        self.store.delete_chunks({r.document.point_id: r.chunks for r in heads})
        self.store.upsert(heads)

    def _create_once(self) -> None:
        if self.exists:
            return
        with self._state["lock"]:
            if not self.exists:
                stored = self.store.stored_spec()
                if stored is None:
                    self.store.create(self.spec)
                    self._state["exists"] = True
                else:  # made by another process meanwhile
                    self._open(stored)

    def _open(self, stored: dict[str, Any]) -> None:
        """Open a collection another process made since this connector looked: its spec must be this one."""
        self.spec.check_stored(stored, collection=self.store.where, remedy=REMEDY)
        self.store.open(self.spec)
        self._state["exists"] = True

    # ---- deletion ---------------------------------------------------------------------------

    def delete(self, ids: Sequence[str] | None = None, filter: dict[str, Any] | None = None) -> int:
        """Delete documents, every chunk of each, by id or by metadata filter; returns how many were stored."""
        if (ids is None) == (filter is None):
            raise LensInputError("delete() takes ids=[...] or filter={...} (one of them); to empty a collection, "
                                 "delete it in the engine.")
        if ids is not None:
            keys = [point_id(doc_id, "") for doc_id in document_ids(ids)]
            self.require("delete")
            if not keys:
                return 0
            stored = len(self.store.heads(keys))
            self.store.delete_ids(keys)
            self.store.delete_chunks(dict.fromkeys(keys, 0))
            return stored
        checked = check_filter(filter)
        self.require("delete")
        stored = self.store.count(checked, heads_only=True)
        self.store.delete_matching(checked, heads_only=True)
        self.store.delete_matching(checked, heads_only=False)
        return stored


def document_ids(ids: Any) -> list[str]:
    """Document ids as the pipeline stores them (strings), or a LensInputError naming the bad one."""
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise LensInputError(f"ids must be a list of document ids, got {type(ids).__name__} {ids!r:.40}; wrap one: [id].")
    out = []
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise LensInputError(f"A document id is a string (or an int), got {type(value).__name__} {value!r:.40}.")
        out.append(str(value))
    return out
