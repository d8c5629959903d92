"""The evaluation harness: BM25, a dense model, LENS models and their hybrids side by side on a corpus."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .._errors import LensInputError
from .._vocabulary import Fusion
from ._corpus import Corpus
from ._fusion import FUSION_LABELS, FUSIONS, RRF_K, default_prefetch, fuse
from ._metrics import (
    Ranking,
    bootstrap_interval,
    classification_accuracy,
    clustering_v_measure,
    query_metrics,
    top_ranking,
)
from ._report import EvalReport, EvalRow
from ._systems import CachedEmbedder, Embedder, bm25_scores

__all__ = ["Retriever", "evaluate", "rank_by_similarity"]


class Retriever(Protocol):
    """A system that ranks a corpus itself, e.g. a vector store through a real connector
    (:class:`lens_vdb.connectors.ConnectorRetriever`): one :class:`Ranking` per row name, each the
    ``depth`` best documents per query, in ``corpus.query_ids`` order."""

    def rankings(self, corpus: Corpus, *, depth: int) -> dict[str, Ranking]: ...


def evaluate(
    corpus: Corpus,
    lens: Sequence[Embedder] = (),
    *,
    dense: Embedder | None = None,
    bm25: bool = True,
    fusions: Sequence[Fusion] = FUSIONS,
    weights: tuple[float, float] = (1.0, 1.0),
    rrf_k: int = RRF_K,
    depth: int = 100,
    prefetch: int | None = None,
    retrievers: Sequence[Retriever] = (),
    cache_dir: str | Path | None = None,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> EvalReport:
    """Evaluate BM25, the dense model, each LENS system, every LENS + dense hybrid, and ``retrievers``.

    Each system returns its ``depth`` best documents per query (a connector search's ``limit``);
    MRR@10, nDCG@10 and Recall@10 look at the first 10, Recall@depth and MAP at all of them.
    Hybrids fuse as a connector does (see :mod:`lens_vdb.eval._fusion`): each route's
    ``prefetch`` best candidates (default ``max(5 * depth, 50)``, the connector's), fused by each
    of ``fusions`` (``"rrf"``, ``"dbsf"``, ``"weighted"``; LENS first in ``weights``);
    BM25 + dense RRF is the classic hybrid baseline. Every mean comes with a bootstrap interval
    over queries (``bootstrap`` resamples, 0 for none). Classification and clustering use each
    embedder's document vectors where the corpus has labels. Vectors are cached under
    ``cache_dir`` when given, keyed on each embedder's fingerprint.
    """
    unknown = [f for f in fusions if f not in FUSIONS]
    if unknown or depth < 10:
        raise LensInputError(f"fusions must come from {FUSIONS} (got {list(fusions)}) and depth be at least 10 "
                             f"(got {depth}).")
    prefetch = prefetch or default_prefetch(depth)
    settings = {"depth": depth, "prefetch": prefetch, "fusions": list(fusions), "weights": list(weights),
                "rrf_k": rrf_k, "bootstrap": bootstrap, "confidence": confidence, "seed": seed}
    report = EvalReport(corpus.name, corpus.size, len(corpus.documents), list(corpus.query_ids), settings)
    measure = _Measure(corpus, report, depth, bootstrap, confidence, seed)
    routes: dict[str, Ranking] = {}
    route_depth = max(depth, prefetch)
    if bm25:
        routes["BM25"] = top_ranking(bm25_scores(corpus.queries, corpus.documents), route_depth)
        measure("BM25", routes["BM25"])
    if dense is not None:
        routes[dense.name] = _embed(measure, corpus, CachedEmbedder(dense, cache_dir), route_depth)
        if bm25:
            measure(f"BM25 + {dense.name} (RRF)", fuse("rrf", (routes["BM25"], routes[dense.name]), depth=depth,
                                                        prefetch=prefetch, rrf_k=rrf_k))
    for system in lens:
        lens_route = _embed(measure, corpus, CachedEmbedder(system, cache_dir), route_depth)
        if dense is None:
            continue
        for fusion in fusions:
            ranking = fuse(fusion, (lens_route, routes[dense.name]), depth=depth, prefetch=prefetch,
                           weights=weights if fusion != "dbsf" else (1.0, 1.0), rrf_k=rrf_k)
            measure(f"{system.name} + {dense.name} ({FUSION_LABELS[fusion]})", ranking)
    for retriever in retrievers:
        for name, ranking in retriever.rankings(corpus, depth=depth).items():
            measure(name, ranking)
    return report


class _Measure:
    """Adds a row to the report: the ranking's measures per query, their means and intervals."""

    def __init__(self, corpus: Corpus, report: EvalReport, depth: int, bootstrap: int, confidence: float,
                 seed: int) -> None:
        self.corpus, self.report, self.depth = corpus, report, depth
        self.bootstrap, self.confidence, self.seed = bootstrap, confidence, seed

    def __call__(self, name: str, ranking: Ranking, embeddings: np.ndarray | None = None,
                 docs_per_second: float | None = None) -> None:
        per_query = query_metrics(ranking.head(self.depth), self.corpus, depth=self.depth)
        intervals = {m: list(bootstrap_interval(v, resamples=self.bootstrap, confidence=self.confidence,
                                                seed=self.seed)) for m, v in per_query.items()}
        labels = self.corpus.labels
        accuracy = v_measure = None
        if embeddings is not None and labels is not None:
            accuracy = classification_accuracy(embeddings, labels)
            v_measure = clustering_v_measure(embeddings, labels)
        self.report.rows.append(EvalRow(
            name, {m: float(v.mean()) for m, v in per_query.items()}, intervals,
            {m: [round(float(x), 6) for x in v] for m, v in per_query.items()},
            classification_accuracy=accuracy,
            clustering_v_measure=v_measure,
            docs_per_second=docs_per_second,
        ))


def rank_by_similarity(queries: np.ndarray, documents: np.ndarray, depth: int, *, rows_per_chunk: int = 256
                       ) -> Ranking:
    """The ``depth`` documents of highest dot product per query, a block of queries at a time
    (the full ``[queries, documents]`` matrix is never held)."""
    parts = [top_ranking(queries[i : i + rows_per_chunk] @ documents.T, depth) for i in range(0, len(queries), rows_per_chunk)]
    return Ranking(np.vstack([p.indices for p in parts]), np.vstack([p.scores for p in parts]))


def _embed(measure: _Measure, corpus: Corpus, system: CachedEmbedder, depth: int) -> Ranking:
    documents = system.embed_documents(corpus.documents)
    doc_seconds, doc_count = system.seconds, system.texts_encoded
    queries = system.embed_queries(corpus.queries)
    for side, vectors, texts in (("documents", documents, corpus.documents), ("queries", queries, corpus.queries)):
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise LensInputError(f"{system.name!r} returned {side} vectors of shape {vectors.shape} for "
                                 f"{len(texts)} texts.")
    ranking = rank_by_similarity(queries, documents, depth)
    speed = doc_count / doc_seconds if doc_count and doc_seconds > 0 else None
    measure(system.name, ranking, documents, speed)
    return ranking
