"""Reading a LENS vector: its heaviest lexicon dimensions and the tokens each cluster stands for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import LensInputError
from .._model.cluster_map import ClusterMap
from .sparse import SparseVector

__all__ = ["ClusterExplanation", "explain_vector"]


@dataclass(frozen=True)
class ClusterExplanation:
    """One lexicon dimension of a vector: its cluster id, weight, and representative tokens."""

    cluster: int
    weight: float
    tokens: tuple[str, ...]


def explain_vector(vector: np.ndarray | SparseVector, k: int, cluster_map: ClusterMap | None, tokenizer: Any,
                   top: int, tokens_per_cluster: int) -> list[ClusterExplanation]:
    """The ``top`` heaviest dimensions of ``vector`` (``k`` wide), with up to ``tokens_per_cluster`` tokens each."""
    dense = vector.to_dense(k) if isinstance(vector, SparseVector) else np.asarray(vector, np.float32)
    if dense.shape != (k,):
        raise LensInputError(f"explain() takes one vector of {k} dims, got shape {dense.shape}")
    clusters = [int(c) for c in np.argsort(-dense, kind="stable")[:top] if dense[c] > 0]
    out = []
    for cluster in clusters:
        tokens: tuple[str, ...] = ()
        if cluster_map is not None:
            ids = cluster_map.cluster_tokens(cluster)[:tokens_per_cluster]
            tokens = tuple(tokenizer.convert_tokens_to_string([t]).strip() or t for t in
                           tokenizer.convert_ids_to_tokens(ids))
        out.append(ClusterExplanation(cluster=cluster, weight=float(dense[cluster]), tokens=tokens))
    return out
