"""Search written once for every engine: argument checks, query vectors, and hits with their route scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lens_vdb import LensEncoder, LensInputError, to_sparse
from lens_vdb._model.fusion import fusion_to_run
from lens_vdb._vocabulary import FUSIONS, Fusion

from ._base import LENS, LENS_SPARSE, CollectionSpec, Hit
from ._checks import check_filter, check_positive, check_rrf_k, check_weights
from ._dense import DenseEmbedder, dense_name
from ._store import QueryVectors, StoredHit

__all__ = ["SearchOptions", "SearchRequest", "prepare", "to_hit", "to_document_hit"]


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    """What a search asks besides its query: the keywords of ``LensConnector.search``, checked by :func:`prepare`
    (``task`` None: the connector's)."""

    limit: int = 10
    fusion: Fusion | None = None  # None: the model's fusion record, else RRF (see chosen_fusion)
    weights: tuple[float, float] | None = None
    rrf_k: int | None = None
    prefetch_limit: int | tuple[int, int] | None = None
    use_sparse: bool = False
    filter: dict[str, Any] | None = None
    explain: bool = False
    task: str | None = None
    group_by_document: bool = False
    group_size: int = 3


class SearchRequest:
    """A checked search: the query's vectors, the engine options, and how to shape the hits."""

    def __init__(self, vectors: QueryVectors, options: dict[str, Any], group_size: int | None, explain: bool,
                 query: str = "") -> None:
        self.vectors, self.options, self.group_size, self.explain = vectors, options, group_size, explain
        self.query = query  # its text, for the explanations' tokens


def chosen_fusion(encoder: LensEncoder, dense: DenseEmbedder, asked: SearchOptions) -> tuple[Fusion, Any, Any]:
    """The fusion a search runs, its weights and RRF constant: :func:`lens_vdb._model.fusion.fusion_to_run` over
    the encoder's fusion record (``LensEncoder.fusion``, written by ``lens-vdb calibrate``) and this dense model."""
    return fusion_to_run(getattr(encoder, "fusion", None), dense_name(dense), fusion=asked.fusion,
                         weights=asked.weights, rrf_k=asked.rrf_k)


def prepare(encoder: LensEncoder, dense: DenseEmbedder, spec: CollectionSpec, query: Any,
            asked: SearchOptions, *, lens: np.ndarray | None = None) -> SearchRequest:
    """Check every option ``asked`` (the same LensInputError on every engine), then encode the query (``lens``: its
    LENS vector, when the caller encoded it already, as ``asearch`` does on a remote encoder's AsyncClient)."""
    fusion, weights, rrf_k = chosen_fusion(encoder, dense, asked)
    limit, filter = asked.limit, asked.filter
    prefetch_limit, use_sparse, explain, task = asked.prefetch_limit, asked.use_sparse, asked.explain, asked.task
    group_by_document, group_size = asked.group_by_document, asked.group_size
    if not isinstance(query, str) or not query.strip():
        raise LensInputError(f"query must be a non-empty string, got {query!r:.60}")
    if fusion not in FUSIONS:
        raise LensInputError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
    if use_sparse and not spec.sparse_top:
        raise LensInputError("use_sparse=True needs a collection created with sparse_top > 0.")
    limit = check_positive("limit", limit)
    pair, rrf_k, where = check_weights(weights, fusion), check_rrf_k(rrf_k), check_filter(filter)
    size = check_positive("group_size", group_size) if group_by_document else None
    prefetch = _prefetch_limits(prefetch_limit, limit * (size or 1))
    lens = encoder.encode_queries([query], task=task)[0] if lens is None else lens
    dense_query = np.asarray(dense.embed_query(query), dtype=np.float32)
    if dense_query.shape != (spec.dense_dim,) or not np.isfinite(dense_query).all() or not dense_query.any():
        raise LensInputError(f"The dense embedder returned a NaN, infinite, all-zero or {dense_query.shape}-shaped "
                             f"vector for the query {query!r:.60}; the collection needs {spec.dense_dim} finite dims.")
    sparse = to_sparse(lens[None], top_k=spec.sparse_top)[0] if use_sparse else None
    vectors = QueryVectors(lens.tolist(), dense_query.tolist(),
                           sparse.indices.tolist() if sparse is not None else None,
                           sparse.values.tolist() if sparse is not None else None)
    options = {"limit": limit, "prefetch_limits": prefetch, "fusion": fusion, "weights": pair, "rrf_k": rrf_k,
               "lens_route": LENS_SPARSE if use_sparse else LENS, "filter": where}
    return SearchRequest(vectors, options, size, explain, query)


def _prefetch_limits(prefetch_limit: Any, limit: int) -> tuple[int, int]:
    """Candidates per route, (lens, dense); by default ``max(5 * limit, 50)`` (limit in chunks)."""
    if prefetch_limit is None:
        return (max(limit * 5, 50),) * 2
    limits = (prefetch_limit,) * 2 if isinstance(prefetch_limit, int) else tuple(prefetch_limit)
    if len(limits) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in limits):
        raise LensInputError(f"prefetch_limit must be a positive int or (lens, dense) ints, got {prefetch_limit!r}")
    return limits


def to_hit(stored: StoredHit, vectors: QueryVectors, *, encoder: LensEncoder, sparse_top: int, explain: bool,
           query: str = "") -> Hit:
    """A chunk hit with its route scores recomputed from the stored vectors."""
    lens, dense = np.asarray(vectors.lens, dtype=np.float32), vectors.dense
    doc_lens = np.asarray(stored.lens, dtype=np.float32) if stored.lens is not None else None
    scores = {}
    if doc_lens is not None:
        scores[LENS] = float(lens @ doc_lens)
        if vectors.sparse_indices is not None:  # what the sparse route ranked: top-N against top-N
            doc_top = to_sparse(doc_lens[None], top_k=sparse_top)[0].to_dense(doc_lens.size)
            scores[LENS_SPARSE] = float(doc_top[vectors.sparse_indices] @ np.asarray(vectors.sparse_values))
    if stored.dense is not None:
        scores["dense"] = float(np.dot(dense, stored.dense))
    explanation = None
    payload = stored.payload
    if explain and doc_lens is not None:  # the clusters that make this match, generic ones weighed down
        explanation = [(e.cluster, e.weight, e.tokens) for e in encoder.explain_match(
            lens, doc_lens, top=5, query_text=query, document_text=payload.get("text", ""))]
    span = payload.get("span")
    return Hit(stored.id, payload.get("doc_id"), payload.get("text", ""), stored.score, scores,
               payload.get("metadata") or {}, explanation, int(payload.get("chunk") or 0),
               tuple(span) if span else None)


def to_document_hit(chunks: Sequence[Hit], key: str) -> Hit:
    """A document hit: its best chunk's fields, the document's key as ``id``, and its best chunks."""
    best = chunks[0]
    return replace(best, id=key, chunks=tuple(chunks))
