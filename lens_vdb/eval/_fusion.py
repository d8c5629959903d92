"""Hybrid fusion as the connectors run it, so that the harness measures what users get.

A connector's hybrid search prefetches each route's best ``prefetch`` documents (by default
``max(5 * limit, 50)``), then fuses the candidates in the engine:

- ``rrf``: each route adds ``w / (w * k + rank)``, ranks from 1, ``k = 60`` (Qdrant's weighted
  RRF; at ``w = 1`` the usual ``1 / (k + rank)``, as Milvus' RRFRanker);
- ``dbsf``: each route's scores are normalised over its own candidates as Qdrant does
  (``(s - (mean - 3 std)) / (6 std)``, sample std; 0.5 for a lone candidate or equal scores),
  then summed;
- ``weighted``: ``w_lens * cos_lens + w_dense * cos_dense`` in float32, as the engines score
  (a float64 sum moves near-tied documents), a route that did not return a candidate adding 0
  (the connector's formula defaults).

Ties go to the earlier document. ``lens_vdb.connectors.ConnectorRetriever`` runs the real
engines on the same corpus; a test holds the two to the same rankings.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from .._errors import LensInputError
from .._vocabulary import DEFAULT_RRF_K, FUSIONS, Fusion, check_choice
from ._metrics import Ranking

__all__ = ["FUSIONS", "FUSION_LABELS", "fuse", "default_prefetch", "rrf_scores"]

FUSION_LABELS = {"rrf": "RRF", "dbsf": "DBSF", "weighted": "weighted"}
RRF_K = DEFAULT_RRF_K


def default_prefetch(limit: int) -> int:
    """The candidates per route a connector prefetches for a search of ``limit`` hits."""
    return max(5 * limit, 50)


def fuse(fusion: Fusion, routes: tuple[Ranking, Ranking], *, depth: int, prefetch: int,
         weights: tuple[float, float] = (1.0, 1.0), rrf_k: int = RRF_K) -> Ranking:
    """Fuse two routes' rankings (LENS, dense) into the ``depth`` best documents per query."""
    check_choice(fusion, FUSIONS, "fusion")
    if fusion == "dbsf" and tuple(weights) != (1.0, 1.0):
        raise LensInputError("DBSF takes no weights (Qdrant's FusionQuery has none); use 'rrf' or 'weighted'.")
    transform: Callable[[np.ndarray, float], np.ndarray] = {
        "rrf": lambda s, w: _rrf(len(s), w, rrf_k),
        "dbsf": lambda s, w: _dbsf(s),
        "weighted": lambda s, w: np.float32(w) * s.astype(np.float32),
    }[fusion]
    n_queries = routes[0].indices.shape[0]
    indices = np.full((n_queries, depth), -1, dtype=np.int64)
    scores = np.full((n_queries, depth), -np.inf)
    heads = [route.head(prefetch) for route in routes]
    for q in range(n_queries):
        ids, values = [], []
        for route, weight in zip(heads, weights):
            keep = route.indices[q] >= 0
            ids.append(route.indices[q][keep])
            values.append(transform(route.scores[q][keep], weight))
        found, where = np.unique(np.concatenate(ids), return_inverse=True)
        total = np.zeros(len(found), dtype=np.float32 if fusion == "weighted" else np.float64)
        np.add.at(total, where, np.concatenate(values))
        best = np.lexsort((found, -total))[:depth]
        indices[q, : len(best)], scores[q, : len(best)] = found[best], total[best]
    return Ranking(indices, scores)


def _rrf(count: int, weight: float, k: int) -> np.ndarray:
    if weight <= 0:
        return np.zeros(count)
    return 1.0 / (np.arange(1, count + 1) / weight + k)


def _dbsf(scores: np.ndarray) -> np.ndarray:
    scores = scores.astype(np.float64)
    if len(scores) < 2 or np.all(scores == scores[0]):
        return np.full(len(scores), 0.5)
    mean, std = scores.mean(), scores.std(ddof=1)
    low = mean - 3 * std
    return (scores - low) / (6 * std)


def rrf_scores(*score_matrices: np.ndarray, k: int = RRF_K) -> np.ndarray:
    """Deprecated (removed in 0.3): RRF over full score matrices. Use :func:`fuse`, which fuses
    the way the connectors do (prefetched candidates, three fusions)."""
    from ._metrics import top_ranking

    warnings.warn("rrf_scores is deprecated and will be removed in lens-vdb 0.3; use lens_vdb.eval.fuse",
                  DeprecationWarning, stacklevel=2)
    out = np.zeros(np.shape(score_matrices[0]))
    for scores in score_matrices:
        order = top_ranking(scores, np.shape(scores)[1]).indices
        np.put_along_axis(out, order, np.take_along_axis(out, order, axis=1) + 1.0 / (k + np.arange(1, order.shape[1] + 1)), axis=1)
    return out
