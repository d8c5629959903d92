"""The small interfaces every engine implements (:class:`Store`, and :class:`AsyncStore` where it has an async
client); the connectors build on them, through ``Collection``, and on nothing else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast, runtime_checkable

from lens_vdb._vocabulary import Fusion

from ._base import CollectionSpec, Record

__all__ = ["Store", "AsyncStore", "async_store", "StoreRecipe", "QueryVectors", "StoredHit", "HEAD_FIELDS", "group_hits"]

HEAD_FIELDS = ("text_hash", "model_hash", "chunks")  # what ingestion reads of a stored document's chunk 0


@dataclass(frozen=True)
class QueryVectors:
    """A query's vectors: LENS dense, its sparse top-N form, and the dense embedding."""

    lens: list[float]
    dense: list[float]
    sparse_indices: list[int] | None = None
    sparse_values: list[float] | None = None


@dataclass(frozen=True)
class StoredHit:
    """What an engine returns per hit: id, fused score, payload and the stored route vectors."""

    id: str
    score: float
    payload: dict[str, Any]
    lens: list[float] | None
    dense: list[float] | None


@dataclass(frozen=True)
class StoreRecipe:
    """How another process opens the same collection of a server engine with a client of its own
    (distributed writers). ``options`` may hold a credential: it is left out of the ``repr``."""

    kind: type
    args: tuple
    options: dict[str, Any] = field(default_factory=dict, repr=False)

    def open(self) -> Store:
        return self.kind(*self.args, **self.options)


@runtime_checkable
class Store(Protocol):
    """One collection in one engine. Points carry the payload of :class:`Record` (``parent``, ``chunk``...).

    ``name`` is the collection's name in the engine; ``where`` names it and its location for
    messages (never a credential). ``fusions`` are the fusions the engine runs (a subset of
    ``FUSIONS``). ``recipe`` says how another process opens the same collection (servers),
    ``None`` for an embedded engine, which only the process that opened it may use. An engine
    with an async client sets ``native_async = True`` and is an :class:`AsyncStore`.
    """

    name: str
    where: str
    fusions: tuple[Fusion, ...]
    native_async: bool
    recipe: StoreRecipe | None

    def stored_spec(self) -> dict[str, Any] | None:
        """``None`` when the collection does not exist (creating nothing); else the spec lens-vdb stored
        with it (``{}`` for a collection without one)."""

    def open(self, spec: CollectionSpec) -> None:
        """Check the existing collection's vectors against ``spec`` (LensSchemaError if not) and load it."""

    def create(self, spec: CollectionSpec) -> None:
        """Create the collection for ``spec``, with what deletes and grouping need (payload indexes)."""

    def heads(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """For each key stored, the ``HEAD_FIELDS`` of its chunk 0 (its point id is the key)."""

    def upsert(self, records: Sequence[Record]) -> None:
        """Write records (insert or overwrite by id) durably."""

    def delete_ids(self, ids: Sequence[str]) -> None:
        """Delete points by id."""

    def delete_chunks(self, chunks: Mapping[str, int]) -> None:
        """For each ``parent -> n``, delete the points of that document whose ``chunk >= n`` (0: all of them)."""

    def delete_matching(self, filter: dict[str, Any], *, heads_only: bool) -> None:
        """Delete the points whose metadata matches ``filter`` (only chunk 0 with ``heads_only``)."""

    def count(self, filter: dict[str, Any] | None = None, *, heads_only: bool = True) -> int:
        """Documents stored (chunk 0 of each), or with ``heads_only=False`` every point, matching ``filter``."""

    def points(self, keys: Sequence[str]) -> list[StoredHit]:
        """Every point of the documents keyed ``keys`` (score 0, payload, no vectors), in no particular order."""

    def query(
        self, vectors: QueryVectors, *, limit: int, prefetch_limits: tuple[int, int], fusion: Fusion,
        weights: tuple[float, float], rrf_k: int, lens_route: str, filter: dict[str, Any] | None,
    ) -> list[StoredHit]:
        """One hybrid query: prefetch on the LENS route and ``dense``, fused by the engine."""

    def query_groups(self, vectors: QueryVectors, *, group_size: int, **options: Any) -> list[list[StoredHit]]:
        """:meth:`query` grouped by document (``parent``): ``limit`` groups of up to ``group_size`` chunks,
        best group first, best chunk first in each."""

    def is_transient(self, error: BaseException) -> bool:
        """Whether a write error is worth retrying (timeouts, unavailable servers)."""

    def close(self) -> None:
        """Release the engine."""


@runtime_checkable
class AsyncStore(Store, Protocol):
    """A :class:`Store` with an async client (``native_async`` is True): coroutines of the calls that
    ``aingest`` and ``asearch`` make, with the arguments of the sync forms, run on the caller's event loop."""

    async def aheads(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """:meth:`Store.heads` on the async client."""

    async def aupsert(self, records: Sequence[Record]) -> None:
        """:meth:`Store.upsert` on the async client."""

    async def adelete_chunks(self, chunks: Mapping[str, int]) -> None:
        """:meth:`Store.delete_chunks` on the async client."""

    async def aquery(
        self, vectors: QueryVectors, *, limit: int, prefetch_limits: tuple[int, int], fusion: Fusion,
        weights: tuple[float, float], rrf_k: int, lens_route: str, filter: dict[str, Any] | None,
    ) -> list[StoredHit]:
        """:meth:`Store.query` on the async client."""

    async def aquery_groups(self, vectors: QueryVectors, *, group_size: int, **options: Any) -> list[list[StoredHit]]:
        """:meth:`Store.query_groups` on the async client."""


def async_store(store: Store) -> AsyncStore | None:
    """``store`` as an :class:`AsyncStore` when it has an async client, else ``None`` (then its calls run in
    a worker thread)."""
    return cast(AsyncStore, store) if store.native_async else None


def group_hits(hits: Sequence[StoredHit], limit: int, group_size: int) -> list[list[StoredHit]]:
    """Group fused hits by document, best first: for engines whose grouping is done here."""
    groups: dict[str, list[StoredHit]] = {}
    for hit in sorted(hits, key=lambda h: -h.score):
        key = hit.payload.get("parent") or hit.id
        group = groups.get(key)
        if group is None:
            if len(groups) == limit:
                continue
            group = groups[key] = []
        if len(group) < group_size:
            group.append(hit)
    return list(groups.values())
