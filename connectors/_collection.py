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

:class:`Collection` is the only object that calls the store: writes, deletes, look-ups, counts and
queries (sync, or through the engine's async client where it has one) all go through it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

from lens_vdb import LensInputError
from lens_vdb._vocabulary import Fusion

from ._base import CollectionSpec, Record, point_id
from ._checks import check_filter
from ._store import AsyncStore, QueryVectors, Store, StoredHit, StoreRecipe, async_store

__all__ = ["Collection", "document_ids", "REMEDY"]

REMEDY = "Open it with the options and models it was made with, use another collection name, or delete it to rebuild it."


class Collection:
    """A :class:`Store` and its spec, with the collection's existence: created once, by the first write.

    ``on(store)`` gives the same collection through another view of the store (the async client's).
    """

    def __init__(self, store: Store, spec: CollectionSpec, *, exists: bool, made_elsewhere: bool = False) -> None:
        """``made_elsewhere``: another process makes the collection meanwhile (a Ray worker's, made by the
        driver), so look-ups check the store until it exists; otherwise its first write here makes it."""
        self.store, self.spec = store, spec
        self._state: dict[str, Any] = {"exists": exists, "lock": threading.Lock(), "elsewhere": made_elsewhere}

    @classmethod
    def open(cls, store: Store, spec_for: Callable[[dict[str, Any] | None], CollectionSpec]) -> Collection:
        """The collection ``store`` names, its spec made by ``spec_for`` from the one stored with it (``None``
        when it does not exist yet); an existing collection is checked against that spec (a LensSchemaError
        naming both) and loaded. Creates nothing."""
        stored = store.stored_spec()
        spec = spec_for(stored)
        if stored is not None:
            spec.check_stored(stored, collection=store.where, remedy=REMEDY)
            store.open(spec)
        return cls(store, spec, exists=stored is not None)

    def on(self, store: Any) -> Collection:
        """The same collection (its existence shared) through another view of its store."""
        view = Collection.__new__(Collection)
        view.store, view.spec, view._state = store, self.spec, self._state
        return view

    def on_loop(self, loop: asyncio.AbstractEventLoop) -> Collection:
        """This collection with its look-ups, writes and chunk deletes run as the engine's async client's
        coroutines on ``loop`` (for a caller in a worker thread); itself on an engine without one."""
        native = async_store(self.store)
        return self if native is None else self.on(_OnLoop(native, loop))

    @property
    def name(self) -> str:
        """The collection's name in its engine."""
        return self.store.name

    @property
    def recipe(self) -> StoreRecipe | None:
        """How another process opens this collection (a server engine's), ``None`` for an embedded one."""
        return self.store.recipe

    @property
    def fusions(self) -> tuple[Fusion, ...]:
        """The fusions the engine runs."""
        return tuple(self.store.fusions)

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
        """The stored head fields of these documents; none while the collection does not exist (when it is
        made elsewhere, checked again until it does)."""
        if not self.exists:
            if not self._state["elsewhere"]:
                return {}
            stored = self.store.stored_spec()
            if stored is None:
                return {}
            self._open(stored)
        return self.store.heads(keys)

    def write(self, records: Sequence[Record]) -> None:
        """Write whole documents (every chunk of each) in the order above; creates the collection first."""
        if not records:
            return
        self.create_once()
        heads = [r for r in records if r.chunk == 0]
        tails = [r for r in records if r.chunk > 0]
        if tails:
            self.store.upsert(tails)
        self.store.delete_chunks({r.document.point_id: r.chunks for r in heads})
        self.store.upsert(heads)

    def create_once(self) -> None:
        """Create the collection unless it exists (or open and check it, when another process made it meanwhile)."""
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

    # ---- reading ----------------------------------------------------------------------------

    def count(self, filter: dict[str, Any] | None = None) -> int:
        """Documents stored (matching the metadata ``filter``); an error if the collection does not exist."""
        checked = check_filter(filter)
        self.require("count")
        return self.store.count(checked)

    def points(self, ids: Sequence[str]) -> list[StoredHit]:
        """Every stored point of the documents of these ids, in no particular order."""
        keys = [point_id(doc_id, "") for doc_id in document_ids(ids)]
        self.require("get")
        return self.store.points(keys) if keys else []

    def query(self, vectors: QueryVectors, **options: Any) -> list[StoredHit]:
        """The engine's hybrid query (``Store.query``'s options)."""
        self.require("search")
        return self.store.query(vectors, **options)

    def query_groups(self, vectors: QueryVectors, *, group_size: int, **options: Any) -> list[list[StoredHit]]:
        """The engine's hybrid query grouped by document (``Store.query_groups``)."""
        self.require("search")
        return self.store.query_groups(vectors, group_size=group_size, **options)

    async def aquery(self, vectors: QueryVectors, **options: Any) -> list[StoredHit]:
        """:meth:`query` on the engine's async client, or in a worker thread on an engine without one."""
        await asyncio.to_thread(self.require, "search")
        native = async_store(self.store)
        if native is not None:
            return await native.aquery(vectors, **options)
        return await asyncio.to_thread(self.store.query, vectors, **options)

    async def aquery_groups(self, vectors: QueryVectors, *, group_size: int, **options: Any) -> list[list[StoredHit]]:
        """:meth:`query_groups` on the engine's async client, or in a worker thread on an engine without one."""
        await asyncio.to_thread(self.require, "search")
        native = async_store(self.store)
        if native is not None:
            return await native.aquery_groups(vectors, group_size=group_size, **options)
        return await asyncio.to_thread(self.store.query_groups, vectors, group_size=group_size, **options)

    def close(self) -> None:
        """Release the engine."""
        self.store.close()

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
        checked = cast(dict[str, Any], check_filter(filter))  # a dict: filter is not None here
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


class _OnLoop:
    """A store whose look-ups, writes and chunk deletes run as its async client's coroutines on ``loop``.

    The ingest pipeline calls it from a worker thread and waits for each call; the event loop
    stays free meanwhile. Everything else is the wrapped store's.
    """

    _ASYNC = ("heads", "upsert", "delete_chunks")

    def __init__(self, store: AsyncStore, loop: asyncio.AbstractEventLoop) -> None:
        self.store, self.loop = store, loop

    def __getattr__(self, name: str) -> Any:
        if name in self._ASYNC:
            coroutine = getattr(self.store, f"a{name}")

            def run(argument: Any) -> Any:
                return asyncio.run_coroutine_threadsafe(coroutine(argument), self.loop).result()

            run.__name__ = name
            return run
        return getattr(self.store, name)
