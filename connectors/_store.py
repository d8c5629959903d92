"""The small interface every engine implements; the connectors build on it and nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._base import CollectionSpec, Record

__all__ = ["Store", "QueryVectors", "StoredHit"]


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


class Store(Protocol):
    """One collection in one engine.

    An engine with an async client sets ``native_async = True`` and adds the coroutines
    ``aquery(...)`` (the arguments of :meth:`query`), ``aexisting_ids(ids)`` and ``aupsert(records)``.
    """

    native_async: bool

    def ensure(self, spec: CollectionSpec) -> None:
        """Create the collection, or check that the existing one matches ``spec`` (LensSchemaError if not)."""

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are already stored."""

    def upsert(self, records: Sequence[Record]) -> None:
        """Write records (insert or overwrite by id) durably."""

    def query(
        self, vectors: QueryVectors, *, limit: int, prefetch_limits: tuple[int, int], fusion: str, weights: tuple[float, float],
        rrf_k: int, lens_route: str, filter: dict[str, Any] | None,
    ) -> list[StoredHit]:
        """One hybrid query: prefetch on the LENS route and ``dense``, fused by the engine."""

    def count(self) -> int:
        """Records stored."""

    def is_transient(self, error: BaseException) -> bool:
        """Whether a write error is worth retrying (timeouts, unavailable servers)."""

    def close(self) -> None:
        """Release the engine."""
