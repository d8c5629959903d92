"""LensEncoder: texts in, LENS vectors out, with the official query/document procedure."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, overload

import numpy as np
import torch
from tqdm.auto import tqdm

from .._errors import LensUnavailableError
from .._instructions import Task, get_task
from .._model.fusion import read_fusion
from .._model.lens_model import LensModel
from .._model.specificity import read_specificity
from .._vocabulary import DEFAULT_BACKEND, BackendName, Precision, Provider
from .backends import TorchBackend, load_backend
from .encoder_async import AsyncEncoding
from .explain import ClusterExplanation, Explaining
from .features import (
    TokenizedBatch,
    pad_batch,
    positive_int,
    tokenize_documents,
    tokenize_queries,
    validate_texts,
)
from .remote_options import RemoteOptions
from .sparse import SparseVector, to_sparse

__all__ = ["LensEncoder", "ClusterExplanation"]


class LensEncoder(AsyncEncoding, Explaining):
    """Encode queries and documents with a LENS model (``aencode_queries``/``aencode_documents`` for asyncio).

    Args:
        model: a :class:`LensModel`, a model dir or hub id (lens-vdb or official LENS layout), or a
            name: ``None`` / ``"default"`` for the offline default model, ``"untrained"`` for its
            k-means starting point (both built on first use).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None`` picks CUDA when available.
        dtype: ``"fp32"`` (default), ``"bf16"`` or ``"fp16"`` (CUDA only), or a ``torch.dtype``; for
            ``backend="torch"`` only.
        batch_size: texts per forward pass; texts are sorted by length first so batches pad little.
        max_length: tokens per text, special tokens included; longer texts are cut (warned once).
        backend: ``"torch"`` (default, the exact model: see :mod:`lens_vdb._vocabulary` for why it is
            the default everywhere), ``"onnx"`` for a directory written by
            :func:`lens_vdb.export.export_onnx` (ONNX Runtime; no torch weights needed), or
            ``"auto"``: the fastest of torch fp32/bf16 and the ONNX fp32/int8 graphs (on a GPU: torch
            and the CUDA/TensorRT providers) as measured on this machine in seconds, once per model,
            CPU and library versions (cached beside the model); a graph is exported only when it is
            predicted to win. Every candidate must give torch fp32's vectors (cosine >= 0.99).
            See :mod:`lens_vdb._inference.auto` and the README's "Choosing the backend".
        provider: ONNX Runtime provider for ``backend="onnx"``: ``"cpu"`` (default), ``"cuda"``
            or ``"tensorrt"`` (fp16, engine cache, shape profiles; from ``lens-vdb[gpu]``).
        threads: CPU threads to encode with; ``None``: the physical cores this process may use
            (affinity and container quota respected). Torch's thread count is per process, so it
            applies to every torch model in it; ONNX Runtime's is per session (no spinning).
        url: run the graph on a KServe v2 server (Triton...): the model's URL, e.g.
            ``http://127.0.0.1:8000/v2/models/lens``; ``model`` is then the export (or the Triton
            model folder from :func:`lens_vdb.export.export_triton`) the server runs: texts are
            tokenized here exactly as for ``backend="onnx"``, so the vectors are the same
            (``backend`` becomes ``"remote"``; needs ``lens-vdb[remote]``).
        remote: timeouts, retries, pool size and credentials of the remote backend
            (:class:`~lens_vdb.RemoteOptions`); the token and headers are never shown.

    Attributes:
        model_name: the model as it was named (``"default"``, a hub id, a directory).
        backend: the runtime that encodes, ``"torch"`` or ``"onnx"`` (also after ``"auto"``).
        chosen_backend: a :class:`~lens_vdb.BackendChoice`: the candidate that runs
            (``"torch-fp32"``, ``"torch-bf16"``, ``"onnx-fp32"``, ``"onnx-int8"``...) and why, with the
            measured documents/s of each candidate when ``backend="auto"`` measured them.
        url, remote: the model URL and options of a remote encoder (``None`` on a local one).
        fingerprint: the model's identity, the same on every backend and dtype (see
            :mod:`lens_vdb._model.identity`); vector stores and caches key on it.
        fusion: how the model fuses best with a dense route (a :class:`~lens_vdb.FusionRecord` read from
            ``lens_fusion.json`` in its folder, written by ``lens-vdb calibrate``), or ``None``; a
            connector's hybrid search with no ``fusion=`` of its own follows it.
    """

    def __init__(
        self,
        model: LensModel | str | Path | None = None,
        *,
        device: str | None = None,
        dtype: Precision | torch.dtype | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        backend: BackendName = DEFAULT_BACKEND,
        provider: Provider | None = None,
        threads: int | None = None,
        url: str | None = None,
        remote: RemoteOptions | None = None,
    ) -> None:
        positive_int(batch_size, "batch_size")
        if max_length is not None:
            positive_int(max_length, "max_length", minimum=8)
        from .._model.default import resolve_model_name

        self.model_name = _name_of(model)
        source = resolve_model_name(model) if not isinstance(model, LensModel) else model
        loaded, self.chosen_backend = load_backend(backend, source, device=device, dtype=dtype, provider=provider,
                                                   max_length=max_length, threads=threads, url=url, remote=remote)
        # measured by `lens-vdb calibrate` and kept beside the model (None: not measured): how it fuses best
        # with a dense route, and how specific each cluster is (for explanations)
        folder = source if isinstance(source, (str, Path)) and Path(source).is_dir() else None
        self.fusion, self.specificity = read_fusion(folder), read_specificity(folder, loaded.config.k)
        self.fingerprint = loaded.fingerprint
        self._backend = loaded.backend
        self.tokenizer = loaded.tokenizer
        self.config = loaded.config
        self.cluster_map = loaded.cluster_map
        self.backend = self.chosen_backend.backend
        self.url: str | None = getattr(self._backend, "url", None)  # the server's model URL (remote backend)
        self.remote: RemoteOptions | None = getattr(self._backend, "options", None)
        self.batch_size = batch_size
        self.max_length = max_length if max_length is not None else self.config.max_length
        self._warned_truncation = False
        pad = self.tokenizer.pad_token_id
        self._pad_id = int(pad if pad is not None else self.tokenizer.eos_token_id)

    @property
    def model(self) -> LensModel:
        """The torch model (``backend="torch"`` only)."""
        if not isinstance(self._backend, TorchBackend):
            raise LensUnavailableError(f"backend={self.backend!r} runs an exported graph; there is no torch model; "
                                       "load the model folder with backend=\"torch\" to get one")
        return self._backend.model

    @property
    def export_dir(self) -> Path | None:
        """The ONNX export this encoder runs (chosen by ``backend="auto"`` or named), ``None`` on torch."""
        return getattr(self._backend, "directory", None)

    @property
    def k(self) -> int:
        """Dimensions of every LENS vector this encoder returns."""
        return self.config.k

    # ---- encoding ----------------------------------------------------------------------------

    @overload
    def encode_queries(
        self, texts: Sequence[str], task: str | Task | None = ..., *, instruction: str | None = ...,
        batch_size: int | None = ..., sparse: Literal[False] = ..., top_k: int | None = ...,
        threshold: float = ..., show_progress: bool = ...,
    ) -> np.ndarray: ...

    @overload
    def encode_queries(
        self, texts: Sequence[str], task: str | Task | None = ..., *, instruction: str | None = ...,
        batch_size: int | None = ..., sparse: Literal[True], top_k: int | None = ...,
        threshold: float = ..., show_progress: bool = ...,
    ) -> list[SparseVector]: ...

    def encode_queries(
        self,
        texts: Sequence[str],
        task: str | Task | None = None,
        *,
        instruction: str | None = None,
        batch_size: int | None = None,
        sparse: bool = False,
        top_k: int | None = None,
        threshold: float = 0.0,
        show_progress: bool = False,
    ) -> np.ndarray | list[SparseVector]:
        """Embed queries as ``<instruct>{instruction}\\n<query>{text}``, pooled over the query tokens only.

        ``task`` names an instruction in the registry; without one, the instruction the model was
        trained and saved with (``config.query_instruction``; the paper's retrieval instruction for
        the official and default models). ``instruction`` overrides both with free text;
        ``instruction=""`` gives ``<instruct>\n<query>{text}``, the official prompt left empty.
        Returns float32 ``[n, k]`` (L2-normalised), or sparse vectors with ``sparse=True``.
        """
        texts = validate_texts(texts, what="queries")
        chosen = instruction if instruction is not None else self._query_instruction(task)
        vectors = self._encode(texts, lambda t: tokenize_queries(self.tokenizer, t, chosen, self.max_length),
                               batch_size, show_progress)
        return self._finish(vectors, sparse, top_k, threshold)

    def _query_instruction(self, task: str | Task | None) -> str:
        if task is None and self.config.query_instruction:
            return self.config.query_instruction
        return get_task(task).instruction

    @overload
    def encode_documents(
        self, texts: Sequence[str], task: str | Task | None = ..., *, batch_size: int | None = ...,
        sparse: Literal[False] = ..., top_k: int | None = ..., threshold: float = ..., show_progress: bool = ...,
    ) -> np.ndarray: ...

    @overload
    def encode_documents(
        self, texts: Sequence[str], task: str | Task | None = ..., *, batch_size: int | None = ...,
        sparse: Literal[True], top_k: int | None = ..., threshold: float = ..., show_progress: bool = ...,
    ) -> list[SparseVector]: ...

    def encode_documents(
        self,
        texts: Sequence[str],
        task: str | Task | None = None,
        *,
        batch_size: int | None = None,
        sparse: bool = False,
        top_k: int | None = None,
        threshold: float = 0.0,
        show_progress: bool = False,
    ) -> np.ndarray | list[SparseVector]:
        """Embed documents (no instruction), pooled over every token.

        For a symmetric task (``"sts"``, ``"clustering"``, ``"classification"``...) documents are
        embedded exactly like queries, with the task's instruction, as LENS does for those tasks.
        Empty or whitespace-only texts (here and for queries) give the zero vector: nothing to
        pool, cosine 0 to anything; stores that refuse zero vectors must skip them.
        """
        resolved = get_task(task) if task is not None else None
        if resolved is not None and resolved.symmetric:
            return self.encode_queries(
                texts, resolved, batch_size=batch_size, sparse=sparse, top_k=top_k,  # type: ignore[call-overload]
                threshold=threshold, show_progress=show_progress,
            )
        texts = validate_texts(texts, what="documents")
        vectors = self._encode(texts, lambda t: tokenize_documents(self.tokenizer, t, self.max_length),
                               batch_size, show_progress)
        return self._finish(vectors, sparse, top_k, threshold)

    def _encode(
        self,
        texts: list[str],
        tokenize: Callable[[list[str]], TokenizedBatch],
        batch_size: int | None,
        show_progress: bool,
    ) -> np.ndarray:
        """Blank texts (nothing but whitespace) are the zero vector; the rest run through the model."""
        if batch_size is not None:
            positive_int(batch_size, "batch_size")
        out = np.zeros((len(texts), self.k), dtype=np.float32)
        filled = [i for i, text in enumerate(texts) if text.strip()]
        if filled:
            out[filled] = self._run(tokenize([texts[i] for i in filled]), batch_size, show_progress)
        return out

    def _run(self, batch: TokenizedBatch, batch_size: int | None, show_progress: bool) -> np.ndarray:
        out = np.zeros((len(batch.ids), self.k), dtype=np.float32)
        for rows, input_ids, attention_mask in tqdm(self._batches(batch, batch_size), desc="LENS encode",
                                                    disable=not show_progress, unit="batch"):
            out[rows] = self._backend.run(input_ids, attention_mask)
        return out

    def _batches(self, batch: TokenizedBatch, batch_size: int | None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(rows, input_ids, attention_mask)`` per forward pass: texts sorted by length, so batches pad little."""
        if any(batch.truncated) and not self._warned_truncation:
            self._warned_truncation = True
            warnings.warn(
                f"{sum(batch.truncated)} text(s) are longer than max_length={self.max_length} tokens and were cut "
                "(this warning is shown once per encoder).",
                UserWarning,
                stacklevel=6,
            )
        size = self.batch_size if batch_size is None else batch_size
        order = np.argsort([-len(ids) for ids in batch.ids], kind="stable")
        out = []
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            out.append((rows, *pad_batch([batch.ids[i] for i in rows], self._pad_id)))
        return out

    def close(self) -> None:
        """Close the remote backend's blocking connections (nothing to do for a local backend)."""
        close = getattr(self._backend, "close", None)
        if close is not None:
            close()

    async def aclose(self) -> None:
        """Close the remote backend's async connections on the running event loop (nothing to do for a local
        backend); a server stopping gracefully waits for open connections."""
        aclose = getattr(self._backend, "aclose", None)
        if aclose is not None:
            await aclose()

    @staticmethod
    def _finish(
        vectors: np.ndarray, sparse: bool, top_k: int | None, threshold: float
    ) -> np.ndarray | list[SparseVector]:
        return to_sparse(vectors, top_k=top_k, threshold=threshold) if sparse else vectors

    # ---- inspection --------------------------------------------------------------------------


def _name_of(model: LensModel | str | Path | None) -> str:
    """How a model was named: ``"default"`` for ``None``, the string given, or the backbone's source."""
    if model is None:
        return "default"
    if isinstance(model, LensModel):
        return model.config.base_model or "LensModel"
    return str(model)
