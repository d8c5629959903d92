"""Documents -> chunks -> records (ids, vectors, payload, hashes): the one place a batch becomes points.

The ingest pipeline calls a :class:`RecordBuilder` once per batch; a distributed encoder (one
worker per device) calls the very same object, so every path writes the same points.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from lens_vdb import LensEncoder, LensInputError, to_sparse

from ._base import LENS, Document, Record, chunk_id
from ._chunking import Chunk, Chunker
from ._dense import DenseEmbedder, dense_name

__all__ = ["RecordBuilder", "record_builder", "text_hash", "check_vectors"]


def text_hash(text: str) -> str:
    """The hash of a document's text stored with each of its points: a changed text is re-encoded."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class RecordBuilder:
    """Turn documents into the records of their chunks, encoded by both routes, with ids and hashes.

    Args:
        encoder, dense: the LENS encoder and the dense embedder of the collection.
        task: the instruction task (a symmetric one embeds documents with it too).
        sparse_top: also give each record its top-N LENS dims as a sparse vector (0: none).
        chunker: splits long documents (``None``: one record per document, cut at the window).
    """

    def __init__(self, encoder: LensEncoder, dense: DenseEmbedder, *, task: str | None, sparse_top: int,
                 chunker: Chunker | None) -> None:
        self.encoder, self.dense, self.task = encoder, dense, task
        self.sparse_top, self.chunker = sparse_top, chunker
        made_by = {"lens": encoder.fingerprint, "dense": dense_name(dense), "task": task,
                   "chunking": chunker.config if chunker is not None else None}
        self.model_hash = hashlib.sha256(json.dumps(made_by, sort_keys=True).encode()).hexdigest()[:16]

    def chunks(self, document: Document) -> list[Chunk]:
        """How ``document`` is cut into points."""
        if self.chunker is None:
            return [Chunk(0, 0, len(document.text), document.text)]
        return self.chunker.split(document.text)

    def __call__(self, documents: Sequence[Document]) -> list[Record]:
        """The records of every chunk of ``documents``; a bad vector stops it naming the document."""
        pieces = [(document, chunk, n) for document in documents
                  for chunks in [self.chunks(document)] for n in [len(chunks)] for chunk in chunks]
        if not pieces:
            return []
        texts = [chunk.text for _, chunk, _ in pieces]
        lens = self.encoder.encode_documents(texts, self.task, batch_size=max(len(documents), 1))
        dense = self.dense.embed_documents(texts)
        check_vectors([(d, c.index) for d, c, _ in pieces], lens, dense, self.dense.dim)
        sparse: list[Any] = (to_sparse(lens, top_k=self.sparse_top) if self.sparse_top else [None] * len(pieces))
        hashes = {id(d): text_hash(d.text) for d in documents}
        return [
            Record(chunk_id(d.point_id, c.index), d, lens_row.tolist(), dense_row.tolist(),
                   s.indices.tolist() if s is not None else None, s.values.tolist() if s is not None else None,
                   chunk=c.index, chunks=n, span=(c.start, c.end), text=c.text, text_hash=hashes[id(d)],
                   model_hash=self.model_hash)
            for (d, c, n), lens_row, dense_row, s in zip(pieces, lens, dense, sparse)
        ]


def record_builder(encoder: LensEncoder, dense: DenseEmbedder, *, task: str | None, sparse_top: int,
                   chunking: bool = True, chunk_size: int | None = None,
                   chunk_overlap: int | None = None) -> RecordBuilder:
    """The record builder for these chunking options: the connector and every distributed encoder make
    theirs here, so that both cut and encode documents alike (and agree on the model hash)."""
    chunker = (Chunker(encoder, dense, task=task, size=chunk_size, overlap=chunk_overlap) if chunking else None)
    return RecordBuilder(encoder, dense, task=task, sparse_top=sparse_top, chunker=chunker)


def check_vectors(items: Sequence[tuple[Document, int]], lens: np.ndarray, dense: np.ndarray, dense_dim: int) -> None:
    """Refuse a wrong dense shape, or a NaN, infinite or all-zero vector, naming the document and chunk."""
    if dense.shape != (len(items), dense_dim):
        raise LensInputError(f"The dense embedder returned shape {dense.shape}; the collection needs "
                             f"({len(items)}, {dense_dim}).")
    for name, vectors in ((LENS, lens), ("dense", dense)):
        bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1) | ~vectors.any(axis=1))
        if bad.size:
            document, chunk = items[int(bad[0])]
            where = f" chunk {chunk}" if chunk else ""
            raise LensInputError(f"Document id={document.id!r}{where} ({document.text[:40]!r}) has a NaN, infinite "
                                 f"or all-zero {name} vector; nothing of its batch was written.")
