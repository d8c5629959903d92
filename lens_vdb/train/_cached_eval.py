"""Evaluating a model trained in the cheap mode without running its frozen layers again.

:class:`CachedLensSystem` is an embedder for :func:`lens_vdb.eval.evaluate` (the project's
harness) that reads the evaluation texts' lower-layer outputs from a :class:`HiddenCache` and
runs only the trained top stack: an evaluation point during training costs a few layers, not
the whole backbone. Its vectors are those of :class:`LensEncoder` on the same model (up to the
cache's dtype), tokenized the same way (queries with the task's instruction, documents plain).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .._errors import LensInputError
from .._inference.features import pad_batch, tokenize_documents, tokenize_queries
from .._instructions import get_task
from .._model.identity import model_fingerprint
from ._hidden_cache import HiddenCache, fill_caches
from ._split import TopStack

__all__ = ["CachedLensSystem"]


class CachedLensSystem:
    """The harness's LENS system for a model whose layers below ``top.start`` are cached.

    Missing texts are computed into ``cache`` on first use (so the first evaluation fills it and
    every later one, of any snapshot over the same frozen layers, only runs the top stack).
    ``dtype`` is the forward dtype of those fills (the cache's own by default).
    """

    def __init__(self, name: str, top: TopStack, cache: HiddenCache, *, max_length: int = 256,
                 query_max_length: int = 64, task: str = "retrieval", batch_tokens: int = 8192) -> None:
        if cache.layer != top.start:
            raise LensInputError(f"The cache holds layer {cache.layer}, the top stack starts at layer {top.start}.")
        self.name, self.top, self.cache, self.task = name, top, cache, get_task(task)
        self.max_length, self.query_max_length, self.batch_tokens = max_length, query_max_length, batch_tokens

    @property
    def fingerprint(self) -> str:
        """The model's identity and the lengths and task: what an embedding cache keys on."""
        return (f"{model_fingerprint(self.top.lens)}/cached-{self.cache.storage}/max_length={self.max_length}/"
                f"query_max_length={self.query_max_length}/task={self.task.name}")

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        ids = tokenize_queries(self.top.lens.tokenizer, list(texts), self.task.instruction, self.query_max_length).ids
        return self._embed(ids)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        tokenizer = self.top.lens.tokenizer
        if self.task.symmetric:
            return self._embed(tokenize_queries(tokenizer, list(texts), self.task.instruction, self.max_length).ids)
        return self._embed(tokenize_documents(tokenizer, list(texts), self.max_length).ids)

    @torch.no_grad()
    def _embed(self, sequences: list[list[int]]) -> np.ndarray:
        model = self.top.lens
        fill_caches(model, [self.cache], sequences, dtype=_STORAGE[self.cache.storage])
        order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))  # longest first
        out = np.zeros((len(sequences), model.k), dtype=np.float32)
        pad = model.tokenizer.eos_token_id
        device = model.head.weight.device
        position = 0
        was_training = self.top.training
        self.top.eval()
        while position < len(order):
            count = max(1, self.batch_tokens // max(1, len(sequences[order[position]])))
            rows = order[position : position + count]
            ids, mask = (torch.from_numpy(a) for a in pad_batch([sequences[i] for i in rows], pad))
            hidden = torch.zeros((*ids.shape, self.cache.hidden), dtype=torch.float32)
            for row, index in enumerate(rows):
                hidden[row, : len(sequences[index])] = self.cache.get(sequences[index]).float()
            vectors = self.top(hidden.to(device), ids.to(device), mask.to(device))
            out[rows] = vectors.float().cpu().numpy()
            position += len(rows)
        self.top.train(was_training)
        return out


_STORAGE = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
