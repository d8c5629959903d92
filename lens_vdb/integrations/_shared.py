"""What both framework integrations share: building the encoder once and embedding with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lens_vdb._inference.encoder import LensEncoder
from lens_vdb._inference.features import validate_texts
from lens_vdb._inference.sparse import to_sparse

__all__ = ["make_encoder", "embed", "sparse_pairs"]


def make_encoder(model: LensEncoder | str | Path | None, **options: Any) -> LensEncoder:
    """Use a ready encoder as is, or build one (``None``: the offline default model) on ``backend="auto"``
    unless the options name another: the fastest backend measured on this machine."""
    if isinstance(model, LensEncoder):
        return model
    return LensEncoder(model, **{"backend": "auto", **options})


def embed(encoder: LensEncoder, texts: Any, *, query: bool, task: str | None, batch_size: int | None) -> np.ndarray:
    texts = validate_texts(texts, what="queries" if query else "texts")
    if query:
        return encoder.encode_queries(texts, task=task, batch_size=batch_size)
    return encoder.encode_documents(texts, task=task, batch_size=batch_size)


def sparse_pairs(vectors: np.ndarray, top_k: int) -> tuple[list[list[int]], list[list[float]]]:
    """Top-k pruned LENS vectors as (indices per text, values per text)."""
    sparse = to_sparse(vectors, top_k=top_k)
    return [s.indices.tolist() for s in sparse], [s.values.tolist() for s in sparse]
