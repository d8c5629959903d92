"""Sparse forms of LENS vectors, for sparse vector stores (Qdrant sparse vectors, Milvus SPARSE_FLOAT_VECTOR)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import LensInputError

__all__ = ["SparseVector", "to_sparse"]


@dataclass(frozen=True)
class SparseVector:
    """Non-zero dimensions of a LENS vector: ascending ``indices`` (int32) and their ``values`` (float32)."""

    indices: np.ndarray
    values: np.ndarray

    def to_dense(self, k: int) -> np.ndarray:
        dense = np.zeros(k, dtype=np.float32)
        dense[self.indices] = self.values
        return dense

    def to_dict(self) -> dict[int, float]:
        return dict(zip(self.indices.tolist(), self.values.tolist()))


def to_sparse(embeddings: np.ndarray, *, top_k: int | None = None, threshold: float = 0.0) -> list[SparseVector]:
    """Keep, per row, the ``top_k`` largest dimensions (all if ``None``) whose value is above ``threshold``.

    The kept values are not re-normalised: the dot product with a full query vector is the dense
    cosine restricted to the kept dimensions, which is what sparse stores compute.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2:
        raise LensInputError(f"embeddings must be 2-D [n, k], got shape {embeddings.shape}")
    if top_k is not None and top_k < 1:
        raise LensInputError(f"top_k must be positive or None, got {top_k}")
    out = []
    for row in embeddings:
        keep = np.flatnonzero(row > threshold)
        if top_k is not None and keep.size > top_k:
            keep = keep[np.argpartition(-row[keep], top_k - 1)[:top_k]]
        keep = np.sort(keep).astype(np.int32)
        out.append(SparseVector(indices=keep, values=row[keep].astype(np.float32)))
    return out
