"""Metrics of the harness: rankings, retrieval measures through ir-measures, bootstrap intervals,
classification and clustering.

Retrieval measures are computed by ir-measures (trec_eval through pytrec_eval, as BEIR does):
MRR@k (``RR@k``), nDCG@k with graded gains (trec_eval's linear gain: a grade-2 document counts
twice a grade-1 one), Recall@k and Recall@depth (grade >= 1 is relevant), and MAP over the
top ``depth`` documents a system returns (``AP@depth``). A ranking is handed to trec_eval as
descending integer scores, so ties are broken exactly as :func:`top_ranking` broke them
(document order), not by trec_eval's own rule (document id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .._deps import require
from .._errors import LensInputError

__all__ = ["Ranking", "Judgements", "top_ranking", "known_item", "query_metrics", "retrieval_metrics",
           "bootstrap_interval", "metric_names", "classification_accuracy", "clustering_v_measure"]


class Judgements(Protocol):
    """What measuring needs of a corpus: its query and document ids (in the order of the score
    rows and columns) and graded qrels ``{query id: {document id: grade}}``."""

    # read-only (properties), so a frozen dataclass or a Corpus with list and dict fields satisfies it

    @property
    def query_ids(self) -> Sequence[str]: ...

    @property
    def doc_ids(self) -> Sequence[str]: ...

    @property
    def qrels(self) -> Mapping[str, Mapping[str, int]]: ...


@dataclass(frozen=True)
class _KnownItem:
    query_ids: list[str]
    doc_ids: list[str]
    qrels: dict[str, dict[str, int]]


def known_item(n_queries: int, n_documents: int) -> Judgements:
    """Query ``i``'s one relevant document is document ``i``; documents past the queries are distractors."""
    if n_documents < n_queries:
        raise LensInputError(f"Known-item retrieval needs a document for each query: {n_queries} queries, "
                             f"{n_documents} documents. Pass the corpus (its qrels) for other judgements.")
    query_ids = [f"q{i}" for i in range(n_queries)]
    doc_ids = [f"d{i}" for i in range(n_documents)]
    return _KnownItem(query_ids, doc_ids, {q: {doc_ids[i]: 1} for i, q in enumerate(query_ids)})


@dataclass(frozen=True)
class Ranking:
    """Each query's documents, best first: ``indices`` ``[n_queries, depth]`` into the corpus'
    documents (``-1`` where a query got fewer), ``scores`` the system's scores for them."""

    indices: np.ndarray
    scores: np.ndarray

    def head(self, depth: int) -> Ranking:
        """The first ``depth`` documents of every query (a route's prefetch)."""
        return Ranking(self.indices[:, :depth], self.scores[:, :depth])


def top_ranking(scores: np.ndarray, depth: int, *, rows_per_chunk: int = 256) -> Ranking:
    """The ``depth`` best documents per query of a score matrix ``[n_queries, n_documents]``;
    ties go to the earlier document."""
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise LensInputError(f"Scores must be a matrix [queries, documents], got shape {scores.shape}.")
    depth = min(depth, scores.shape[1])
    indices = np.empty((scores.shape[0], depth), dtype=np.int64)
    for start in range(0, scores.shape[0], rows_per_chunk):
        block = scores[start : start + rows_per_chunk]
        indices[start : start + len(block)] = np.argsort(-block, axis=1, kind="stable")[:, :depth]
    return Ranking(indices, np.take_along_axis(scores, indices, axis=1))


def metric_names(k: int = 10, depth: int = 100) -> dict[str, str]:
    """The harness' metric names and the ir-measures measures behind them."""
    return {f"mrr@{k}": f"RR@{k}", f"ndcg@{k}": f"nDCG@{k}", f"recall@{k}": f"R@{k}",
            f"recall@{depth}": f"R@{depth}", f"map@{depth}": f"AP@{depth}"}


def query_metrics(scores: np.ndarray | Ranking, judgements: Judgements | None = None, *, k: int = 10,
                  depth: int = 100) -> dict[str, np.ndarray]:
    """Per-query measures (see :func:`metric_names`), each an array in ``judgements.query_ids`` order.

    ``scores`` is a matrix ``[n_queries, n_documents]`` (rows and columns in the order of the
    judgements' ids) or a :class:`Ranking`. Without ``judgements`` it is known-item retrieval:
    query ``i``'s relevant document is document ``i``.
    """
    ir_measures = require("ir_measures", "eval")
    if judgements is None:
        if isinstance(scores, Ranking):
            raise LensInputError("A Ranking is measured against judgements: pass the corpus it ranks.")
        judgements = known_item(*np.shape(scores))
    ranking = scores if isinstance(scores, Ranking) else top_ranking(scores, depth)
    _check_fit(scores, ranking, judgements)
    names = metric_names(k, depth)
    measures = {ir_measures.parse_measure(m): name for name, m in names.items()}
    out = {name: np.zeros(len(judgements.query_ids)) for name in names}
    position = {q: i for i, q in enumerate(judgements.query_ids)}
    qrels = {q: {d: int(g) for d, g in judgements.qrels[q].items()} for q in judgements.query_ids}
    for result in ir_measures.iter_calc(list(measures), qrels, _run(ranking, judgements, depth)):
        out[measures[result.measure]][position[result.query_id]] = result.value
    return out


def _check_fit(scores: np.ndarray | Ranking, ranking: Ranking, judgements: Judgements) -> None:
    n_queries, n_docs = len(judgements.query_ids), len(judgements.doc_ids)
    columns_fit = (int(ranking.indices.max(initial=-1)) < n_docs if isinstance(scores, Ranking)
                   else np.shape(scores)[1] == n_docs)
    if ranking.indices.shape[0] != n_queries or not columns_fit:
        shape = ranking.indices.shape if isinstance(scores, Ranking) else np.shape(scores)
        raise LensInputError(f"Scores of shape {shape} do not fit {n_queries} queries over {n_docs} documents "
                             "(rows: the queries, columns: the documents, in the corpus' order).")


def _run(ranking: Ranking, judgements: Judgements, depth: int) -> dict[str, dict[str, float]]:
    """trec_eval's run: rank r (from 0) scores ``depth - r``, so its order is the ranking's."""
    doc_ids = judgements.doc_ids
    return {q: {doc_ids[j]: float(depth - r) for r, j in enumerate(row[:depth]) if j >= 0}
            for q, row in zip(judgements.query_ids, ranking.indices.tolist())}


def retrieval_metrics(scores: np.ndarray | Ranking, judgements: Judgements | None = None, *, k: int = 10,
                      depth: int = 100) -> dict[str, float]:
    """The mean over queries of each measure of :func:`query_metrics`."""
    return {name: float(values.mean()) for name, values in query_metrics(scores, judgements, k=k,
                                                                         depth=depth).items()}


def bootstrap_interval(values: np.ndarray, *, resamples: int = 1000, confidence: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over queries (scipy.stats.bootstrap, queries resampled)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2 or resamples < 1 or np.all(values == values[0]):
        return float(values.mean()), float(values.mean())
    stats = require("scipy.stats", "eval")
    result = stats.bootstrap((values,), np.mean, n_resamples=resamples, confidence_level=confidence,
                             method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def classification_accuracy(embeddings: np.ndarray, labels: list[str], *, folds: int = 5, seed: int = 0
                            ) -> float | None:
    """Mean accuracy of logistic regression over stratified ``folds``-fold cross-validation
    (fewer folds when a label has fewer examples; ``None`` when one has a single example)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = min(folds, *np.unique(labels, return_counts=True)[1])
    if folds < 2 or len(set(labels)) < 2:
        return None
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = LogisticRegression(max_iter=2000)
    return float(np.mean(cross_val_score(model, embeddings, labels, cv=splitter, scoring="accuracy")))


def clustering_v_measure(embeddings: np.ndarray, labels: list[str], *, seed: int = 0) -> float | None:
    """V-measure of k-means (k = number of labels) on the L2-normalised embeddings."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import v_measure_score

    if len(set(labels)) < 2:
        return None
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    unit = embeddings / np.where(norms > 0, norms, 1.0)
    predicted = KMeans(n_clusters=len(set(labels)), n_init=10, random_state=seed).fit_predict(unit)
    return float(v_measure_score(labels, predicted))
