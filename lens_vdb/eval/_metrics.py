"""Metrics of the harness: known-item retrieval ranks, fusion, classification and clustering scores."""

from __future__ import annotations

import numpy as np

__all__ = ["gold_ranks", "retrieval_metrics", "rank_matrix", "rrf_scores", "classification_accuracy",
           "clustering_v_measure"]


def rank_matrix(scores: np.ndarray) -> np.ndarray:
    """1-based rank of every document for every query (ties broken by document order)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(scores.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, scores.shape[1] + 1)[None, :]
    return ranks


def gold_ranks(scores: np.ndarray) -> np.ndarray:
    """Rank of query ``i``'s own document ``i`` (known-item retrieval: the gold is the diagonal)."""
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"Known-item scores must be square [n, n], got {scores.shape}.")
    return np.diagonal(rank_matrix(scores)).copy()


def retrieval_metrics(scores: np.ndarray, k: int = 10) -> dict[str, float]:
    """MRR@k, nDCG@k and Recall@k with one relevant document per query."""
    ranks = gold_ranks(scores)
    hit = ranks <= k
    return {
        f"mrr@{k}": float(np.mean(np.where(hit, 1.0 / ranks, 0.0))),
        f"ndcg@{k}": float(np.mean(np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0))),
        f"recall@{k}": float(np.mean(hit)),
    }


def rrf_scores(*score_matrices: np.ndarray, k: int = 60) -> np.ndarray:
    """Reciprocal rank fusion: ``sum_s 1 / (k + rank_s(d))`` over the systems' full rankings."""
    return sum(1.0 / (k + rank_matrix(s)) for s in score_matrices)  # type: ignore[return-value]


def classification_accuracy(embeddings: np.ndarray, labels: list[str], *, folds: int = 5, seed: int = 0) -> float:
    """Mean accuracy of logistic regression over stratified ``folds``-fold cross-validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = LogisticRegression(max_iter=2000)
    return float(np.mean(cross_val_score(model, embeddings, labels, cv=splitter, scoring="accuracy")))


def clustering_v_measure(embeddings: np.ndarray, labels: list[str], *, seed: int = 0) -> float:
    """V-measure of k-means (k = number of labels) on the L2-normalised embeddings."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import v_measure_score

    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    unit = embeddings / np.where(norms > 0, norms, 1.0)
    predicted = KMeans(n_clusters=len(set(labels)), n_init=10, random_state=seed).fit_predict(unit)
    return float(v_measure_score(labels, predicted))
