"""The Qdrant filters lens-vdb needs, built once for qdrant-client and qdrant-edge (whose classes differ).

Each store supplies ``_condition(key, value | any_of= | at_least=)`` and ``_filter(must, should,
must_not)`` in its own classes; the shapes are here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["QdrantFilters"]


class QdrantFilters(ABC):
    """Metadata, document and stale-chunk filters over the payload of :class:`connectors._base.Record`."""

    @abstractmethod
    def _condition(self, key: str, value: Any = None, *, any_of: list | None = None,
                   at_least: int | None = None) -> Any:
        """The engine's condition on payload ``key``: equal to ``value``, one of ``any_of``, or ``>= at_least``."""

    @abstractmethod
    def _filter(self, must: list | None = None, should: list | None = None, must_not: list | None = None) -> Any:
        """The engine's filter of these conditions."""

    def metadata_filter(self, filter: dict[str, Any] | None, *, heads_only: bool = False) -> Any:
        """Points whose metadata matches ``filter`` (checked by ``_checks.check_filter``); with
        ``heads_only`` only chunk 0 (a point without a ``chunk`` field, from an older lens-vdb, counts as one)."""
        must = [self._condition(f"metadata.{key}", any_of=list(value)) if isinstance(value, (list, tuple, set,
                frozenset)) else self._condition(f"metadata.{key}", value) for key, value in (filter or {}).items()]
        must_not = [self._condition("chunk", at_least=1)] if heads_only else []
        return self._filter(must, None, must_not) if must or must_not else None

    def chunks_filter(self, chunks: Mapping[str, int]) -> Any:
        """For each ``parent -> n``, the document's points with ``chunk >= n`` (all of them for 0)."""
        every = [key for key, n in chunks.items() if n <= 0]
        should = [self._filter([self._condition("parent", any_of=every)])] if every else []
        should += [self._filter([self._condition("parent", key), self._condition("chunk", at_least=n)])
                   for key, n in chunks.items() if n > 0]
        return self._filter(None, should)

    def parents_filter(self, keys: Sequence[str]) -> Any:
        """Every point of the documents keyed ``keys``."""
        return self._filter([self._condition("parent", any_of=list(keys))])
