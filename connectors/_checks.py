"""Checks shared by every engine, so that the same bad input is the same LensInputError everywhere.

Collection names, metadata filters, fusion weights and ``rrf_k`` are checked here, before any
engine sees them; the engines translate only what passed.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

from lens_vdb import LensInputError
from lens_vdb._vocabulary import Fusion

__all__ = ["check_collection_name", "check_filter", "check_weights", "check_rrf_k", "check_positive"]

MAX_NAME = 255  # Milvus' limit, and a file name's on the usual file systems (qdrant-edge keeps a folder per name)
MAX_RRF_K = 16384  # Milvus' RRFRanker takes k in [1, 16384]
_NAMES = {
    "qdrant": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*"), "letters, digits, '_', '-' and '.', starting with a "
                                                           "letter or digit"),
    "milvus": (re.compile(r"[A-Za-z_][A-Za-z0-9_]*"), "letters, digits and '_', starting with a letter or '_'"),
}
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_collection_name(name: Any, engine: str) -> str:
    """A collection name is a name: no path (``..``, ``/``), not empty, not over 255 characters, and only
    the characters the engine takes (Qdrant: letters, digits, ``_-.``; Milvus: letters, digits, ``_``)."""
    pattern, rule = _NAMES[engine]
    if not isinstance(name, str) or not name:
        raise LensInputError(f"collection must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME:
        raise LensInputError(f"collection names have at most {MAX_NAME} characters; got {len(name)} ({name[:40]!r}...)")
    if not pattern.fullmatch(name):
        raise LensInputError(f"{engine.capitalize()} collection names are {rule}; got {name!r}"
                             + (" (a name, not a path)" if any(c in name for c in "/\\") or name.startswith(".")
                                else ""))
    return name


def check_filter(filter: Any) -> dict[str, Any] | None:
    """A metadata filter every engine matches the same way: ``{field: value}`` or ``{field: [values]}``.

    Fields are letters, digits and ``_``; values are strings, integers or booleans, a list holds
    strings or integers (all of one kind). Floats are refused: equality on them is not exact, and
    Qdrant matches only keywords, integers and booleans.
    """
    if filter is None:
        return None
    if not isinstance(filter, Mapping):
        raise LensInputError(f"filter must be a dict of metadata field -> value(s), got {type(filter).__name__}")
    if not filter:
        raise LensInputError("filter is an empty dict; pass None for no filter.")
    for key, value in filter.items():
        if not isinstance(key, str) or not _FIELD.fullmatch(key):
            raise LensInputError(f"Filter field names are letters, digits and '_'; got {key!r}.")
        if isinstance(value, (list, tuple, set, frozenset)):
            _check_values(key, list(value))
        elif not isinstance(value, (str, int)):  # bool is an int
            raise LensInputError(f"Filter value for {key!r} is a {type(value).__name__} ({value!r:.40}); filters "
                                 "match strings, integers or booleans, or a list of strings or integers.")
    return dict(filter)


def _check_values(key: str, values: list[Any]) -> None:
    if not values:
        raise LensInputError(f"Filter value for {key!r} is an empty list, which matches nothing; leave the field out.")
    kinds = {str if isinstance(v, str) else int if isinstance(v, int) and not isinstance(v, bool) else None
             for v in values}
    if None in kinds or len(kinds) > 1:
        raise LensInputError(f"Filter list for {key!r} must hold only strings or only integers, got {values!r:.80}.")


def check_weights(weights: Any, fusion: Fusion) -> tuple[float, float]:
    """Two finite, non-negative route weights ``(lens, dense)``, not both zero."""
    try:
        items = list(weights)
    except TypeError:
        items = []
    if not (len(items) == 2 and all(isinstance(w, numbers.Real) and not isinstance(w, bool) and math.isfinite(w)
                                    and float(w) >= 0 for w in items) and any(items)):
        raise LensInputError(f"weights must be two finite, non-negative numbers (lens, dense), not both 0; "
                             f"got {weights!r:.60}")
    pair = (float(items[0]), float(items[1]))
    if fusion == "dbsf" and pair != (1.0, 1.0):
        raise LensInputError("fusion='dbsf' takes no weights; use fusion='rrf' or 'weighted' to weight the routes.")
    return pair


def check_rrf_k(rrf_k: Any) -> int:
    """RRF's ``k``: an int in [1, 16384] (Milvus' range), so that every engine takes it."""
    if isinstance(rrf_k, bool) or not isinstance(rrf_k, int) or not 1 <= rrf_k <= MAX_RRF_K:
        raise LensInputError(f"rrf_k must be an int in [1, {MAX_RRF_K}], got {rrf_k!r}")
    return rrf_k


def check_positive(name: str, value: Any) -> int:
    """A positive int option (``limit``, ``group_size``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LensInputError(f"{name} must be a positive int, got {value!r}")
    return value
